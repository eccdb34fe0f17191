"""The explorer on `watch` and on a packet file: several connections, one explored.

Live tests run a real watch proxy against each broker, with pika clients in
threads (a client's blocking calls must never run on the app's loop, which
relays its bytes). The snapshot tests feed recorded pika connections
(tests/ui/captures, kept by the watch itself) to relays that never touch a
socket, at a fixed listening address, so every picture is the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from functools import partial
from pathlib import Path
from typing import Any

import pika  # type: ignore[import-untyped]
import pytest
from textual.pilot import Pilot
from textual.widgets import Markdown

from explorer.engine.watched import WatchedConnection
from explorer.net.proxy import Relay, Upstream
from explorer.protocol.fields import table_of
from explorer.protocol.frames import Frame
from explorer.protocol.lifecycle import Phase
from explorer.recording.capture import load
from explorer.ui.app import ExplorerApp, live
from explorer.ui.question import QuestionScreen
from explorer.ui.several import SeveralApp, ignored
from explorer.ui.watching import WatchApp, replay_app, watch_app
from explorer.ui.widgets.frame_list import FrameList
from explorer.ui.widgets.panels import AuthPanel
from explorer.ui.widgets.status_line import status_text
from tests.conftest import User
from tests.ui.conftest import SIZE, running, select_frame, settle, step

CAPTURES = Path(__file__).with_name("captures")
PIKA = "Pika Python Client Library"
SnapCompare = Callable[..., bool]


class Client(threading.Thread):
    """A pika application: connects, declares, publishes and gets, then holds
    its connection open until `finish` is set, and closes it cleanly."""

    def __init__(self, url: str, name: str) -> None:
        super().__init__(daemon=True)
        self.params = pika.URLParameters(url)
        self.params.client_properties = {"connection_name": name}
        self.finish = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            connection = pika.BlockingConnection(self.params)
            channel = connection.channel()
            queue = channel.queue_declare("", exclusive=True).method.queue
            channel.basic_publish("", queue, b"hello")
            channel.basic_get(queue, auto_ack=True)
            self.finish.wait(20)
            connection.close()
        except BaseException as exc:  # told to the test, not lost in the thread
            self.error = exc

    async def close(self) -> None:
        """Let the client close, and wait for it off the app's loop."""
        self.finish.set()
        await asyncio.to_thread(self.join, 10)
        assert self.error is None, self.error


async def until(condition: Callable[[], object], seconds: float = 10) -> None:
    """Wait until `condition()` is true: of the app, its proxy, a client thread."""
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 (no event tells all of these)
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def watching(
    broker_url: str, size: tuple[int, int] = SIZE
) -> AsyncIterator[tuple[WatchApp, Pilot[int]]]:
    """A watch app on any free port, listening, relaying to the broker."""
    app = watch_app(broker_url, "127.0.0.1", 0, None)
    assert isinstance(app, WatchApp)
    app.quizmaster.predict = False  # asked in its own test
    async with running(app, size) as pilot:
        await until(lambda: app.relaying.address)
        try:
            yield app, pilot
        finally:
            await app.relaying.aclose()


def client_url(app: WatchApp, broker_url: str, user: User | None = None) -> str:
    """The broker's URL with the watch's address in place of the broker's."""
    url = user.url(broker_url) if user else broker_url
    credentials = url.split("//", 1)[1].split("@", 1)[0]
    return f"amqp://{credentials}@{app.relaying.address}/"


def arrived(app: WatchApp, count: int) -> bool:
    """Whether `count` connections have come."""
    return len(app.listed) >= count


def frames_of(app: ExplorerApp) -> list[Frame]:
    return [i for i in app.query_one(FrameList).items if isinstance(i, Frame)]


def connection_names(app: ExplorerApp) -> list[str]:
    """The connection_name of every StartOk in the frame list."""
    return [
        str(table_of(f, "client_properties").get("connection_name"))
        for f in frames_of(app)
        if f.name == "Connection.StartOk"
    ]


def rows(app: SeveralApp) -> list[str]:
    return [str(option.prompt) for option in app.connection_list.options]


async def follow(app: WatchApp, phase: Phase) -> None:
    """g, until the connection shown has revealed `phase`."""
    app.action_run_all()
    await until(lambda: phase in app.rail.states)
    await app.flush()


