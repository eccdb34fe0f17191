"""The side-by-side experiment: one job in AMQP 0-9-1 and in AMQP 1.0, counted.

Owns running the same job (connect, authenticate, open, send one message,
receive it, close) with aiormq and with Qpid Proton (net.amqp10), each through
a Tap of its own, on the learner's broker and on a queue made for the run, and
counting from the wire what each job took: frames and bytes each way, round
trips and the handshake's time. `tally` counts (sans-I/O, from a Tap's
events); `measure` runs the jobs and `compared` turns both tallies into the
experiment's facts and notes.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import aiormq
from aiormq.abc import DeliveredMessage
from aiormq.exceptions import AMQPError

from explorer.net.amqp10 import Amqp10Client, Amqp10Error
from explorer.net.client import ExplorerConnection
from explorer.net.endpoint import Endpoint
from explorer.net.tap import Tap
from explorer.protocol.amqp10.frames import HEARTBEAT, Body, Header
from explorer.protocol.amqp10.queries import address_of
from explorer.protocol.dialect import AMQP_0_9_1, AMQP_1_0, Dialect, ends_handshake
from explorer.protocol.fields import JSON
from explorer.protocol.frames import B2C, C2B, Direction, Frame
from explorer.protocol.stream import Chunk, WireEvent

Facts = dict[str, JSON]
#: The one message each job sends and takes back.
BODY: Final = "one message, sent and received"
#: Seconds each job may take, and the wait for both TCP ends after it.
JOB_TIMEOUT, END_WAIT = 15.0, 3.0
#: Frames that keep a connection alive and are no step of the job.
IDLE: Final = frozenset({"Heartbeat", HEARTBEAT})
PLUGIN: Final = (
    "RabbitMQ 3.x speaks AMQP 1.0 only with the rabbitmq_amqp1_0 plugin enabled "
    "(rabbitmq-plugins enable rabbitmq_amqp1_0); 4.x speaks it natively"
)


@dataclass(frozen=True, slots=True)
class Tally:
    """What one job took on the wire, counted from the frames that crossed."""

    #: Frames each way (protocol headers included, heartbeats not).
    frames: dict[Direction, int]
    #: Bytes each way, as the tap recorded them.
    octets: dict[Direction, int]
    #: Client writes the client waited on: a client frame answered by the
    #: broker before the client sent its next one.
    round_trips: int
    #: Empty frames (heartbeats) either way, left out of `frames`.
    heartbeats: int
    #: From the client's first byte to the frame that ended the handshake
    #: (None: the handshake never ended).
    handshake_ms: float | None
    #: From the client's first byte to the last byte either way.
    job_ms: float
    #: Each frame as ``→ name`` (client) or ``← name`` (broker), in order.
    sequence: tuple[str, ...]

    def facts(self) -> Facts:
        """The tally as JSON facts."""
        return {
            "client_frames": self.frames[C2B],
            "broker_frames": self.frames[B2C],
            "client_bytes": self.octets[C2B],
            "broker_bytes": self.octets[B2C],
            "round_trips": self.round_trips,
            "heartbeats": self.heartbeats,
            "handshake_ms": self.handshake_ms,
            "job_ms": self.job_ms,
            "frames": list(self.sequence),
        }


def frames_of(events: Iterable[WireEvent], dialect: Dialect) -> list[Frame]:
    """Every frame of `events`, both ways, in the order they crossed."""
    decoders = {d: dialect.decoder(d) for d in Direction}
    out: list[Frame] = []
    for event in events:
        if isinstance(event, Chunk):
            items = decoders[event.direction].feed(event.data, event.t)
            out += [i for i in items if isinstance(i, Frame)]
    return out


def round_trips(frames: Sequence[Frame]) -> int:
    """How often the client's last frame so far was answered by the broker.

    Each count is a client write the client had to wait on: the next frame on
    the wire came from the broker. Heartbeats are no answer.
    """
    steps = [f.direction for f in frames if f.name not in IDLE]
    return sum(a is C2B and b is B2C for a, b in itertools.pairwise(steps))


def tally(events: Sequence[WireEvent], dialect: Dialect) -> Tally:
    """Count one job's frames, bytes and round trips from a Tap's events."""
    chunks = [e for e in events if isinstance(e, Chunk)]
    frames = frames_of(chunks, dialect)
    steps = [f for f in frames if f.name not in IDLE]
    start = chunks[0].t if chunks else 0.0
    end = next((f for f in frames if ends_handshake(f)), None)
    arrows = {C2B: "→", B2C: "←"}
    return Tally(
        frames={d: sum(f.direction is d for f in steps) for d in Direction},
        octets={
            d: sum(len(c.data) for c in chunks if c.direction is d) for d in Direction
        },
        round_trips=round_trips(frames),
        heartbeats=len(frames) - len(steps),
        handshake_ms=None if end is None else _ms(end.t - start),
        job_ms=_ms(chunks[-1].t - start) if chunks else 0.0,
        sequence=tuple(f"{arrows[f.direction]} {f.name}" for f in steps),
    )


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


# Running the two jobs ---


async def _ended(tap: Tap) -> None:
    """Wait (a little) for both directions of the TCP connection to end."""
    for _ in range(int(END_WAIT / 0.01)):
        if len(tap.ended) == len(Direction):
            return
        await asyncio.sleep(0.01)


async def job_0_9_1(endpoint: Endpoint, queue: str) -> Tap:
    """The job with aiormq: publish one message (confirmed), get it, ack it."""
    tap = Tap()
    connection = ExplorerConnection(endpoint.aiormq_url(), tap)
    await connection.connect()
    channel = await connection.channel()
    await channel.basic_publish(BODY.encode(), routing_key=queue)
    got = await channel.basic_get(queue)
    if isinstance(got, DeliveredMessage) and got.delivery_tag is not None:
        await channel.basic_ack(got.delivery_tag)
    await channel.close()
    await connection.close()
    await _ended(tap)
    return tap


async def job_1_0(endpoint: Endpoint, queue: str) -> tuple[Tap, str]:
    """The job with Proton: attach a sender, transfer, attach a receiver, flow.

    Returns:
        The tap, and why the broker refused the job ("" when it did not).
    """
    tap = Tap(hide_handshake_heartbeats=False)
    client = Amqp10Client(tap, endpoint.user, endpoint.password, vhost=endpoint.vhost)
    await client.connect(endpoint.host, endpoint.port)
    address = f"/queues/{queue}"
    try:
        await client.open()
        await client.begin()
        await client.attach_sender(address)
        await client.send(BODY)
        await client.attach_receiver(address)
        await client.receive()
        await client.close()
    except Amqp10Error as exc:
        await client.finish()
        return tap, str(exc)
    await _ended(tap)
    return tap, ""


async def _queue(endpoint: Endpoint, name: str, *, delete: bool) -> None:
    """Declare (or delete) the run's queue on a connection of its own, untapped."""
    connection = await aiormq.connect(endpoint.aiormq_url())
    try:
        channel = await connection.channel()
        if delete:
            await channel.queue_delete(name)
        else:
            await channel.queue_declare(name)
    finally:
        await connection.close()


