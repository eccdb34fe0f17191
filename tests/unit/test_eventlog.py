"""The engine's events as capture lines: every event type survives the round trip."""

from __future__ import annotations

import json
from typing import get_args

import pytest

from explorer.engine.events import (
    EngineEvent,
    FrameObserved,
    LifecycleEnded,
    PhaseFailed,
    PhaseReport,
    PhaseStarted,
    Waiting,
)
from explorer.protocol.lifecycle import Phase
from explorer.recording.eventlog import FrameIndex, LogError, from_record, to_record
from tests.conftest import capture_frames, load_capture

FRAMES = capture_frames("happy-path")
INDEX: FrameIndex = {(frame.direction, frame.offset): frame for frame in FRAMES}
TUNE = next(frame for frame in FRAMES if frame.name == "Connection.Tune")

#: Each event type, with every field away from its default where it has one.
EVENTS: list[tuple[EngineEvent, float]] = [
    (PhaseStarted(Phase.OPERATIONS, 1.25, "publish"), 1.25),
    (PhaseStarted(Phase.TCP, 0.5), 0.5),
    (FrameObserved(TUNE, Phase.TUNE), TUNE.t),
    (FrameObserved(TUNE, Phase.OPEN, "a note", "not allowed here"), 2.0),
    (
        PhaseReport(
            Phase.TUNE,
            {"frame_max": {"broker_proposed": 131072}, "list": [1, "two", None]},
            ("first sentence", "second"),
        ),
        3.0,
    ),
    (PhaseReport(Phase.CLOSE), 3.5),
    (PhaseFailed(Phase.AUTH, "refused", 403, "ACCESS_REFUSED", "check it"), 4.0),
    (PhaseFailed(Phase.OPERATIONS, "channel closed", fatal=False), 4.5),
    (Waiting(Phase.HEARTBEAT, "the broker's heartbeat", 2.5, 5.0), 5.25),
    (LifecycleEnded(True), 6.0),
    (LifecycleEnded(False), 6.5),
]


def through_a_capture(event: EngineEvent, t: float) -> EngineEvent:
    """The event written as a capture line (JSON text) and read back."""
    line = json.dumps(to_record(event, t))
    return from_record(json.loads(line), INDEX)


def test_every_event_type_is_covered() -> None:
    assert {type(event) for event, _ in EVENTS} == set(get_args(EngineEvent))


@pytest.mark.parametrize(("event", "t"), EVENTS, ids=lambda v: type(v).__name__)
def test_an_event_survives_the_round_trip(event: EngineEvent, t: float) -> None:
    assert through_a_capture(event, t) == event


def test_a_recordings_log_reads_back_line_for_line() -> None:
    capture = load_capture("happy-path")
    assert capture.log
    for record in capture.log:
        assert to_record(from_record(record, INDEX), record["t"]) == record


def test_a_frame_the_chunks_lack_is_refused() -> None:
    record = to_record(FrameObserved(TUNE, Phase.TUNE), 1.0)
    with pytest.raises(LogError, match="no frame at b2c offset 999"):
        from_record({**record, "offset": 999}, INDEX)
