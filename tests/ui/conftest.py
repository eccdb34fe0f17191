"""Frames for the widget tests: the committed captures, both directions merged."""

from __future__ import annotations

import pytest
from rich.style import Style
from textual.strip import Strip

from explorer.protocol import Direction, Frame, FrameDecoder
from tests.conftest import load_capture

HEARTBEAT = b"\x08\x00\x00\x00\x00\x00\x00\xce"


def capture_frames(name: str) -> list[Frame]:
    """Every frame of a committed capture, both directions, in time order."""
    capture = load_capture(name)
    decoded = [item for d in Direction for item in capture.decode(d)]
    return sorted((f for f in decoded if isinstance(f, Frame)), key=lambda f: f.t)


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


@pytest.fixture
def happy() -> list[Frame]:
    """The happy-path capture's 40 frames."""
    return capture_frames("happy-path")
