"""Replaying a capture: the recorded lifecycle, stepped like a live one.

Owns ReplayEngine, and where the recordings shipped with the package are. A
capture made by the recorder carries the engine's events beside its chunks:
each `step()` tells one recorded step's events, with the frames decoded again
from the recorded bytes. A bare capture (chunks only) is
stepped phase by phase as the lifecycle rules of its protocol (AMQP 0-9-1 or
1.0, read from the client's first bytes) place its frames.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path

from explorer.engine.events import (
    Clock,
    EngineEvent,
    FrameObserved,
    LifecycleEnded,
    Listener,
    PhaseFailed,
    PhaseStarted,
    walk,
)
from explorer.engine.inference import Inference
from explorer.protocol.dialect import AMQP_0_9_1, Dialect
from explorer.protocol.frames import DecodeFailure, Direction, Frame
from explorer.protocol.lifecycle import Phase
from explorer.recording.capture import Capture, CaptureError
from explorer.recording.eventlog import LogError, from_record


def bundled_recording() -> Path:
    """The full lifecycle recorded against a real RabbitMQ, shipped with the app."""
    return _bundled() / "lifecycle.jsonl"


def bundled_amqp10_recording() -> Path:
    """A full AMQP 1.0 lifecycle recorded against RabbitMQ 4.0, shipped with the app.

    For a learner whose broker does not speak 1.0; scripts/record_amqp10.py
    records it again.
    """
    return _bundled() / "amqp10-lifecycle.jsonl"


def recorded_experiment() -> Path:
    """A failure-lab experiment (no-permission) recorded against a real RabbitMQ."""
    return _bundled() / "experiment-no-permission.jsonl"


def _bundled() -> Path:
    return Path(str(files("explorer.recording"))) / "bundled"


class ReplayEngine:
    """Steps through a recording, telling its events as the live engine did."""

    recording = True
    watched = False
    dialect: Dialect = AMQP_0_9_1

    def __init__(self, capture: Capture, listener: Listener) -> None:
        """Prepare the recorded steps of `capture`.

        Raises:
            CaptureError: the capture's engine events do not match its chunks.
        """
        self.capture = capture
        self.listener = listener
        self.dialect = capture.dialect
        decoded = [item for d in Direction for item in capture.decode(d)]
        frames = {(f.direction, f.offset): f for f in decoded if isinstance(f, Frame)}
        failures = [f for f in decoded if isinstance(f, DecodeFailure)]
        failures += [gap.failure() for gap in capture.gaps]
        events = []
        for index, record in enumerate(capture.log):
            try:
                events.append(from_record(record, frames))
            except LogError as exc:
                where = capture.log_lines[index] if capture.log_lines else None
                line = f"line {where}: " if where else ""
                raise CaptureError(f"{line}the engine event is wrong: {exc}") from exc
        if not events:
            frames_in_order = sorted(frames.values(), key=_when)
            events = list(_bare_events(frames_in_order, failures, self.dialect))
        if capture.cut:
            events.append(_cut(capture, events))
        self._steps = _split(events)
        self.plan = _plan(self._steps)
        self.finished = not self._steps
        self._index = 0

    @property
    def next_phase(self) -> Phase | None:
        """The phase the next `step()` tells, or None when finished."""
        if self.finished:
            return None
        first = self._steps[self._index][0]
        return first.phase if isinstance(first, PhaseStarted) else None

    def handshake_time_left(self) -> float | None:
        """A recording has no broker waiting: no handshake budget."""
        return None

    def clock(self) -> Clock:
        """A recording runs no clock of the broker's."""
        return Clock("recording", None, "no broker clock runs")

    def unmasked(self, frame: Frame) -> Frame:
        """A recording never holds the password: the frame as recorded."""
        return frame

    async def step(self) -> bool:
        """Tell the next recorded step; False when nothing is left."""
        if self.finished:
            return False
        for event in self._steps[self._index]:
            self.listener(event)
        self._index += 1
        self.finished = self._index >= len(self._steps)
        return not self.finished

    async def run(self, until: Phase | None = None) -> bool:
        """Tell every step (or up to the end of `until`); True when clean."""
        await walk(self, until)
        return not any(isinstance(e, PhaseFailed) for step in self._steps for e in step)

    async def aclose(self) -> None:
        """Nothing is open."""


def _cut(capture: Capture, events: list[EngineEvent]) -> PhaseFailed:
    """The failure that ends a recording cut short: it says where it stopped."""
    times = [event.t for event in capture.events]
    times += [float(record["t"]) for record in capture.log]
    phases = [e.phase for e in events if isinstance(e, PhaseStarted | FrameObserved)]
    why = capture.cut_reason or (
        "the recorder was stopped (interrupted or killed) before the lifecycle "
        "ended, and what it saw up to then is all there is"
    )
    return PhaseFailed(
        phases[-1] if phases else Phase.ENDPOINT,
        f"the capture was cut {max(times, default=0.0):.1f} s into its recording: "
        + why,
        advice="record again and let it finish",
    )


def _when(frame: Frame) -> tuple[float, int]:
    return frame.t, frame.offset


def _split(events: list[EngineEvent]) -> list[list[EngineEvent]]:
    """Events grouped into steps: each starts with a PhaseStarted."""
    steps: list[list[EngineEvent]] = []
    for event in events:
        if isinstance(event, PhaseStarted) or not steps:
            steps.append([])
        steps[-1].append(event)
    return steps


def _plan(steps: list[list[EngineEvent]]) -> list[Phase]:
    plan: list[Phase] = []
    for step in steps:
        first = step[0]
        if isinstance(first, PhaseStarted) and first.phase not in plan:
            plan.append(first.phase)
    return plan


def _bare_events(
    frames: list[Frame], failures: list[DecodeFailure], dialect: Dialect
) -> Iterator[EngineEvent]:
    """Events for a capture without an engine log, as `dialect`'s rules place them."""
    inference = Inference(dialect=dialect)
    for frame in frames:
        yield from inference.frame(frame)
    for failure in failures:
        yield inference.unreadable(failure)
    yield LifecycleEnded(inference.clean)