async def measure(endpoint: Endpoint) -> tuple[Facts, list[str]]:
    """Run both jobs on `endpoint`'s broker, one after the other, and compare.

    The queue both jobs use is declared before them and deleted after, over
    0-9-1 on a connection that is not counted.
    """
    if endpoint.tls:
        return {"as_expected": False}, [
            "The side-by-side runs on amqp:// only: the explorer's AMQP 1.0 client "
            "does not do TLS. Give it the broker's plain port."
        ]
    queue = f"amqp-explorer-side-by-side-{secrets.token_hex(3)}"
    try:
        await _queue(endpoint, queue, delete=False)
        try:
            async with asyncio.timeout(JOB_TIMEOUT):
                old = await job_0_9_1(endpoint, queue)
            async with asyncio.timeout(JOB_TIMEOUT):
                new, refused = await job_1_0(endpoint, queue)
        finally:
            await _queue(endpoint, queue, delete=True)
    except (AMQPError, OSError, TimeoutError) as exc:
        return {"as_expected": False}, [
            f"The jobs could not run: {type(exc).__name__}: {exc}. The plain "
            "lifecycle (without this experiment) shows where the broker refuses."
        ]
    return compared(old.events, new.events, refused)


# Comparing ---

ROWS: Final = (
    ("client frames", "client_frames"),
    ("broker frames", "broker_frames"),
    ("client bytes", "client_bytes"),
    ("broker bytes", "broker_bytes"),
    ("round trips", "round_trips"),
    ("handshake ms", "handshake_ms"),
    ("whole job ms", "job_ms"),
)


