"""The Engine stepping a live AMQP 1.0 connection (Proton) on RabbitMQ 4.0.5.

The same events a 0-9-1 run tells, for the 1.0 lifecycle: at the learner's
pace and in race mode, the phases in order, every performative under its
phase, the open report equal to the open frames, the password masked in every
FrameObserved; and the failures where RabbitMQ 4.0.5 refuses (a wrong
password, an unknown vhost, a queue that does not exist) or RabbitMQ 3.10.8
speaks no 1.0 (on 5672, plugin off). A throwaway user for each run; the run's
queue is declared and deleted by the run itself.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Final

import pytest

from explorer.engine import amqp10ops, amqp10steps
from explorer.engine.core import Engine
from explorer.engine.events import (
    EngineEvent,
    FrameObserved,
    LifecycleEnded,
    PhaseFailed,
    PhaseReport,
    PhaseStarted,
)
from explorer.protocol.dialect import AMQP_1_0
from explorer.protocol.frames import B2C, C2B
from explorer.protocol.lifecycle import Phase
from tests.conftest import User, answering, capture_frames
from tests.integration.conftest import Handler
from tests.integration.test_amqp10_bytes import (
    BROKER4,
    HOST,
    PORT,
    ctl4,
    throwaway_user,
)

pytestmark = pytest.mark.broker

P = Phase
PHASES = [
    P.ENDPOINT, P.RESOLVE, P.TCP, P.HEADER, P.AUTH, P.OPEN, P.CHANNEL,
    P.OPERATIONS, P.OPERATIONS, P.OPERATIONS, P.OPERATIONS, P.HEARTBEAT, P.CLOSE,
]  # fmt: skip
#: Each side's frames, empty ones left out, by the phase the lifecycle files
#: them under (the client's first detach is an operation: its last starts CLOSE).
FRAMES = {
    P.HEADER: [("c", "sasl-header"), ("b", "sasl-header")],
    P.AUTH: [("b", "sasl-mechanisms"), ("c", "sasl-init"), ("b", "sasl-outcome")],
    P.OPEN: [("c", "amqp-header"), ("c", "open"), ("b", "amqp-header"), ("b", "open")],
    P.CHANNEL: [("c", "begin"), ("b", "begin")],
    P.OPERATIONS: [
        ("c", "attach"), ("b", "attach"), ("b", "flow"), ("c", "transfer"),
        ("b", "disposition"), ("c", "attach"), ("b", "attach"), ("c", "flow"),
        ("b", "transfer"), ("c", "disposition"), ("c", "detach"), ("b", "detach"),
    ],
    P.CLOSE: [
        ("c", "detach"), ("b", "detach"), ("c", "end"), ("b", "end"),
        ("c", "close"), ("b", "close"),
    ],
}  # fmt: skip
SIDE = {C2B: "c", B2C: "b"}


@pytest.fixture
def user4(request: pytest.FixtureRequest) -> Iterator[User]:
    answering(BROKER4, request)
    yield from throwaway_user()


class Recorder(list[EngineEvent]):
    def started(self) -> list[PhaseStarted]:
        return [e for e in self if isinstance(e, PhaseStarted)]

    def reports(self) -> list[PhaseReport]:
        return [e for e in self if isinstance(e, PhaseReport)]

    def frames(self) -> list[FrameObserved]:
        return [e for e in self if isinstance(e, FrameObserved)]

    def report(self, phase: Phase) -> PhaseReport:
        return next(e for e in self if isinstance(e, PhaseReport) and e.phase is phase)

    def failures(self) -> list[PhaseFailed]:
        return [e for e in self if isinstance(e, PhaseFailed)]


def url(user: User, vhost: str = "", port: int = PORT) -> str:
    return f"amqp://{user.name}:{user.password}@{HOST}:{port}/{vhost}"


async def run(
    address: str, *, states: list[str] | None = None, **options: object
) -> tuple[Engine, Recorder]:
    """A whole run; `states` gets the clock's state once the connection is open."""
    events = Recorder()
    engine = Engine(address, events.append, dialect=AMQP_1_0, **options)  # type: ignore[arg-type]
    try:
        await engine.run(until=P.OPEN)
        if states is not None:
            states.append(engine.clock().state)
        await engine.run()
    finally:
        await engine.aclose()
    return engine, events


def by_phase(events: Recorder) -> dict[Phase, list[tuple[str, str]]]:
    found: dict[Phase, list[tuple[str, str]]] = {}
    for e in events.frames():
        if e.frame.name != "heartbeat":
            found.setdefault(e.phase, []).append(
                (SIDE[e.frame.direction], e.frame.name)
            )
    return found


