"""Shared by the widget tests: frames of the committed captures, and small apps.

The apps hold one widget each (a FieldTree, a HexView) as the explorer shows
it, for tests of that widget alone.
"""

from __future__ import annotations

import pytest
from rich.style import Style
from textual.app import App, ComposeResult
from textual.containers import Horizontal
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static

from explorer.engine.events import PhaseReport
from explorer.protocol import ByteField, Direction, Frame, FrameDecoder
from explorer.protocol.lifecycle import Phase
from explorer.recording.capture import load
from explorer.recording.eventlog import from_record
from explorer.recording.replay import bundled_recording
from explorer.ui.widgets import FieldTree, HexView
from tests.conftest import capture_frames

HEARTBEAT = b"\x08\x00\x00\x00\x00\x00\x00\xce"


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


@pytest.fixture
def happy() -> list[Frame]:
    """The happy-path capture's 40 frames."""
    return capture_frames("happy-path")
