"""The explorer app, driven by Pilot: a recording and the live broker, step by step."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Markdown
from yarl import URL

from explorer.course.progress import Progress
from explorer.protocol import Frame
from explorer.protocol.lifecycle import Phase
from explorer.recording.replay import bundled_recording
from explorer.ui.app import ExplorerApp, live, replay
from explorer.ui.widgets.frame_list import FrameList
from explorer.ui.widgets.panels import AuthPanel, NegotiationPanel
from explorer.ui.widgets.phase_rail import PhaseRail
from tests.conftest import User
from tests.ui.conftest import running, select_frame, settle, step


def text_of(app: ExplorerApp, widget: type[NegotiationPanel | AuthPanel]) -> str:
    """What a panel shows, as plain text."""
    panel = app.query_one(widget)
    return "\n".join(
        strip.text for strip in panel.render_lines(panel.region.reset_offset)
    )


async def step_until(app: ExplorerApp, pilot: Pilot[int], phase: Phase) -> None:
    rail = app.query_one(PhaseRail)
    for _ in range(20):
        await step(app, pilot)
        if phase in rail.states:
            return
    raise AssertionError(f"never reached {phase}")


async def test_recording_steps_through_every_phase_and_says_it_is_a_recording() -> None:
    app = ExplorerApp(replay(bundled_recording()), source="bundled")
    async with running(app) as pilot:
        assert app.sub_title.startswith("RECORDING")
        rail = app.query_one(PhaseRail)
        await pilot.press("space")  # the endpoint step: its lesson is already shown
        await settle(app)
        assert list(rail.states) == [Phase.ENDPOINT]
        while not app.stepper.finished:
            await step(app, pilot)
        assert list(rail.states) == [p for p in Phase if p is not Phase.TLS]
        assert set(rail.states.values()) == {"done"}
        assert rail.plan == list(rail.states)
        frames = app.query_one(FrameList)
        names = [i.name for i in frames.items if isinstance(i, Frame)]
        assert names[0] == "ProtocolHeader"
        assert names[-1] == "Connection.CloseOk"
        assert "heartbeat" in text_of(app, NegotiationPanel)
        auth = text_of(app, AuthPanel)
        assert "password ***" in auth
        app.action_reveal()  # a recording has no password to reveal
        assert "password ***" in text_of(app, AuthPanel)


async def test_selecting_a_frame_fills_fields_bytes_and_lesson() -> None:
    app = ExplorerApp(replay(bundled_recording()), source="bundled")
    async with running(app) as pilot:
        await step_until(app, pilot, Phase.TUNE)
        await select_frame(app, pilot, "Connection.Tune")
        lesson = app.query_one("#lesson", Markdown)
        assert lesson.source.strip(), "the tune lesson is shown"


async def test_live_broker_every_phase_and_the_password_only_when_revealed(
    broker_url: str, temp_user: User
) -> None:
    # Race mode: the handshake held, the broker's clock counting down.
    app = ExplorerApp(live(temp_user.url(broker_url), race=True), source="live")
    async with running(app) as pilot:
        assert app.sub_title.startswith("live")
        await step_until(app, pilot, Phase.HEADER)
        budget = app.query_one(PhaseRail).budget
        assert budget is not None
        assert 0 < budget <= 10
        await step_until(app, pilot, Phase.TUNE)
        auth = text_of(app, AuthPanel)
        assert temp_user.name in auth
        assert temp_user.password not in auth
        assert "password ***" in auth
        app.action_reveal()  # the r key; see step() for why actions, not keys
        assert temp_user.password in text_of(app, AuthPanel)
        app.action_reveal()
        assert temp_user.password not in text_of(app, AuthPanel)
        svg = app.export_screenshot()
        assert temp_user.password not in svg
        await step_until(app, pilot, Phase.CLOSE)
        negotiation = text_of(app, NegotiationPanel)
        assert "frame_max" in negotiation
        names = [i.name for i in app.query_one(FrameList).items if isinstance(i, Frame)]
        assert names[-1] == "Connection.CloseOk"
        assert "Basic.Deliver" in names


async def test_no_broker_fails_at_tcp_and_offers_the_recording() -> None:
    app = ExplorerApp(live("amqp://guest:guest@127.0.0.1:1/"), source="nowhere")
    async with running(app) as pilot:
        for _ in range(3):
            await step(app, pilot)
        rail = app.query_one(PhaseRail)
        assert rail.states[Phase.TCP] == "failed"
        assert app.stepper.finished
        messages = [n.message for n in app.notifications]
        assert any("refused" in m for m in messages)
        assert any("bundled recording" in m for m in messages)
        await app.connections.open_recording(bundled_recording())
        await app.flush()
        assert app.sub_title.startswith("RECORDING")
        assert app.query_one(FrameList).row_count == 0


async def test_restart_closes_the_connection_and_starts_again(broker_url: str) -> None:
    app = ExplorerApp(live(broker_url), source="live")
    async with running(app) as pilot:
        await step_until(app, pilot, Phase.CHANNEL)
        first = app.stepper
        await app.action_restart()  # ctrl+r
        assert app.stepper is not first
        assert first.finished or getattr(first, "closing", False)
        assert app.query_one(FrameList).row_count == 0
        await step_until(app, pilot, Phase.HEADER)
        assert app.query_one(FrameList).row_count >= 1


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_help_lists_every_key(size: tuple[int, int]) -> None:
    app = ExplorerApp(replay(bundled_recording()), source="bundled")
    async with running(app, size) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        help_text = app.screen.query_one(Markdown).source
        for key in ("space", "left", "`r`", "ctrl+p", "`s`", "`q`"):
            assert key in help_text
        await pilot.press("escape")


async def test_screenshot_key_writes_an_svg(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = ExplorerApp(replay(bundled_recording()), source="bundled")
    async with running(app) as pilot:
        await pilot.press("s")
        await pilot.pause()
        saved = [n.message for n in app.notifications if n.message.startswith("Saved")]
    (message,) = saved
    assert message.endswith(".svg")
    assert Path(message.removeprefix("Saved ")).parent == tmp_path


async def test_try_it_passes_on_the_live_broker_and_is_remembered(
    broker_url: str,
) -> None:
    url = str(URL(broker_url).update_query(heartbeat=30))
    progress = Progress.load()
    app = ExplorerApp(live(url), source="live", progress=progress)
    async with running(app) as pilot:
        await step_until(app, pilot, Phase.OPEN)
        assert "heartbeat-changed" in progress.passed
        assert "30 s" in progress.passed["heartbeat-changed"]
        messages = [n.message for n in app.notifications]
        assert any("use a heartbeat of your own" in m for m in messages)
        await step_until(app, pilot, Phase.CLOSE)
    again = Progress.load()
    assert "heartbeat-changed" in again.passed
    assert "tune" in again.finished


async def test_a_recording_passes_no_check() -> None:
    progress = Progress.load()
    app = ExplorerApp(replay(bundled_recording()), source="bundled", progress=progress)
    async with running(app) as pilot:
        while not app.stepper.finished:
            await step(app, pilot)
    assert progress.passed == {}
    assert progress.finished == {}