def assert_whole_run(engine: Engine, events: Recorder, user: User) -> None:
    started = events.started()
    assert [e.phase for e in started] == PHASES
    assert [e.step for e in started if e.phase is P.OPERATIONS] == [
        "attach-sender", "send", "attach-receiver", "receive",
    ]  # fmt: skip
    assert events.failures() == []
    got = by_phase(events)
    for phase, frames in FRAMES.items():  # each side's order within a phase
        for side in "cb":
            assert [f for f in got[phase] if f[0] == side] == [
                f for f in frames if f[0] == side
            ], (phase, side)
    # At the learner's pace nothing is told before the step of its phase (in
    # race mode the broker's answer to a step is told as it comes: the
    # mechanisms may follow the SASL header within the header step).
    step = P.ENDPOINT
    order = list(Phase)
    for e in events:
        if isinstance(e, PhaseStarted):
            step = e.phase
        elif isinstance(e, FrameObserved) and not engine.live_handshake:
            assert order.index(e.phase) <= order.index(step), (e.frame.name, step)
    # Every frame is told once, in the order it crossed the wire (per direction).
    for direction in (C2B, B2C):
        told = [
            e.frame.offset for e in events.frames() if e.frame.direction is direction
        ]
        assert told == sorted(told)
        assert told == [f.offset for f in engine.frames if f.direction is direction]
    opened = events.report(P.OPEN).facts
    client, broker = engine.frame(C2B, "open"), engine.frame(B2C, "open")
    assert client is not None
    assert broker is not None
    for name in ("max-frame-size", "channel-max", "idle-time-out"):
        row = opened[name]
        assert isinstance(row, dict)
        assert row["client"] == client.payload.fields[name]  # type: ignore[union-attr]
        assert row["broker"] == broker.payload.fields[name]  # type: ignore[union-attr]
    assert opened["hostname"] == "vhost:/"
    password = user.password.encode()
    for e in events.frames():
        assert password not in e.frame.raw
        assert user.password not in str(e.frame.payload)
    init = next(e.frame for e in events.frames() if e.frame.name == "sasl-init")
    assert b"\0" + user.name.encode() + b"\0***" in init.raw
    auth = events.report(P.AUTH).facts
    assert auth["response"] == f"\0{user.name}\0***"
    assert auth["verdict"] == "accepted: sasl-outcome code 0 (ok)"
    received = [e for e in events.reports() if e.facts.get("operation") == "receive"]
    assert received[0].facts["body"] == amqp10ops.BODY
    beats = events.report(P.HEARTBEAT).facts
    assert beats["empty_frames_from_broker"] >= 1  # type: ignore[operator]
    assert events[-1] == LifecycleEnded(True)


async def test_a_whole_1_0_run_at_the_learners_pace(user4: User) -> None:
    states: list[str] = []
    engine, events = await run(url(user4), states=states)
    assert_whole_run(engine, events, user4)
    assert engine.queue  # declared by the run, and deleted at its end
    assert engine.cleanups == []
    assert states[0].startswith("open (handshake ")
    assert states[0].endswith("ms); idle-time-out: broker 30 s, client 1 s")
    tcp = events.report(P.TCP)
    assert amqp10steps.HANDSHAKE_CLOCK in tcp.notes


async def test_a_whole_1_0_run_in_race_mode(user4: User) -> None:
    engine, events = await run(url(user4), live_handshake=True)
    assert_whole_run(engine, events, user4)
    assert engine.tap.held == 0


#: Longer than half of RabbitMQ 4.0.5's idle-time-out (30000 ms): Proton owes
#: the broker an empty frame within it.
PAUSE: Final = 16.0


async def test_a_learners_pause_keeps_the_1_0_connection_alive(user4: User) -> None:
    """Paused between steps (after begin) longer than half the broker's
    idle-time-out: Proton, kept reading and ticking, sends its empty frame and
    reads the broker's; it never times out, and the run goes on and closes."""
    events = Recorder()
    engine = Engine(url(user4), events.append, dialect=AMQP_1_0)
    try:
        await engine.run(until=P.CHANNEL)
        began = engine.tap.now()
        await asyncio.sleep(PAUSE)
        during = [f for f in engine.frames if f.t >= began]
        client = engine.need_amqp10()
        assert client.transport.condition is None  # no local-idle-timeout
        await engine.run()
    finally:
        await engine.aclose()
    assert {f.name for f in during} == {"heartbeat"}
    ours = [f.t - began for f in during if f.direction is C2B]
    theirs = [f for f in during if f.direction is B2C]
    assert len(ours) == 1  # at 15 s: half the broker's 30000 ms
    assert 14.0 < ours[0] < PAUSE
    assert len(theirs) >= PAUSE  # about every 500 ms: half the client's 1000 ms
    assert events.failures() == []
    assert engine.seen(B2C, "close")
    assert events[-1] == LifecycleEnded(True)


