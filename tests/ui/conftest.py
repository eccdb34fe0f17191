"""Shared by the UI tests: frames of the committed captures, small apps, and
running the explorer.

The small apps hold one widget each (a FieldTree, a HexView) as the explorer
shows it, for tests of that widget alone. `running`, `settle` and `step` drive
the whole ExplorerApp.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from rich.style import Style
from textual.app import App, ComposeResult
from textual.containers import Horizontal
from textual.pilot import Pilot
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static
from textual.worker import WorkerCancelled

from explorer.engine.events import PhaseReport
from explorer.protocol import ByteField, Direction, Frame, FrameDecoder
from explorer.protocol.lifecycle import Phase
from explorer.recording.capture import load
from explorer.recording.eventlog import from_record
from explorer.recording.replay import bundled_recording
from explorer.ui.app import ExplorerApp
from explorer.ui.widgets import FieldTree, HexView
from explorer.ui.widgets.frame_list import FrameList
from tests.conftest import capture_frames

HEARTBEAT = b"\x08\x00\x00\x00\x00\x00\x00\xce"
#: The explorer's terminal, unless a test says otherwise.
SIZE = (120, 40)


def heartbeats(
    count: int, direction: Direction = Direction.BROKER_TO_CLIENT
) -> list[Frame]:
    """`count` heartbeat frames from one peer."""
    decoded = FrameDecoder(direction).feed(HEARTBEAT * count)
    return [frame for frame in decoded if isinstance(frame, Frame)]


def named(frames: list[Frame], name: str) -> Frame:
    """The first frame called `name`."""
    return next(frame for frame in frames if frame.name == name)


def style_at(strip: Strip, column: int) -> Style:
    """The style of the cell at `column` in a rendered line."""
    position = 0
    for segment in strip:
        position += segment.cell_length
        if column < position:
            return segment.style or Style.null()
    raise IndexError(column)


def recorded_reports() -> dict[Phase, PhaseReport]:
    """The first report of each phase in the bundled recording (no TLS there)."""
    reports: dict[Phase, PhaseReport] = {}
    for record in load(bundled_recording()).log:
        if record["event"] == "report":
            report = from_record(record, {})
            assert isinstance(report, PhaseReport)
            reports.setdefault(report.phase, report)
    return reports


class TreeApp(App[None]):
    """Just a FieldTree showing one frame, recording the fields reported."""

    def __init__(self, frame: Frame) -> None:
        super().__init__()
        self.frame = frame
        self.fields: list[ByteField] = []

    def compose(self) -> ComposeResult:
        yield FieldTree()

    def on_mount(self) -> None:
        self.query_one(FieldTree).show(self.frame)

    def on_field_tree_field_selected(self, message: FieldTree.FieldSelected) -> None:
        self.fields.append(message.field)


class HexApp(App[None]):
    """Just a HexView showing one frame, recording the bytes picked."""

    def __init__(self, frame: Frame) -> None:
        super().__init__()
        self.frame = frame
        self.clicked: list[int] = []

    def compose(self) -> ComposeResult:
        yield HexView()

    def on_mount(self) -> None:
        self.query_one(HexView).show(self.frame)

    def on_hex_view_byte_clicked(self, message: HexView.ByteClicked) -> None:
        self.clicked.append(message.offset)


class PaneApp(App[None]):
    """A pane (`widget`) at the bottom of the screen, as the explorer lays it out."""

    CSS = """
    #top { height: 1fr; }
    #bottom { height: auto; max-height: 50%; }
    """

    def __init__(self, widget: type[Widget]) -> None:
        super().__init__()
        self.widget = widget

    def compose(self) -> ComposeResult:
        yield Static("the lesson", id="top")
        with Horizontal(id="bottom"):
            yield self.widget()


async def settle(app: ExplorerApp) -> None:
    """Wait until no worker runs (a step, and the lesson updates it starts), then
    until every event the stepper sent is on screen (`ExplorerApp.flush`)."""
    while busy := [worker for worker in app.workers if not worker.is_finished]:
        with contextlib.suppress(WorkerCancelled):  # a newer one replaced it
            await busy[0].wait()
    await app.flush()


async def step(app: ExplorerApp, pilot: Pilot[int]) -> None:
    """One step, as the space key runs it, then wait for its work to finish.

    The action is called and the workers awaited, rather than the key pressed and
    `pilot.pause()` awaited: both of those wait for every widget to answer, and a
    lesson update replacing its Markdown blocks meanwhile leaves Pilot waiting
    for a widget that is gone. (The recording test presses the real key once.)
    """
    app.action_step()
    await settle(app)


async def select_frame(app: ExplorerApp, pilot: Pilot[int], name: str) -> Frame:
    """Move the frame list's cursor to the first row showing a frame called `name`."""
    frames = app.query_one(FrameList)
    row = next(
        r
        for r in range(frames.row_count)
        if getattr(frames.item_at(r), "name", "") == name
    )
    frames.select(row)
    await pilot.pause()
    assert app.selected is not None
    assert app.selected.name == name
    return app.selected


@contextlib.asynccontextmanager
async def running(
    app: ExplorerApp, size: tuple[int, int] = SIZE
) -> AsyncIterator[Pilot[int]]:
    """`app.run_test`, entered once the app is complete and left only once no
    lesson update is half done.

    The app paints its status line alone first and mounts its panes right
    after; `ready` says they are there (a crash before it fails the test
    rather than hanging it). Shutting down while a lesson update replaces its
    Markdown blocks cancels those blocks' tasks, and Textual's shutdown then
    fails the test.
    """
    async with app.run_test(size=size) as pilot:
        async with asyncio.timeout(10):
            await app.ready.wait()
        yield pilot
        await settle(app)


@pytest.fixture
def happy() -> list[Frame]:
    """The happy-path capture's 40 frames."""
    return capture_frames("happy-path")
