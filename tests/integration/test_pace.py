"""The learner's pace against the live broker's handshake_timeout.

A learner who reads for 12 s at every handshake step, past RabbitMQ's 10 s
handshake_timeout, finishes the lifecycle at their own pace (the default); in
race mode the same reading loses the connection, reported when it happens, at
its real time and phase, with no credit for an accident.
"""

from __future__ import annotations

import asyncio

from explorer.course.checks import CHECKS, judge
from explorer.engine.core import Engine
from explorer.engine.events import (
    EngineEvent,
    FrameObserved,
    LifecycleEnded,
    PhaseFailed,
    PhaseReport,
    PhaseStarted,
)
from explorer.protocol.lifecycle import HANDSHAKE, Phase
from tests.conftest import seen_of
from tests.integration.conftest import HANDSHAKE as HANDSHAKE_FRAMES

READING = 12.0


async def test_a_slow_reader_finishes_every_phase_at_their_own_pace(
    broker_url: str,
) -> None:
    events: list[EngineEvent] = []
    engine = Engine(broker_url, events.append)
    try:
        while not engine.finished:
            due = engine.next_phase
            if due in HANDSHAKE:
                await asyncio.sleep(READING)
            await engine.step()
    finally:
        await engine.aclose()
    assert not [e for e in events if isinstance(e, PhaseFailed)]
    started = [e.phase for e in events if isinstance(e, PhaseStarted)]
    assert set(started) == set(engine.plan), "every phase ran"
    assert events[-1] == LifecycleEnded(True)
    frames = [
        (e.frame.direction.sender, e.frame.name)
        for e in events
        if isinstance(e, FrameObserved) and e.frame.name != "Heartbeat"
    ]
    assert frames[: len(HANDSHAKE_FRAMES)] == HANDSHAKE_FRAMES
    tcp = next(e for e in events if isinstance(e, PhaseReport) and e.phase is Phase.TCP)
    assert tcp.facts["pace"] == "learner"
    assert engine.clock().pace == "learner"
    # Each handshake frame is told at its own step, carrying the time it really
    # crossed: all of them within the broker's clock, long before the steps.
    opened = next(e for e in events if isinstance(e, FrameObserved)
                  and e.frame.name == "Connection.OpenOk")  # fmt: skip
    assert engine.tcp_at is not None
    assert opened.frame.t - engine.tcp_at < 2.0
    assert opened.phase is Phase.OPEN
    assert not judge("handshake-timed-out", seen_of(events)).passed


async def test_in_race_mode_the_same_reading_loses_the_connection_when_it_happens(
    broker_url: str,
) -> None:
    events: list[EngineEvent] = []
    engine = Engine(broker_url, events.append, live_handshake=True)
    try:
        while engine.next_phase is not Phase.HEADER:
            await engine.step()
        assert engine.clock().pace == "race"
        assert engine.clock().handshake_left is not None
        await asyncio.sleep(READING)
        # Told before any further step: the moment the broker dropped it.
        failures = [e for e in events if isinstance(e, PhaseFailed)]
        assert len(failures) == 1
        failure = failures[0]
        assert failure.phase is Phase.HEADER, "the header was held, not sent"
        assert "handshake_timeout" in failure.message
        assert engine.tcp_at is not None
        dropped = engine.ended[next(iter(engine.ended))].t - engine.tcp_at
        assert 9.5 <= dropped <= 11.0
        assert f"{dropped:.1f} s after TCP accept" in failure.message
        assert engine.clock().state.startswith("closed")
        while not engine.finished:
            await engine.step()
    finally:
        await engine.aclose()
    started = [e.phase for e in events if isinstance(e, PhaseStarted)]
    assert Phase.HEADER not in started, "no step claims a header it never sent"
    assert not any(isinstance(e, FrameObserved) for e in events), "nothing was sent"
    assert events[-1] == LifecycleEnded(False)
    verdicts = {name: judge(name, seen_of(events)).passed for name in CHECKS}
    assert verdicts["handshake-timed-out"], "racing the clock on purpose counts"
    assert not [n for n, ok in verdicts.items() if ok and n != "handshake-timed-out"]
