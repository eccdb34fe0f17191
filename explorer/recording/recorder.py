"""The recorder: one full lifecycle run by the engine, kept as a capture.

Owns `record_lifecycle`. The engine walks every phase at wire speed (for
AMQP 0-9-1: connect, channel 1, declare a server-named exclusive queue,
publish, consume by subscription, publish again and poll until GetEmpty,
close; for 1.0, the engine's 1.0 steps, with Proton); the capture keeps
every chunk the tap saw and every event the engine told, so a replay steps
exactly like the live run. Whatever fails, the capture keeps everything seen up
to then, with the password masked; given a journal, it is also written as it
happens (explorer.recording.journal), so a recorder killed mid-run leaves what it saw.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any, TextIO

from explorer.engine.core import Engine
from explorer.engine.events import EngineEvent, PhaseFailed
from explorer.lab.registry import lab_engine
from explorer.net.endpoint import redact
from explorer.protocol.dialect import AMQP_0_9_1, Dialect
from explorer.protocol.frames import Direction, Frame
from explorer.protocol.queries import broker_named
from explorer.recording.capture import Capture, redact_secrets
from explorer.recording.eventlog import to_record
from explorer.recording.journal import Journal


@dataclass(slots=True)
class Recording:
    """A capture, and the failures that stopped the lifecycle early, if any."""

    capture: Capture
    failures: list[PhaseFailed] = field(default_factory=list)
    #: For an experiment: whether the broker did what it expects.
    outcome: bool | None = None


async def record_lifecycle(
    url: str,
    wait: float = 5.0,
    experiment: str | None = None,
    journal: TextIO | None = None,
    dialect: Dialect = AMQP_0_9_1,
) -> Recording:
    """Run a full connection lifecycle against the broker at `url`.

    Args:
        url: The learner's AMQP URL.
        wait: Seconds to wait for the broker at each step.
        experiment: Run this experiment (explorer.lab) instead.
        journal: A file to write the capture to as it happens.
        dialect: The AMQP to speak (an experiment speaks its own).

    Returns:
        The capture (password masked) and the failures, if any.
    """
    recording = Recording(Capture(url=redact(url), recorded=_now()))
    log = recording.capture.log

    def keep(event: EngineEvent) -> None:
        log.append(to_record(event, engine.tap.now()))
        if written is not None:
            written.event(log[-1])
        if isinstance(event, PhaseFailed):
            recording.failures.append(event)

    engine = (
        lab_engine(url, experiment, keep, live_handshake=False, wait=wait)
        if experiment
        else Engine(url, keep, live_handshake=False, wait=wait, dialect=dialect)
    )
    # The client library is the engine's dialect's (an experiment's its own).
    library = "aiormq" if engine.dialect is AMQP_0_9_1 else "python-qpid-proton"
    recording.capture.client = f"{library} {version(library)}"
    written = (
        Journal(journal, recording.capture, engine.tap, engine.dialect)
        if journal
        else None
    )
    try:
        await engine.run()
    finally:
        await engine.aclose()
    recording.outcome = engine.outcome
    capture = recording.capture
    capture.client_address = engine.tap.client_address
    capture.broker_address = engine.tap.broker_address
    capture.events = list(engine.tap.events)
    capture.url = _handed(capture.log) or capture.url
    capture.broker = broker_named(
        f for d in Direction for f in capture.decode(d) if isinstance(f, Frame)
    )
    redact_secrets(capture)
    return recording


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _handed(log: list[dict[str, Any]]) -> str | None:
    """The URL the endpoint report says the client library was handed (its
    password masked): aiormq's spelling for 0-9-1, Proton's for 1.0."""
    for record in log:
        if (record.get("event"), record.get("phase")) == ("report", "endpoint"):
            url = record.get("facts", {}).get("url")
            return url if isinstance(url, str) else None
    return None
