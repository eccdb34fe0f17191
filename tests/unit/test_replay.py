"""Replaying a bare capture: chunks only, its phases inferred from the frames.

The captures are built here, in memory, from frames encoded with pamqp, so
each test says exactly what crossed the wire and in which chunks.
"""

from __future__ import annotations

from pamqp import commands
from pamqp.frame import FrameTypes, marshal
from pamqp.header import ProtocolHeader
from pamqp.heartbeat import Heartbeat

from explorer.engine.events import (
    EngineEvent,
    FrameObserved,
    LifecycleEnded,
    PhaseFailed,
    PhaseStarted,
)
from explorer.protocol.frames import B2C, C2B, Direction
from explorer.protocol.lifecycle import Phase
from explorer.protocol.stream import Chunk, StreamEnd, WireEvent
from explorer.recording.capture import Capture
from explorer.recording.replay import ReplayEngine

TUNE = commands.Connection.Tune(channel_max=2047, frame_max=131072, heartbeat=60)
TUNE_OK = commands.Connection.TuneOk(channel_max=2047, frame_max=131072, heartbeat=60)
START_OK = commands.Connection.StartOk(response="\0guest\0guest")
DECLARE_OK = marshal(
    commands.Queue.DeclareOk(queue="q", message_count=0, consumer_count=0), 1
)
REFUSED = commands.Connection.Close(
    reply_code=403,
    reply_text="ACCESS_REFUSED - Login was refused using authentication "
    "mechanism PLAIN.",
    class_id=0,
    method_id=0,
)


def chunk(
    t: float, direction: Direction, *frames: FrameTypes, channel: int = 0
) -> Chunk:
    """One chunk at `t` holding `frames`, encoded with pamqp, on `channel`."""
    return Chunk(t, direction, b"".join(marshal(f, channel) for f in frames))


def bare(*events: WireEvent) -> Capture:
    """A capture of `events` alone: no engine log, as another tool records."""
    return Capture(
        url="amqp://guest:***@127.0.0.1:5672/%2F",
        recorded="2026-01-01T00:00:00+00:00",
        events=list(events),
    )


async def stepped(capture: Capture) -> list[tuple[Phase | None, list[EngineEvent]]]:
    """Each step of a replay: the phase it announced, and the events it told."""
    events: list[EngineEvent] = []
    engine = ReplayEngine(capture, events.append)
    steps: list[tuple[Phase | None, list[EngineEvent]]] = []
    while not engine.finished:
        phase = engine.next_phase
        events.clear()
        await engine.step()
        steps.append((phase, list(events)))
    return steps


def frames_of(events: list[EngineEvent]) -> list[tuple[Direction, str, Phase]]:
    """The frames a step told: who sent each, its name and its phase."""
    return [
        (e.frame.direction, e.frame.name, e.phase)
        for e in events
        if isinstance(e, FrameObserved)
    ]


HAPPY = bare(
    chunk(0.00, C2B, ProtocolHeader()),
    chunk(0.01, B2C, commands.Connection.Start()),
    chunk(0.02, C2B, START_OK),
    chunk(0.03, B2C, TUNE),
    # aiormq writes TuneOk and Open together: one chunk, two frames.
    chunk(0.04, C2B, TUNE_OK, commands.Connection.Open()),
    chunk(0.05, B2C, commands.Connection.OpenOk()),
    chunk(0.06, C2B, commands.Channel.Open(), channel=1),
    chunk(0.07, B2C, commands.Channel.OpenOk(), channel=1),
    chunk(0.08, C2B, commands.Queue.Declare(queue="q"), channel=1),
    # One frame cut across two chunks, as the socket may deliver it.
    Chunk(0.09, B2C, DECLARE_OK[:5]),
    Chunk(0.095, B2C, DECLARE_OK[5:]),
    chunk(0.10, B2C, Heartbeat()),
    chunk(0.11, C2B, commands.Channel.Close(200, "Normal shutdown", 0, 0), channel=1),
    chunk(0.12, B2C, commands.Channel.CloseOk(), channel=1),
    chunk(0.13, C2B, commands.Connection.Close(200, "Normal shutdown", 0, 0)),
    chunk(0.14, B2C, commands.Connection.CloseOk()),
)


async def test_bare_replay_steps_the_phases_in_lifecycle_order() -> None:
    steps = await stepped(HAPPY)
    assert [phase for phase, _ in steps] == [
        Phase.HEADER,
        Phase.START,
        Phase.AUTH,
        Phase.TUNE,
        Phase.OPEN,
        Phase.CHANNEL,
        Phase.OPERATIONS,
        Phase.CLOSE,
    ]
    for phase, events in steps:
        first = events[0]
        assert isinstance(first, PhaseStarted), "a step opens with its phase"
        assert first.phase is phase
    assert ReplayEngine(HAPPY, lambda _: None).plan == [phase for phase, _ in steps]


