"""The app at the learner's pace: the status line, resizing, race mode, quiet.

Recordings need no broker; the race-mode tests use the live one.
"""

from __future__ import annotations

import asyncio

from textual.widgets._toast import Toast

from explorer.engine.events import Clock, PhaseFailed, PhaseReport
from explorer.protocol import Frame
from explorer.protocol.lifecycle import Phase
from explorer.recording.capture import load
from explorer.recording.replay import bundled_recording
from explorer.ui.app import ExplorerApp, live, replay
from explorer.ui.preferences import Preferences
from explorer.ui.widgets.phase_rail import PhaseRail
from explorer.ui.widgets.status_line import Status, StatusLine, status_text
from tests.ui.conftest import running, settle, step

NARROW, WIDE = (80, 24), (120, 40)


def recording() -> ExplorerApp:
    return ExplorerApp(replay(bundled_recording()), source="bundled")


def status_of(app: ExplorerApp) -> str:
    line = app.query_one(StatusLine)
    return line.render().plain


def test_the_status_line_keeps_phase_pace_and_clock_and_drops_the_rest() -> None:
    status = Status(
        "▶ 7/13 auth",
        Clock("race", 3.2, "handshake_timeout 3.2 s left"),
        "waiting 2.0/13 s",
        "live: amqp://guest:***@a-long-host-name.example:5672/some-vhost",
        "RabbitMQ 4.0.5",
    )
    wide = status_text(status, 200)
    assert wide.endswith("some-vhost")
    assert "│ RabbitMQ 4.0.5 │" in wide
    assert "RabbitMQ 4.0.5" in status_text(status, 90)
    for width in (78, 70):
        line = status_text(status, width)
        assert len(line) <= width
        assert line.startswith("▶ 7/13 auth │ RACE mode: ")
        assert "handshake_timeout 3.2 s left" in line
        assert "some-vhost" not in line
    assert "waiting 2.0/13 s" in status_text(status, 78)
    tight = status_text(status, 30)
    assert len(tight) == 30
    assert tight.endswith("…")


async def test_resizing_lays_the_screen_out_again() -> None:
    app = recording()
    async with running(app, WIDE) as pilot:
        left, fields = app.query_one("#left"), app.query_one("#fields")
        assert left.display
        assert fields.display
        await pilot.resize_terminal(*NARROW)
        await pilot.pause()
        assert not left.display
        assert not fields.display
        assert app.panes.frame_list.region.right <= NARROW[0]
        assert app.panes.lesson.region.right <= NARROW[0]
        await pilot.resize_terminal(*WIDE)
        await pilot.pause()
        assert left.display, "the panes come back"
        assert fields.display


async def test_at_80x24_the_status_line_names_the_phase_and_the_clock() -> None:
    app = recording()
    async with running(app, NARROW) as pilot:
        for _ in range(6):
            await step(app, pilot)
        await pilot.pause()
        rail = app.query_one(PhaseRail)
        assert rail.current is not None
        text = status_of(app)
        assert text.startswith(f"▶ {rail.current.number}/13 {rail.current.value}")
        broker = load(bundled_recording()).broker  # "RabbitMQ 3.10.8"
        assert f"RECORDING: no broker clock runs │ {broker} │ bundled" in text
        assert app.query_one(StatusLine).region.width == NARROW[0]


async def test_phase_steps_to_that_phase_at_start() -> None:
    app = ExplorerApp(replay(bundled_recording()), source="bundled", phase=Phase.TUNE)
    async with running(app, WIDE):
        await settle(app)
        rail = app.query_one(PhaseRail)
        assert rail.current is Phase.TUNE
        assert Phase.OPEN not in rail.states
        selected = app.selected
        assert isinstance(selected, Frame)
        assert selected.name == "Connection.Tune"


async def test_identical_notifications_collapse_and_quiet_shows_none() -> None:
    app = recording()
    async with running(app, WIDE) as pilot:
        for _ in range(3):
            app.action_reveal()  # a recording answers: it was masked
        await pilot.pause()
        messages = [n.message for n in app.notifications]
        assert len(messages) == 1
    quiet = ExplorerApp(replay(bundled_recording()), source="bundled", quiet=True)
    async with running(quiet, WIDE) as pilot:
        quiet.action_reveal()
        await pilot.pause()
        assert not list(quiet.notifications)


async def test_the_theme_chosen_is_the_theme_next_time() -> None:
    app = recording()
    async with running(app, WIDE) as pilot:
        app.theme = "dracula"
        await pilot.pause()
    assert Preferences.load().theme == "dracula"
    again = recording()
    async with running(again, WIDE):
        assert again.theme == "dracula"