async def test_race_mode_holds_each_handshake_write_until_its_step(user4: User) -> None:
    events = Recorder()
    engine = Engine(url(user4), events.append, dialect=AMQP_1_0, live_handshake=True)
    try:
        for _ in range(3):  # endpoint, resolve, tcp
            await engine.step()
        await engine.until(lambda: engine.tap.held == 1, 2)
        assert [f.name for f in engine.frames] == []  # the SASL header is held
        assert engine.clock().handshake_left is not None
        await engine.step()  # header
        assert engine.frame(C2B, "sasl-init") is None
        await engine.step()  # auth
        assert engine.frame(B2C, "sasl-outcome") is not None
        assert engine.frame(C2B, "open") is None  # held until the open step
        await engine.step()  # open
        assert engine.opened() is not None
    finally:
        await engine.aclose()


async def test_holding_the_sasl_header_meets_rabbitmqs_handshake_timeout(
    user4: User,
) -> None:
    events = Recorder()
    engine = Engine(url(user4), events.append, dialect=AMQP_1_0, live_handshake=True)
    try:
        await engine.run(until=P.TCP)
        await engine.until(lambda: engine.gone, 12)  # the SASL header stays held
        await engine.run()
    finally:
        await engine.aclose()
    failure = events.failures()[0]
    assert failure.phase is P.HEADER
    assert failure.fatal
    assert "while the explorer held the client's next frame" in failure.message
    assert (
        "handshake_timeout (10 s by default) ran out before the client's open"
        in failure.message
    )
    assert engine.frames == []
    assert events[-1] == LifecycleEnded(False)


async def test_a_wrong_password_fails_auth_at_sasl_outcome_code_1(user4: User) -> None:
    engine, events = await run(url(User(user4.name, "not-the-password")))
    (failure,) = events.failures()
    assert failure.phase is P.AUTH
    assert failure.message == "the broker refused the login: sasl-outcome code 1 (auth)"
    assert (failure.reply_code, failure.fatal) == (1, True)
    assert (
        events.report(P.AUTH).facts["verdict"] == "refused: sasl-outcome code 1 (auth)"
    )
    assert engine.frame(C2B, "open") is None
    assert [e.phase for e in events.started()][-1] is P.CLOSE
    assert events[-1] == LifecycleEnded(False)


async def test_an_unknown_vhost_is_reset_at_open(user4: User) -> None:
    engine, events = await run(url(user4, "nosuch"))
    (failure,) = events.failures()
    assert failure.phase is P.OPEN
    assert failure.fatal
    assert "without an open or a close" in failure.message
    assert "(vhost:nosuch) does not exist" in failure.message
    assert engine.frame(B2C, "amqp-header") is not None
    assert engine.opened() is None
    assert events[-1] == LifecycleEnded(False)


async def test_attaching_to_a_missing_queue_ends_the_session(user4: User) -> None:
    async def missing(engine: Engine) -> None:
        engine.queue = "explorer-a10-no-such-queue"
        await amqp10ops.begin(engine)

    steps = {**amqp10steps.STEPS, P.CHANNEL: missing}
    engine, events = await run(url(user4), steps=steps)
    (failure,) = events.failures()
    assert failure.phase is P.OPERATIONS
    assert failure.fatal is False
    assert failure.reply_text == "amqp:not-found"
    assert failure.message == (
        "in operations, the broker ended the session on channel 0: amqp:not-found "
        "(no queue 'explorer-a10-no-such-queue' in vhost '/'); the connection "
        "lives on"
    )
    started = events.started()
    assert [e.phase for e in started][-3:] == [P.OPERATIONS, P.HEARTBEAT, P.CLOSE]
    # The client answers the broker's end with its own, then closes cleanly.
    assert [f.name for f in engine.frames if f.direction is C2B][-2:] == [
        "end",
        "close",
    ]
    assert engine.seen(B2C, "close")
    assert events[-1] == LifecycleEnded(False)


async def test_rabbitmq_3_without_the_plugin_refuses_the_header(
    request: pytest.FixtureRequest,
) -> None:
    from tests.conftest import BROKERS

    answering(BROKERS[0], request)
    engine, events = await run("amqp://guest:guest@127.0.0.1:5672/")
    failure = events.failures()[0]
    assert failure.phase is P.HEADER
    assert failure.fatal
    assert "41 4d 51 50 00 00 09 01" in failure.message
    assert "rabbitmq_amqp1_0 plugin; 4.x natively" in failure.advice
    answer = engine.first(B2C)
    assert answer is not None
    assert answer.raw == b"AMQP\x00\x00\x09\x01"
    assert events[-1] == LifecycleEnded(False)


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("amqps://guest:guest@127.0.0.1:5671/", "amqps is not supported for AMQP 1.0"),
        (
            f"amqp://guest:guest@{HOST}:{PORT}/?auth=amqplain",
            "auth=amqplain is not available for AMQP 1.0 here: the explorer's 1.0 "
            "client (Qpid Proton) logs in with SASL PLAIN only",
        ),
        (f"amqp://guest:guest@{HOST}:{PORT}/?auth=external", "auth=external is not"),
    ],
)
def test_amqps_and_auth_other_than_plain_are_refused_at_the_endpoint(
    address: str, refused: str
) -> None:
    import asyncio

    engine, events = asyncio.run(run(address))
    (failure,) = events.failures()
    assert failure.phase is P.ENDPOINT
    assert failure.message.startswith(refused)
    assert engine.tcp_at is None
    assert [e.phase for e in events.started()] == [P.ENDPOINT]
    assert events[-1] == LifecycleEnded(False)


