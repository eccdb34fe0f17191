"""Snapshots of the explorer at every phase of a recording, of an experiment,
and of the recorded AMQP 1.0 lifecycle.

Owns the pictures the screen must keep: one SVG per phase, one of the
experiment and two of 1.0 (the shots in explorer.ui.shots, shared with
scripts/export_screenshots.py) at 120x40 and at 80x24. Accept changes with
`pytest tests/ui/test_snapshots.py --snapshot-update` after looking at them.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from explorer.engine.events import PhaseReport
from explorer.protocol.dialect import AMQP_1_0
from explorer.protocol.frames import Frame
from explorer.ui.shots import (
    NARROW,
    WIDE,
    Shot,
    TerminalSize,
    all_shots,
    amqp10_shots,
    bundled_app,
    phase_shots,
    show_phase,
)
from explorer.ui.widgets.frame_list import FrameList

SHOTS = all_shots()
FIRST_ITEM_SHOTS = phase_shots()
#: The frame each AMQP 1.0 picture selects.
AMQP10_SELECTED = {"amqp10-auth": "sasl-init", "amqp10-open": "open"}
SnapCompare = Callable[..., bool]


@pytest.fixture(autouse=True)
def no_cursor_blink(monkeypatch: pytest.MonkeyPatch) -> None:
    """A text cursor, should one ever be on screen, stays still."""
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)
    monkeypatch.setattr(TextArea, "_toggle_cursor_blink_visible", lambda self: None)


@pytest.mark.parametrize("size", [WIDE, NARROW], ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("shot", SHOTS, ids=[shot.name for shot in SHOTS])
def test_phase(snap_compare: SnapCompare, shot: Shot, size: TerminalSize) -> None:
    """The screen once the phase has run, its first frame selected."""
    app = bundled_app(shot)

    async def run_before(pilot: Pilot[int]) -> None:
        await show_phase(pilot, shot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize(
    "shot", FIRST_ITEM_SHOTS, ids=[shot.name for shot in FIRST_ITEM_SHOTS]
)
async def test_each_picture_shows_its_phases_first_item(shot: Shot) -> None:
    """The frame list's cursor is on the phase's first frame (or its report)."""
    if shot.frame is None:
        pytest.skip(f"{shot.name}: the recording shows nothing in this phase")
    app = bundled_app(shot)
    async with app.run_test(size=WIDE) as pilot:
        await show_phase(pilot, shot)
        frames = app.query_one(FrameList)
        item = frames.items[shot.frame]
        if isinstance(item, PhaseReport):
            assert item.phase is shot.phase
        else:
            assert isinstance(item, Frame)
            assert app.selected is item
            assert app.pump.phase_of(item) is shot.phase


@pytest.mark.parametrize("shot", amqp10_shots(), ids=lambda shot: shot.name)
async def test_the_1_0_pictures_select_their_frame_of_the_1_0_recording(
    shot: Shot,
) -> None:
    """The recorded 1.0 lifecycle, at auth with sasl-init selected, and at
    open with the client's open selected."""
    app = bundled_app(shot)
    async with app.run_test(size=WIDE) as pilot:
        await show_phase(pilot, shot)
        assert app.stepper.dialect is AMQP_1_0
        assert app.selected is not None
        assert app.selected.name == AMQP10_SELECTED[shot.name]
        assert app.pump.phase_of(app.selected) is shot.phase
