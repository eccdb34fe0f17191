"""`amqp-explorer trace`: the lifecycle walked without pausing, printed as it happens.

Owns rendering engine events as annotated text or as JSON lines (the records of
explorer.recording.eventlog, a frame's with its fields), and the trace run
itself: exit status 0 when the lifecycle completed and closed cleanly, 1 when a
phase failed (the failure printed last). The engine (and aiormq), the failure
lab and the replay engine are imported only by the runs that use them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from explorer.engine.events import (
    EngineEvent,
    FrameObserved,
    LifecycleEnded,
    PhaseFailed,
    PhaseReport,
    PhaseStarted,
    Waiting,
)
from explorer.protocol.fields import JSON, values_of
from explorer.recording.eventlog import to_record

if TYPE_CHECKING:
    from explorer.protocol.dialect import Dialect
    from explorer.protocol.lifecycle import Phase
    from explorer.recording.capture import Capture


async def trace(
    url: str,
    *,
    as_json: bool = False,
    reveal_secrets: bool = False,
    until: Phase | None = None,
    wait: float = 5.0,
    experiment: str | None = None,
    dialect: Dialect | None = None,
    out: TextIO = sys.stdout,
) -> int:
    """Walk the lifecycle against `url`, printing each event; return the exit status.

    It speaks `dialect` (AMQP 0-9-1 unless given). With `experiment`, run that
    experiment instead: the status is then 0 when the broker did what the
    experiment expects, 1 when it did not.
    """
    printer = Printer(JsonPrinter(out) if as_json else TextPrinter(out))
    if experiment:  # the lab only for an experiment, aiormq only live
        from explorer.lab.registry import lab_engine

        engine = lab_engine(
            url,
            experiment,
            printer,
            reveal_secrets=reveal_secrets,
            live_handshake=False,
            wait=wait,
        )
    else:
        from explorer.engine.core import Engine
        from explorer.protocol.dialect import AMQP_0_9_1

        engine = Engine(
            url,
            printer,
            reveal_secrets=reveal_secrets,
            live_handshake=False,
            wait=wait,
            dialect=dialect or AMQP_0_9_1,
        )
    try:
        await engine.run(until)
    finally:
        await engine.aclose()
    status = printer.close()
    return status if experiment is None else int(engine.outcome is not True)


async def replay_trace(
    capture: Capture, *, as_json: bool = False, out: TextIO = sys.stdout
) -> int:
    """Print a recording as `trace` printed it live; return the exit status."""
    from explorer.recording.replay import ReplayEngine

    printer = Printer(JsonPrinter(out) if as_json else TextPrinter(out))
    engine = ReplayEngine(capture, printer)  # a broken capture says so first
    if not as_json:
        broker = capture.broker or "an unknown broker"
        print(f"recording of {capture.url} ({broker}, {capture.recorded})", file=out)
    await engine.run()
    return printer.close()


class Printer:
    """Prints events as they come, and failures last: what a learner reads last."""

    def __init__(self, render: Callable[[EngineEvent], None]) -> None:
        """Print with `render`."""
        self.render = render
        self.failures: list[PhaseFailed] = []

    def __call__(self, event: EngineEvent) -> None:
        """Print an event, or keep a failure for the end."""
        if isinstance(event, PhaseFailed):
            self.failures.append(event)
        else:
            self.render(event)

    def close(self) -> int:
        """Print the failures; return the exit status (1 if anything failed)."""
        for failure in self.failures:
            self.render(failure)
        return 1 if self.failures else 0


class JsonPrinter:
    """One JSON object per line: phase reports, frames, waits and failures.

    Each is the record explorer.recording.eventlog keeps in a capture, so a
    trace and a recording use one set of keys; a frame's adds what the wire
    showed (channel, name, size, fields and the notes on its values). Its "t" is
    the frame's own time, or for the other events the time of the latest event
    that has one.
    """

    def __init__(self, out: TextIO, first: dict[str, JSON] | None = None) -> None:
        """Print to `out`, each record starting with the keys of `first`."""
        self.out = out
        self.first = first or {}
        self.t = 0.0

    def __call__(self, event: EngineEvent) -> None:
        """Print one event (phase starts and the end are not printed)."""
        if isinstance(event, FrameObserved):
            self.t = event.frame.t
        elif isinstance(event, PhaseStarted | Waiting):
            self.t = event.t
        if isinstance(event, PhaseStarted | LifecycleEnded):
            return
        record = {**self.first, **to_record(event, self.t)}
        if isinstance(event, FrameObserved):
            frame = event.frame
            values = values_of(frame)
            record.update(
                channel=frame.channel,
                name=frame.name,
                size=frame.size,
                fields=values.fields,
            )
            if values.notes:
                record["notes"] = [note.to_json() for note in values.notes]
        print(json.dumps(record), file=self.out, flush=True)


class TextPrinter:
    """Phase headings, frames with their fields, and what they mean."""

    def __init__(self, out: TextIO) -> None:
        """Print to `out`."""
        self.out = out

    def __call__(self, event: EngineEvent) -> None:
        """Print one event."""
        for line in self.lines(event):
            print(line, file=self.out)
        self.out.flush()

    def lines(self, event: EngineEvent) -> list[str]:
        """The text for one event."""
        if isinstance(event, PhaseStarted):
            step = f": {event.step}" if event.step else ""
            title = f" {event.phase.number}. {event.phase.value}{step} "
            return ["", f"──{title}{'─' * max(0, 60 - len(title))}"]
        if isinstance(event, FrameObserved):
            return self._frame(event)
        if isinstance(event, PhaseReport):
            return [f"   {note}" for note in event.notes] + self._facts(event.facts)
        if isinstance(event, Waiting):
            return [f"   … waiting up to {event.seconds:g} s for {event.what}"]
        if isinstance(event, PhaseFailed):
            lines = ["", f"✗ {event.phase.value}: {event.message}"]
            if event.reply_code is not None:
                lines.append(
                    f"  the broker said: {event.reply_code} {event.reply_text}"
                )
            if event.advice:
                lines.append(f"  what to do: {event.advice}")
            return lines
        assert isinstance(event, LifecycleEnded)
        return [
            "",
            "✓ the lifecycle completed and the connection closed cleanly"
            if event.clean
            else "the lifecycle ended",
        ]

    def _frame(self, event: FrameObserved) -> list[str]:
        frame = event.frame
        head = (
            f" {frame.direction.arrow} {frame.direction.sender:6} ch{frame.channel:<3} "
            f"{frame.name} ({frame.size} B, t={frame.t:.3f}s)"
        )
        values = values_of(frame)
        lines = [head]
        lines += [f"        {k}: {short(v)}" for k, v in values.fields.items()]
        lines += [
            f"          ↳ {'.'.join(map(str, note.path)) or 'frame'}: {note.text}"
            for note in values.notes
        ]
        if event.note:
            lines.append(f"        ({event.note})")
        if event.violation:
            lines.append(f"        ! {event.violation}")
        return lines

    def _facts(self, facts: dict[str, JSON]) -> list[str]:
        lines = []
        for key, value in facts.items():
            if (
                isinstance(value, list)
                and value
                and all(isinstance(v, str) for v in value)
            ):
                lines.append(f"   · {key}:")  # lines of text, e.g. the broker's log
                lines += [
                    f"       {line}" for v in value for line in str(v).splitlines()
                ]
            else:
                lines.append(f"   · {key}: {short(value)}")
        return lines


def short(value: JSON, limit: int = 160) -> str:
    """A value on one line: plain text as it is, anything else as JSON."""
    plain = isinstance(value, str) and value.isprintable()
    text = (
        value
        if plain and isinstance(value, str)
        else json.dumps(value, ensure_ascii=False)
    )
    return text if len(text) <= limit else text[: limit - 1] + "…"