async def test_bare_replay_files_each_frame_under_its_phase() -> None:
    steps = dict(await stepped(HAPPY))
    assert {phase: frames_of(events) for phase, events in steps.items()} == {
        Phase.HEADER: [(C2B, "ProtocolHeader", Phase.HEADER)],
        Phase.START: [(B2C, "Connection.Start", Phase.START)],
        Phase.AUTH: [(C2B, "Connection.StartOk", Phase.AUTH)],
        Phase.TUNE: [
            (B2C, "Connection.Tune", Phase.TUNE),
            (C2B, "Connection.TuneOk", Phase.TUNE),
        ],
        Phase.OPEN: [
            (C2B, "Connection.Open", Phase.OPEN),
            (B2C, "Connection.OpenOk", Phase.OPEN),
        ],
        Phase.CHANNEL: [
            (C2B, "Channel.Open", Phase.CHANNEL),
            (B2C, "Channel.OpenOk", Phase.CHANNEL),
        ],
        Phase.OPERATIONS: [
            (C2B, "Queue.Declare", Phase.OPERATIONS),
            (B2C, "Queue.DeclareOk", Phase.OPERATIONS),
            (B2C, "Heartbeat", Phase.OPERATIONS),
        ],
        Phase.CLOSE: [
            (C2B, "Channel.Close", Phase.CLOSE),
            (B2C, "Channel.CloseOk", Phase.CLOSE),
            (C2B, "Connection.Close", Phase.CLOSE),
            (B2C, "Connection.CloseOk", Phase.CLOSE),
        ],
    }


async def test_bare_replay_of_a_clean_lifecycle_ends_clean_without_a_failure() -> None:
    steps = await stepped(HAPPY)
    told = [event for _, events in steps for event in events]
    assert not [e for e in told if isinstance(e, PhaseFailed)]
    assert not [
        e.violation for e in told if isinstance(e, FrameObserved) and e.violation
    ]
    assert told[-1] == LifecycleEnded(True)  # Close and Close-Ok, nothing failed
    assert await ReplayEngine(HAPPY, lambda _: None).run()


WRONG_PASSWORD = bare(
    chunk(0.00, C2B, ProtocolHeader()),
    chunk(0.01, B2C, commands.Connection.Start()),
    chunk(0.02, C2B, START_OK),
    chunk(0.03, B2C, REFUSED),
    chunk(0.04, C2B, commands.Connection.CloseOk()),
    StreamEnd(0.05, B2C, "closed by the broker"),
)


async def test_a_broker_close_during_auth_is_filed_under_auth() -> None:
    """As the live engine files it: the Close belongs to the phase it interrupts."""
    steps = await stepped(WRONG_PASSWORD)
    assert [phase for phase, _ in steps] == [
        Phase.HEADER,
        Phase.START,
        Phase.AUTH,
        Phase.CLOSE,
    ]
    by_phase = dict(steps)
    assert frames_of(by_phase[Phase.AUTH]) == [
        (C2B, "Connection.StartOk", Phase.AUTH),
        (B2C, "Connection.Close", Phase.AUTH),
    ]
    assert frames_of(by_phase[Phase.CLOSE]) == [
        (C2B, "Connection.CloseOk", Phase.CLOSE)
    ]
    (close,) = [
        e
        for e in by_phase[Phase.AUTH]
        if isinstance(e, FrameObserved) and e.frame.name == "Connection.Close"
    ]
    assert isinstance(close.frame.payload, commands.Connection.Close)
    assert close.frame.payload.reply_code == 403
    assert close.note, "an interrupting frame carries what it means"
    assert not close.violation


async def test_a_stream_cut_mid_frame_fails_the_phase_it_was_in() -> None:
    steps = await stepped(
        bare(
            chunk(0.00, C2B, ProtocolHeader()),
            chunk(0.01, B2C, commands.Connection.Start()),
            chunk(0.02, C2B, START_OK),
            Chunk(0.03, B2C, marshal(TUNE, 0)[:6]),
            StreamEnd(0.04, B2C, "closed by the broker"),
        )
    )
    assert [phase for phase, _ in steps] == [Phase.HEADER, Phase.START, Phase.AUTH]
    (failure,) = [e for e in steps[-1][1] if isinstance(e, PhaseFailed)]
    assert failure.phase is Phase.AUTH
    assert failure.message.startswith("broker: ")
    assert steps[-1][1][-1] == LifecycleEnded(False)