def test_the_endpoint_report_says_what_proton_is_handed() -> None:
    """The url row and the settings' notes are Proton's (no broker needed)."""
    import asyncio

    events = Recorder()
    address = f"amqp://guest:guest@{HOST}:{PORT}/?frame_max=8192&name=n"
    engine = Engine(address, events.append, dialect=AMQP_1_0)
    asyncio.run(engine.run(until=P.ENDPOINT))
    facts = events.report(P.ENDPOINT).facts
    assert facts["url"] == f"amqp://guest:***@{HOST}:{PORT}/%2F?heartbeat=2"
    rows = facts["settings"]
    assert isinstance(rows, list)
    notes = {r["name"]: (r["value"], r["note"]) for r in rows if isinstance(r, dict)}
    assert notes["heartbeat"][0] == amqp10steps.IDLE_TIMEOUT
    assert "Proton's idle timeout" in str(notes["heartbeat"][1])
    assert notes["frame_max"] == (
        8192,
        "not used: Proton's open proposes max-frame-size 32768",
    )
    assert notes["channel_max"][1] == (
        "not used: Proton's open proposes channel-max 32767"
    )
    assert notes["connection_name"] == (
        "n",
        "not used: Proton's open names its container-id amqp-explorer",
    )
    assert str(notes["vhost"][1]).endswith("open's hostname names it as vhost:/")
    assert not any("aiormq" in str(note) for _, note in notes.values())
    assert events.failures() == []


async def test_a_failing_side_connection_is_a_clear_failure(user4: User) -> None:
    """A user who may not declare queues: the 0-9-1 side connection's refusal
    fails the attach-sender operation by name, never as an unexpected error."""
    ctl4("set_permissions", "-p", "/", user4.name, "^$", ".*", ".*")
    engine, events = await run(url(user4))
    (failure,) = events.failures()
    assert failure.phase is P.OPERATIONS
    assert failure.fatal is False
    assert failure.message.startswith(
        "attach-sender failed: the explorer's separate AMQP 0-9-1 connection "
        "(aiormq, not recorded), declaring the run's queue, failed: "
        "ChannelAccessRefused"
    )
    assert "ACCESS_REFUSED" in failure.message
    assert "configure permission" in failure.advice
    assert [e.step for e in events.started() if e.phase is P.OPERATIONS] == [
        "attach-sender"
    ]
    assert not engine.seen(C2B, "attach")
    assert engine.seen(B2C, "close")  # the session and connection close cleanly
    assert events[-1] == LifecycleEnded(False)


async def test_a_broker_stalling_mid_frame_is_named_by_1_0_framing(
    fake_peer: Callable[[Handler], Awaitable[int]],
) -> None:
    """A fake 1.0 broker answers the SASL header, then stops 20 bytes into
    its sasl-mechanisms (from the recorded lifecycle): the stall names the
    SASL frame by its 1.0 header and descriptor, the sasl-header as the
    client's last frame."""
    frames = capture_frames("amqp10/lifecycle")
    header, mechanisms = (
        next(f.raw for f in frames if (f.direction, f.name) == (B2C, name))
        for name in ("sasl-header", "sasl-mechanisms")
    )

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(8)
        writer.write(header + mechanisms[:20])
        while await reader.read(65536):
            pass
        writer.close()

    port = await fake_peer(peer)
    engine, events = await run(f"amqp://guest:guest@127.0.0.1:{port}/", wait=1.0)
    failure = events.failures()[0]
    assert failure.phase is P.AUTH
    assert re.fullmatch(
        r"no answer within 1 s: sasl-header went out \d\.\d s ago and the broker "
        r"sent sasl-header, then 20 bytes came back, the first 20 of the 52 bytes "
        r"of a SASL frame \(sasl-mechanisms\), then nothing; the connection is "
        r"still open",
        failure.message,
    ), failure.message
    assert engine.frame(C2B, "sasl-init") is None  # Proton awaits the mechanisms
    assert events[-1] == LifecycleEnded(False)