def table(columns: dict[str, Facts]) -> str:
    """The facts of each column side by side, one row per count."""
    names = list(columns)
    lines = ["".ljust(14) + "".join(n.rjust(10) for n in names)]
    for label, key in ROWS:
        cells = (
            "-" if columns[n].get(key) is None else str(columns[n][key]) for n in names
        )
        lines.append(label.ljust(14) + "".join(c.rjust(10) for c in cells))
    return "\n".join(lines)


def compared(
    old: Sequence[WireEvent], new: Sequence[WireEvent], refused: str
) -> tuple[Facts, list[str]]:
    """Both jobs' tallies as the experiment's facts and notes.

    Args:
        old: The 0-9-1 job's tap events.
        new: The 1.0 job's tap events.
        refused: Why the broker refused the 1.0 job ("" when it did not).
    """
    first = tally(old, AMQP_0_9_1)
    second = tally(new, AMQP_1_0)
    frames = frames_of(new, AMQP_1_0)
    answer = next((f for f in frames if f.direction is B2C), None)
    speaks = (
        answer is not None
        and isinstance(answer.payload, Header)
        and answer.payload.is_amqp10
    )
    facts: Facts = {"0-9-1": first.facts(), "1.0": second.facts()}
    if not speaks:
        shown = answer.raw.hex(" ") if answer is not None else "nothing"
        header = answer is not None and isinstance(answer.payload, Header)
        facts["1.0"] = {"broker_answered": shown, "proton_said": refused}
        facts["as_expected"] = header  # 3.x without the plugin, as expected
        return facts, [
            f"The AMQP 0-9-1 job took {first.frames[C2B]} client and "
            f"{first.frames[B2C]} broker frames, {first.round_trips} round trips.",
            f"The AMQP 1.0 job could not run: the broker answered its SASL header "
            f"with {shown} and closed. {PLUGIN}.",
        ]
    facts["as_expected"] = not refused
    notes = [table({"0-9-1": first.facts(), "1.0": second.facts()})]
    if refused:
        notes.append(f"The AMQP 1.0 job stopped: {refused}.")
    notes += mapping(frames)
    return facts, notes


def mapping(frames: Sequence[Frame]) -> list[str]:
    """Where RabbitMQ reads its own model in the 1.0 job's frames."""
    said = []
    for frame in frames:
        body = frame.payload
        if frame.direction is not C2B or not isinstance(body, Body):
            continue
        if frame.name == "open":
            said.append(
                f"open's hostname {body.fields.get('hostname')!r} names the vhost: "
                "RabbitMQ reads vhost:NAME there (0-9-1 names it in Connection.Open)."
            )
        elif frame.name == "attach":
            said.append(
                f"attach addresses {address_of(frame)!r}: RabbitMQ's /queues/NAME "
                "is a queue (/exchanges/NAME/KEY an exchange and routing key)."
            )
    return said[:2]
