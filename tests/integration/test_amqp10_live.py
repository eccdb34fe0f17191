"""AMQP 1.0 stepped live: Amqp10Client (Proton) through the Tap, on RabbitMQ 4.0.

The whole lifecycle against the project's RabbitMQ 4.0.5 on 127.0.0.1:5673,
with a throwaway user and a queue declared for the run: its bytes are the
Tap's events, decoded with Amqp10Decoder, placed by the 1.0 lifecycle table.
Once flowing, once with every client write held and released one at a time.
Then what no broker does (a peer that never ends its side, bytes after a
malformed frame), played by a fake peer. Needs the broker (skipped without
it, failing in CI).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Final

import pytest

from explorer.net.amqp10 import Amqp10Client, Amqp10Error
from explorer.net.tap import CLOSE_GRACE, Tap
from explorer.protocol.amqp10.frames import Body
from explorer.protocol.amqp10.lifecycle import PLAN, Amqp10Lifecycle
from explorer.protocol.amqp10.secrets import secrets_in
from explorer.protocol.fields import shown
from explorer.protocol.frames import B2C, C2B, Frame
from explorer.protocol.lifecycle import Phase
from explorer.protocol.stream import Chunk, StreamEnd
from tests.conftest import User, answering
from tests.integration.conftest import Handler
from tests.integration.test_amqp10_bytes import (
    BODY,
    BROKER4,
    BROKER_FRAMES,
    CLIENT_FRAMES,
    HOST,
    PORT,
    declared_queue,
    throwaway_user,
)
from tests.unit.test_amqp10_lifecycle import frames_of

pytestmark = pytest.mark.broker

#: The whole lifecycle, flowing, takes well under this on 127.0.0.1 (s).
FLOWING_BOUND: Final = 1.0
#: The phase of each of Proton's writes, stepped: one write a step.
PER_WRITE: Final = [
    Phase.HEADER, Phase.AUTH, Phase.OPEN, Phase.CHANNEL,
    *[Phase.OPERATIONS] * 6,  # attach, transfer, attach, flow, disposition, detach
    *[Phase.CLOSE] * 3,  # the last detach, end, close
]  # fmt: skip


@pytest.fixture
def user4(request: pytest.FixtureRequest) -> Iterator[User]:
    answering(BROKER4, request)
    yield from throwaway_user()


@pytest.fixture
def queue4(user4: User) -> Iterator[str]:
    yield from declared_queue()


async def lifecycle(client: Amqp10Client, queue: str) -> object:
    """Every step, in order; the body the receiver took."""
    await client.connect(HOST, PORT)
    await client.open()
    await client.begin()
    await client.attach_sender(f"/queues/{queue}")
    await client.send(BODY)
    await client.attach_receiver(f"/queues/{queue}")
    received = await client.receive()
    await client.close()
    return received


def names(frames: list[Frame], direction: object) -> list[str]:
    return [
        f.name for f in frames if f.direction is direction and f.name != "heartbeat"
    ]


def assert_the_lifecycle(tap: Tap, user: User) -> list[Frame]:
    """The Tap saw every performative in order both ways, the table places
    them in the plan's order without a violation, and no frame as shown holds
    the password."""
    frames = frames_of(tap.events)
    assert names(frames, C2B) == CLIENT_FRAMES
    assert names(frames, B2C) == BROKER_FRAMES
    model = Amqp10Lifecycle(Phase.TCP)
    transitions = [model.observe(f) for f in frames]
    assert [t.violation for t in transitions if t.violation] == []
    phases = [t.phase for t in transitions]
    assert phases == sorted(phases, key=PLAN.index)
    assert model.phase is Phase.CLOSE
    password = user.password.encode()
    (init,) = [f for f in frames if f.name == "sasl-init"]
    (secret,) = secrets_in(init)
    assert init.raw[secret.offset : secret.offset + secret.length] == password
    assert [f.name for f in frames if password in shown(f).raw] == []
    ends = [e.direction for e in tap.events if isinstance(e, StreamEnd)]
    assert sorted(d.value for d in ends) == ["b2c", "c2b"]
    return frames


def span(tap: Tap) -> float:
    """Seconds from the first byte on the wire to the last."""
    times = [e.t for e in tap.events if isinstance(e, Chunk)]
    return times[-1] - times[0]


async def test_the_lifecycle_through_the_tap(user4: User, queue4: str) -> None:
    tap = Tap(hide_handshake_heartbeats=False)
    client = Amqp10Client(tap, user4.name, user4.password)
    assert await lifecycle(client, queue4) == BODY
    frames = assert_the_lifecycle(tap, user4)
    (sent,) = [f.payload for f in frames if (f.direction, f.name) == (C2B, "open")]
    assert isinstance(sent, Body)
    assert sent.fields["hostname"] == "vhost:/"
    assert span(tap) < FLOWING_BOUND


async def test_stepping_releases_the_client_one_write_at_a_time(
    user4: User, queue4: str
) -> None:
    """With the Tap holding, the broker hears nothing the stepper has not
    released: each release is one write of Proton's, within one phase."""
    tap = Tap(hide_handshake_heartbeats=False)
    tap.hold()
    client = Amqp10Client(tap, user4.name, user4.password)
    run = asyncio.ensure_future(lifecycle(client, queue4))
    released: list[bytes] = []
    while not run.done():
        waiting = asyncio.ensure_future(tap.wait_held())
        await asyncio.wait({run, waiting}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
        while tap.held:
            await asyncio.sleep(0.005)  # the learner's pace, compressed
            released.append(tap.release())
    assert run.result() == BODY
    frames = assert_the_lifecycle(tap, user4)
    sent = [e.data for e in tap.events if isinstance(e, Chunk) and e.direction is C2B]
    assert sent == released
    starts = list(itertools.accumulate((len(d) for d in released), initial=0))
    model = Amqp10Lifecycle(Phase.TCP)
    by_write: list[set[Phase]] = [set() for _ in released]
    for frame in frames:
        phase = model.observe(frame).phase
        if frame.direction is C2B:
            by_write[bisect.bisect_right(starts, frame.offset) - 1].add(phase)
    assert by_write == [{phase} for phase in PER_WRITE]


async def test_idle_time_out_brings_the_brokers_empty_frames(
    user4: User, queue4: str
) -> None:
    """Proton's idle timeout of 2 s is advertised as 1000 ms in its open: the
    broker sends an empty frame about every 500 ms while the session idles,
    each filed under the phase it interrupts."""
    tap = Tap(hide_handshake_heartbeats=False)
    client = Amqp10Client(tap, user4.name, user4.password, idle_timeout=2.0)
    await client.connect(HOST, PORT)
    await client.open()
    await client.begin()
    await client.linger(1.2)
    await client.close()
    model = Amqp10Lifecycle(Phase.TCP)
    transitions = [model.observe(f) for f in frames_of(tap.events)]
    assert [t.violation for t in transitions if t.violation] == []
    opens = {
        t.frame.direction: t.frame.payload
        for t in transitions
        if t.frame.name == "open" and isinstance(t.frame.payload, Body)
    }
    assert opens[C2B].fields["idle-time-out"] == 1000
    empty = [t for t in transitions if t.frame.name == "heartbeat"]
    assert len(empty) >= 2
    assert {(t.frame.direction, t.phase) for t in empty} == {(B2C, Phase.CHANNEL)}


async def test_a_wrong_password_ends_at_the_sasl_outcome(user4: User) -> None:
    """4.0.5 answers sasl-outcome code 1 (auth), after its 3 s silent-close
    delay; the table files it under auth and ends the lifecycle."""
    tap = Tap(hide_handshake_heartbeats=False)
    client = Amqp10Client(tap, user4.name, "not-the-password")
    await client.connect(HOST, PORT)
    with pytest.raises(Amqp10Error, match=r"^open: amqp:unauthorized-access"):
        await client.open()
    await client.finish()
    model = Amqp10Lifecycle(Phase.TCP)
    transitions = [model.observe(f) for f in frames_of(tap.events)]
    assert [t.violation for t in transitions if t.violation] == []
    outcome = transitions[-1]
    assert outcome.frame.name == "sasl-outcome"
    assert (outcome.phase, outcome.after) == (Phase.AUTH, Phase.CLOSE)
    assert outcome.note == "authentication failed: code 1 (auth)"


# What no broker does: a fake peer (tests/integration/conftest.py) plays it.


async def test_finish_drops_a_peer_that_never_ends_its_side(
    fake_peer: Callable[[Handler], Awaitable[int]],
) -> None:
    """The peer reads the client's FIN but never sends its own (nor a reset):
    finish gives up after the client's timeout and drops the connection,
    sooner than the tap's own grace would."""

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(65536):
            pass
        await asyncio.sleep(10)  # the writer is kept: no FIN
        writer.close()

    port = await fake_peer(peer)
    tap = Tap(hide_handshake_heartbeats=False)
    client = Amqp10Client(tap, "u", "p", timeout=0.3)
    await client.connect("127.0.0.1", port)
    began = time.monotonic()
    await client.finish()
    assert 0.3 <= time.monotonic() - began < CLOSE_GRACE
    await asyncio.sleep(0)  # the transport reports the end
    ends = {e.direction: e.reason for e in tap.events if isinstance(e, StreamEnd)}
    assert ends == {C2B: "closed by the client", B2C: "the TCP connection closed"}


async def test_bytes_proton_no_longer_reads_are_a_clear_error(
    fake_peer: Callable[[Handler], Awaitable[int]],
) -> None:
    """A malformed frame makes Proton close its input; what the peer sends
    after it goes unread: never Proton's TransportException escaping a step,
    the keepalive or finish."""

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(8)
        writer.write(b"AMQP\x03\x01\x00\x00" + b"\x00\x00\x00\x02\x02\x01\x00\x00")
        await asyncio.sleep(0.3)
        writer.write(b"more bytes")
        await asyncio.sleep(10)
        writer.close()

    port = await fake_peer(peer)
    tap = Tap(hide_handshake_heartbeats=False)
    client = Amqp10Client(tap, "u", "p", timeout=1.0)
    await client.connect("127.0.0.1", port)
    with pytest.raises(Amqp10Error, match=r"^open: amqp:connection:framing-error"):
        await client.open()
    assert client.transport.capacity() < 0  # Proton reads no more
    await asyncio.sleep(0.5)
    with pytest.raises(Amqp10Error) as refused:
        async with client._lock:
            await client._read(0.5)
    assert str(refused.value) == (
        "Proton reads no more from the broker (amqp:connection:framing-error: "
        "malformed frame); 10 bytes went unread"
    )
    await client.finish()  # the bytes after it: read, not raised
    received = b"".join(
        e.data for e in tap.events if isinstance(e, Chunk) and e.direction is B2C
    )
    assert received.endswith(b"more bytes")