async def test_listening_shows_where_and_that_nothing_came(broker_url: str) -> None:
    async with watching(broker_url) as (app, pilot):
        await settle(app)
        address = app.relaying.address
        status = app.status_line.status
        assert status is not None
        line = status_text(status, 120)
        assert f"the client's pace: listening on {address}" in line
        assert "nothing has connected yet" in line
        (placeholder,) = rows(app)
        assert f"Listening on {address}; relaying plain AMQP" in placeholder
        assert "Nothing has connected yet" in placeholder
        assert f"amqp://USER:PASSWORD@{address}/" in placeholder
        assert app.connection_list.border_title is not None
        assert "(plain)" in app.connection_list.border_title
        lesson = app.lessons.lesson
        assert lesson is not None
        assert lesson.slug == "lazy-connection"
        assert "CachingConnectionFactory" in app.query_one("#lesson", Markdown).source
        await pilot.press("space")
        assert any(n.title == "Nothing has connected yet" for n in app.notifications)


async def test_one_client_stepped_phase_by_phase(broker_url: str) -> None:
    async with watching(broker_url) as (app, pilot):
        client = Client(client_url(app, broker_url), "one")
        client.start()
        await until(lambda: app.explored == 0)
        connection = app.listed[0]
        assert isinstance(connection, WatchedConnection)
        await until(lambda: connection.state == "operations")
        await settle(app)
        assert frames_of(app) == [], "nothing shows before the learner steps"
        seen = []
        while app.stepper.next_phase is not None:
            await step(app, pilot)
            seen.append(app.rail.current)
        assert seen == [
            Phase.TCP, Phase.HEADER, Phase.START, Phase.AUTH, Phase.TUNE,
            Phase.OPEN, Phase.CHANNEL, Phase.OPERATIONS,
        ]  # fmt: skip
        assert app.pump.phase_of(frames_of(app)[0]) is Phase.HEADER
        clock = app.stepper.clock()
        assert clock.pace == "watched"
        assert clock.state.startswith("open (handshake")
        assert not app.stepper.finished, "the client holds its connection open"
        await client.close()
        await until(lambda: connection.relay.closed)
        await step(app, pilot)
        assert app.rail.states[Phase.CLOSE] == "done"
        assert app.stepper.finished
        names = [f.name for f in frames_of(app)]
        assert names[0] == "ProtocolHeader"
        assert names[-1] == "Connection.CloseOk"
        assert "Basic.GetOk" in names
        await until(lambda: "closed" in rows(app)[0])
        assert PIKA in rows(app)[0]
        lesson = app.query_one("#lesson", Markdown).source
        assert "not the explorer's" in lesson
        # The close lesson is filled again as the client's Close comes in after
        # the step that revealed the phase (its channel's Close came first).
        await until(lambda: "Connection.Close" in [f.name for f in frames_of(app)])
        await settle(app)
        lesson = app.query_one("#lesson", Markdown).source
        assert "No Connection.Close has crossed" not in lesson
        assert "carried\n200" in lesson or "carried 200" in lesson


async def test_two_clients_each_shows_only_its_own_frames(broker_url: str) -> None:
    async with watching(broker_url, (80, 24)) as (app, pilot):
        clients = [Client(client_url(app, broker_url), n) for n in ("one", "two")]
        for count, client in enumerate(clients, 1):
            client.start()
            await until(partial(arrived, app, count))
        await follow(app, Phase.OPERATIONS)
        assert connection_names(app) == ["one"]
        shown = len(frames_of(app))
        await pilot.press("right_square_bracket")
        await settle(app)
        assert app.explored == 1
        assert frames_of(app) == [], "connection 2 has shown no step yet"
        await follow(app, Phase.AUTH)
        assert connection_names(app) == ["two"]
        # Back to connection 1 with the mouse: its frames as they were.
        await pilot.click("#connections", offset=(8, 1))
        await settle(app)
        assert app.explored == 0
        assert connection_names(app) == ["one"]
        assert len(frames_of(app)) == shown
        for client in clients:
            await client.close()


