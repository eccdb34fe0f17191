"""The engine's events as capture lines, and back.

Owns turning EngineEvents into the JSON records a capture keeps beside its
chunks, and those records back into events. A frame is stored as a reference
(direction and stream offset) to the chunks, so the wire bytes are kept once,
and a replay shows exactly the frames that were on the wire.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from explorer.engine.events import (
    EngineEvent,
    FrameObserved,
    LifecycleEnded,
    PhaseFailed,
    PhaseReport,
    PhaseStarted,
    Waiting,
)
from explorer.protocol.frames import Direction, Frame
from explorer.protocol.lifecycle import Phase

Record = dict[str, Any]
FrameIndex = Mapping[tuple[Direction, int], Frame]


class LogError(ValueError):
    """A log record that does not describe an engine event."""


def to_record(event: EngineEvent, t: float) -> Record:
    """The capture line for one engine event, told at time `t`."""
    record: Record = {"t": round(t, 6)}
    if isinstance(event, PhaseStarted):
        record.update(event="started", phase=event.phase.value, step=event.step)
    elif isinstance(event, FrameObserved):
        frame = event.frame
        record.update(
            event="frame",
            dir=frame.direction.value,
            offset=frame.offset,
            phase=event.phase.value,
            note=event.note,
            violation=event.violation,
        )
    elif isinstance(event, PhaseReport):
        record.update(
            event="report",
            phase=event.phase.value,
            facts=event.facts,
            notes=list(event.notes),
        )
    elif isinstance(event, PhaseFailed):
        record.update(
            event="failed",
            phase=event.phase.value,
            message=event.message,
            reply_code=event.reply_code,
            reply_text=event.reply_text,
            advice=event.advice,
            fatal=event.fatal,
        )
    elif isinstance(event, Waiting):
        record.update(
            event="waiting", phase=event.phase.value, what=event.what,
            seconds=event.seconds, since=event.t,
        )  # fmt: skip
    else:
        record.update(event="ended", clean=event.clean)
    return record


def from_record(record: Record, frames: FrameIndex) -> EngineEvent:
    """The engine event a capture line describes.

    Raises:
        LogError: the record is incomplete, or names a frame the chunks lack.
    """
    try:
        kind = record["event"]
        if kind == "ended":
            return LifecycleEnded(bool(record["clean"]))
        phase = Phase(record["phase"])
        if kind == "started":
            return PhaseStarted(phase, float(record["t"]), str(record.get("step", "")))
        if kind == "frame":
            key = (Direction(record["dir"]), int(record["offset"]))
            if key not in frames:
                raise LogError(f"no frame at {key[0].value} offset {key[1]}")
            return FrameObserved(
                frames[key], phase, str(record["note"]), str(record["violation"])
            )
        if kind == "report":
            facts, notes = record["facts"], record["notes"]
            if not isinstance(facts, dict) or not isinstance(notes, list):
                raise LogError("a report's facts are an object, its notes a list")
            return PhaseReport(phase, facts, tuple(str(note) for note in notes))
        if kind == "waiting":
            what, seconds = str(record["what"]), float(record["seconds"])
            return Waiting(phase, what, seconds, float(record["since"]))
        if kind == "failed":
            return PhaseFailed(
                phase,
                str(record["message"]),
                record["reply_code"],
                record["reply_text"],
                str(record["advice"]),
                bool(record["fatal"]),
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise LogError(f"not an engine event ({exc})") from exc
    raise LogError(f"unknown event kind {kind!r}")