async def test_race_mode_reports_the_drop_when_it_happens(broker_url: str) -> None:
    app = ExplorerApp(live(broker_url, race=True), source="live", race=True)
    async with running(app, NARROW) as pilot:
        for _ in range(3):  # endpoint, resolve, tcp
            await step(app, pilot)
        assert "RACE mode: handshake_timeout" in status_of(app)
        await asyncio.sleep(11)  # reading, past the broker's clock; no key
        await app.flush()
        rail = app.query_one(PhaseRail)
        assert rail.states.get(Phase.HEADER) == "failed"
        assert rail.states.get(Phase.TCP) != "failed"
        failures = [e for e in app.pump.seen.failures if isinstance(e, PhaseFailed)]
        assert [f.phase for f in failures] == [Phase.HEADER]
        toast = next(n.message for n in app.notifications if "dropped" in n.message)
        assert "after TCP accept" in toast
        assert "Ways on: ctrl+r" in toast
        assert "No broker answered" not in " ".join(
            n.message for n in app.notifications
        )
        assert "closed" in status_of(app)


async def test_c_switches_between_the_pace_and_the_race(broker_url: str) -> None:
    app = ExplorerApp(live(broker_url), source="live")
    async with running(app, WIDE) as pilot:
        assert app.stepper.clock().pace == "learner"
        await app.action_race()
        await pilot.pause()
        assert app.stepper.clock().pace == "race"
        for _ in range(3):
            await step(app, pilot)
        assert app.stepper.clock().handshake_left is not None
        await app.action_race()
        await settle(app)
        assert app.stepper.clock().pace == "learner"


async def test_the_status_line_names_the_broker_once_start_came(
    broker_url: str, broker_major: int
) -> None:
    app = ExplorerApp(live(broker_url), source="live")
    async with running(app, WIDE) as pilot:
        assert "RabbitMQ" not in status_of(app)
        while app.stepper.next_phase is not Phase.AUTH:
            await step(app, pilot)
        await app.flush()
        assert f"│ RabbitMQ {broker_major}." in status_of(app)


def test_the_rail_marks_done_only_what_happened() -> None:
    rail = PhaseRail(list(Phase))
    rail.start(Phase.START)
    rail.saw(Phase.START)
    rail.start(Phase.AUTH)  # an experiment's step that sends nothing
    rail.start(Phase.CLOSE)
    rail.saw(Phase.CLOSE)
    rail.finish()
    assert rail.states == {
        Phase.START: "done",
        Phase.AUTH: "skipped",
        Phase.CLOSE: "done",
    }
    assert rail.position == "■ 13/13 close: ended"


async def test_frame_names_are_unambiguous_and_reports_have_rows() -> None:
    app = recording()
    async with running(app, NARROW) as pilot:
        for _ in range(8):
            await step(app, pilot)
        await pilot.pause()
        lines = [
            strip.text
            for strip in app.panes.frame_list.render_lines(
                app.panes.frame_list.region.reset_offset
            )
        ]
        names = [line.split()[3] for line in lines if line.split()[1:2] == ["→"]
                 or line.split()[1:2] == ["←"]]  # fmt: skip
        assert "Connection.Start" in names or "Conn.Start" in names
        assert "Connection.StartOk" in names or "Conn.StartOk" in names
        assert not [n for n in names if n.endswith("…")]
        reports = [i for i, item in enumerate(app.panes.frame_list.items)
                   if isinstance(item, PhaseReport)]  # fmt: skip
        assert [app.panes.frame_list.items[i].phase for i in reports] == [  # type: ignore[union-attr]
            Phase.ENDPOINT, Phase.RESOLVE, Phase.TCP,
        ]  # fmt: skip
        app.panes.frame_list.select(reports[2])
        await pilot.pause()
        assert app.panes.hex.report is not None
        assert app.panes.hex.report.phase is Phase.TCP


async def test_the_handshake_timeout_experiment_marks_no_auth_it_never_did(
    broker_url: str,
) -> None:
    app = ExplorerApp(live(broker_url), source="live", url=broker_url)
    async with running(app, WIDE):
        app.experiments.run("handshake-timeout")
        await settle(app)
        app.action_run_all()
        async with asyncio.timeout(45):  # the broker's clock: about 10 s
            await settle(app)
        rail = app.query_one(PhaseRail)
        assert rail.states[Phase.START] == "done"
        assert rail.states[Phase.AUTH] == "failed", "the drop, where StartOk was due"
        assert not [p for p in (Phase.TUNE, Phase.OPEN) if rail.states.get(p) == "done"]
        assert app.stepper.clock().pace == "race", "its clock is the lesson"


async def test_notifications_stay_off_the_frames_and_the_bytes() -> None:
    for size in (WIDE, NARROW):
        app = recording()
        async with app.run_test(size=size, notifications=True):
            await app.ready.wait()
            app.notify("a long notification " * 8, title="Predict, then see")
            for _ in range(20):  # the toast is mounted, then laid out
                await app.flush()
                toasts = list(app.screen.query(Toast))
                if toasts and all(t.region.width for t in toasts):
                    break
            assert toasts, size
            for toast in toasts:
                assert toast.region.x >= app.panes.frame_list.region.right, size
                assert toast.region.bottom <= app.panes.hex.region.y, size
            await settle(app)