async def test_a_new_arrival_does_not_move_the_selection(broker_url: str) -> None:
    async with watching(broker_url) as (app, pilot):
        first = Client(client_url(app, broker_url), "one")
        first.start()
        await until(lambda: app.explored == 0)
        while Phase.TUNE not in app.rail.states:  # space, space ...
            await step(app, pilot)
        frames = app.query_one(FrameList)
        before = (len(frames_of(app)), frames.cursor_row, app.lessons.lesson)
        second = Client(client_url(app, broker_url), "two")
        second.start()
        await until(lambda: len(app.listed) == 2)
        await until(lambda: any("arrived" in n.title for n in app.notifications))
        await settle(app)
        assert app.explored == 0
        assert connection_names(app) == ["one"]
        assert frames.cursor_row == before[1]
        assert app.lessons.lesson is before[2]
        one, two = rows(app)
        assert one.startswith("▶  1")
        assert two.startswith("•  2"), "a connection never explored is marked new"
        for client in (first, second):
            await client.close()


async def test_the_password_is_masked_until_revealed(
    broker_url: str, temp_user: User
) -> None:
    async with watching(broker_url) as (app, pilot):
        client = Client(client_url(app, broker_url, temp_user), "secret")
        client.start()
        await until(lambda: app.explored == 0)
        await follow(app, Phase.TUNE)
        auth = app.query_one(AuthPanel)
        text = str(auth.render())
        assert temp_user.name in text
        assert "password ***" in text.replace("\n  password ", "\npassword ")
        assert temp_user.password not in text
        await select_frame(app, pilot, "Connection.StartOk")
        await settle(app)
        assert temp_user.password not in app.export_screenshot()
        await pilot.press("r")
        await settle(app)
        assert temp_user.password in str(auth.render())
        assert temp_user.password in app.export_screenshot()
        await pilot.press("r")
        await settle(app)
        assert temp_user.password not in app.export_screenshot()
        await client.close()


async def test_the_predictions_about_the_broker_are_asked(broker_url: str) -> None:
    async with watching(broker_url) as (app, pilot):
        app.quizmaster.predict = True
        client = Client(client_url(app, broker_url), "one")
        client.start()
        await until(lambda: app.explored == 0)
        await until(lambda: app.stepper.next_phase is Phase.TCP)
        app.action_step()
        await until(lambda: isinstance(app.screen, QuestionScreen))
        screen = app.screen
        assert isinstance(screen, QuestionScreen)
        asked = {question.name for question in screen.questions}
        assert asked == {"start-mechanisms", "tune-frame-max", "tune-heartbeat"}
        await pilot.press("escape")
        await settle(app)
        assert app.rail.current is Phase.TCP
        await pilot.press("x")
        assert any("own connection" in n.message for n in app.notifications)
        await client.close()


# A packet file's connections, and the pictures: no broker needed. ---


def recorded_relay(path: Path, number: int) -> Relay:
    """A relay that has seen what a recorded connection sent, at fixed addresses."""
    relay = Relay(number, Upstream("127.0.0.1", 5672))
    relay.tap.client_address = f"127.0.0.1:4000{number}"
    relay.tap.broker_address = "127.0.0.1:5672"
    relay.upstream_address = f"127.0.0.1:5000{number}"
    for event in load(path).events:
        relay.tap.record(event)
    relay.connected.set()
    return relay


@pytest.fixture
def fixed_watch(monkeypatch: pytest.MonkeyPatch) -> WatchApp:
    """A watch app that says it listens on 127.0.0.1:5670, opening no socket."""
    app = watch_app("amqp://guest:guest@127.0.0.1:5672/", "127.0.0.1", 5670, None)
    assert isinstance(app, WatchApp)
    app.quiet = True  # no toasts, no predictions: nothing on a timer
    app.quizmaster.predict = False
    app.animation_level = "none"

    async def listen(host: str, port: int) -> None:
        app.relaying.proxy.address = f"{host}:{port}"

    monkeypatch.setattr(app.relaying, "start", listen)
    return app


async def test_a_packet_files_connections_are_listed_and_kept_apart() -> None:
    captures = [load(CAPTURES / f"pika-{n}.jsonl") for n in (1, 2)]
    app = replay_app(captures, "two.pcap")
    assert isinstance(app, SeveralApp)
    async with running(app) as pilot:
        assert app.explored == 0
        one, two = rows(app)
        assert PIKA in one
        assert "recorded" in two
        for _ in range(4):
            await step(app, pilot)
        names = [f.name for f in frames_of(app)]
        await pilot.press("right_square_bracket")
        await settle(app)
        assert app.query_one(FrameList).row_count == 0
        while not app.stepper.finished:
            await step(app, pilot)
        assert connection_names(app) == ["billing-service"]
        await pilot.press("left_square_bracket")
        await settle(app)
        assert [f.name for f in frames_of(app)] == names
        await pilot.press("c")
        assert any("client's" in n.message for n in app.notifications)


def test_replay_app_needs_a_connection() -> None:
    from explorer.recording.capture import CaptureError

    with pytest.raises(CaptureError, match="no AMQP 0-9-1 connection"):
        replay_app([], "empty.pcap")


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
def test_snapshot_listening(
    snap_compare: SnapCompare, fixed_watch: WatchApp, size: tuple[int, int]
) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await fixed_watch.ready.wait()
        await settle(fixed_watch)

    assert snap_compare(fixed_watch, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
def test_snapshot_two_connections(
    snap_compare: SnapCompare, fixed_watch: WatchApp, size: tuple[int, int]
) -> None:
    app = fixed_watch

    async def run_before(pilot: Pilot[Any]) -> None:
        await app.ready.wait()
        for number in (1, 2):
            relay = recorded_relay(CAPTURES / f"pika-{number}.jsonl", number)
            app.arrived(WatchedConnection(relay, ignored))
        await until(lambda: app.explored == 0)
        await until(lambda: all(c.state == "closed" for c in app.listed))
        for _ in range(5):  # tcp, header, start, auth, tune
            await step(app, pilot)
        await select_frame(app, pilot, "Connection.Tune")
        await settle(app)
        app.upkeep()
        await pilot.wait_for_scheduled_animations()
        await settle(app)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


# The broker's view beside the wire (the b key). ---


async def test_the_broker_view_of_a_watched_connection(broker_url: str) -> None:
    async with watching(broker_url) as (app, pilot):
        client = Client(client_url(app, broker_url), "viewed")
        client.start()
        await until(lambda: app.explored == 0)
        connection = app.listed[0]
        assert isinstance(connection, WatchedConnection)
        await until(lambda: connection.state == "operations")
        await pilot.press("b")
        pane = app.panes.broker
        assert pane is not None
        await until(lambda: "✓ state" in pane.plain, 20)
        assert "✓ state           running" in pane.plain
        tune_ok = next(f for f in connection.frames if f.name == "Connection.TuneOk")
        for field, value in (("timeout", "heartbeat"), ("frame_max", "frame_max")):
            carried = getattr(tune_ok.payload, value)
            assert f"✓ {field:<15} {carried}" in pane.plain
        assert "The broker's view · rabbitmqctl" in pane.plain
        relay = connection.relay
        assert f"of {relay.upstream_address}, the watch proxy's socket" in pane.plain
        assert f"wire: {relay.tap.client_address}" in pane.plain, "the peer differs"
        assert "only the proxy knows the application's address" in pane.plain
        assert not app.panes.lesson_pane.display, "in the lesson's place"
        await pilot.press("b")
        assert app.panes.lesson_pane.display
        await client.close()


async def test_the_broker_view_of_the_explorers_own_connection(
    broker_url: str,
) -> None:
    app = ExplorerApp(live(broker_url), source="live", predict=False)
    async with running(app) as pilot:
        while Phase.CHANNEL not in app.rail.states:
            await step(app, pilot)
        await pilot.press("b")
        pane = app.panes.broker
        assert pane is not None
        await until(lambda: "✓ state" in pane.plain, 20)
        assert "the explorer's own socket" in pane.plain
        assert "✓ state           running" in pane.plain
        assert "✓ peer" in pane.plain


async def test_the_broker_view_asks_nothing_of_a_recording(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from explorer.lab import broker

    async def never(*args: str) -> str:
        raise AssertionError("rabbitmqctl was run for a recording")

    monkeypatch.setattr(broker, "rabbitmqctl", never)
    app = replay_app([load(CAPTURES / "pika-1.jsonl")], "one.pcap")
    async with running(app) as pilot:
        for _ in range(3):
            await step(app, pilot)
        await pilot.press("b")
        pane = app.panes.broker
        assert pane is not None
        pane.upkeep()
        assert "A recording: the broker is not asked" in pane.plain
