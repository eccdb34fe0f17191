"""The app benchmark's flood: a 100,000-frame consume flood, and its excerpt.

Owns the flood capture: recorded live through the tap (a second connection
fills a queue that the tapped one consumes and acks), or, when no broker
answers in time, planned after the bundled recording's handshake and built by
bench.stream; and the excerpt of it (its opening, a window from its middle, its
close) that the latency of the flood is compared with.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib.metadata import version
from time import perf_counter
from typing import Final

import aiormq
from aiormq.abc import DeliveredMessage
from pamqp import commands, heartbeat
from yarl import URL

from bench.stream import ACK, DELIVER, QUEUE, Item, marshalled
from bench.tap import quiet_aiormq, url
from explorer.net.endpoint import redact
from explorer.net.tap import Tap, TapTransportFactory
from explorer.protocol.frames import B2C, C2B, Direction, Frame
from explorer.protocol.stream import Chunk, StreamEnd, WireEvent
from explorer.recording.capture import Capture, load, redact_secrets
from explorer.recording.replay import bundled_recording

#: Frames in the flood capture (the synthetic one has exactly this many).
FLOOD_FRAMES: Final = 100_000
BODY_SIZE: Final = 100
SEED: Final = 91
#: Heartbeats in the synthetic flood: at least this many, spread evenly.
HEARTBEATS: Final = 6
#: Frames from the middle of the flood that the timed keys walk through, in
#: the flood and in its excerpt alike.
WINDOW: Final = 26
#: The live recording: connect within CONNECT_TIMEOUT, finish within
#: RECORD_TIMEOUT, or fall back to the synthetic flood.
CONNECT_TIMEOUT: Final = 3.0
RECORD_TIMEOUT: Final = 60.0
#: Confirmed publishes awaited together while filling the queue.
PUBLISH_BATCH: Final = 1_000
PREFETCH: Final = 500
#: Seconds; short, so that the idle consumer connection shows a few heartbeats.
HEARTBEAT_INTERVAL: Final = 1
#: Frames of a live flood recording that are not deliveries or acks: the
#: handshake (7), channel, queue, qos and consume (8), close (2).
LIVE_OVERHEAD: Final = 17
CONSUMER_TAG: Final = "amq.ctag-bench"
PROPERTIES: Final = commands.Basic.Properties(
    content_type="application/json", delivery_mode=2
)


def handshake(recording: Capture) -> list[WireEvent]:
    """The recording's chunks up to and including the one with Connection.OpenOk.

    The bundled recording hands each frame over in a chunk of its own, so the
    chunks stop exactly at the end of the handshake.
    """
    open_ok = next(
        item
        for item in recording.decode(B2C)
        if isinstance(item, Frame) and item.name == "Connection.OpenOk"
    )
    events: list[WireEvent] = []
    received = 0
    for event in recording.events:
        if not isinstance(event, Chunk):
            continue
        events.append(event)
        if event.direction is B2C:
            received += len(event.data)
            if received >= open_ok.offset + open_ok.size:
                return events
    raise ValueError("the recording has no Connection.OpenOk")


def message_body(index: int, rng: random.Random) -> bytes:
    """A 100 B JSON order, padded with spaces."""
    text = (
        f'{{"order":{index},"sku":"SKU-{rng.randrange(10**6):06d}",'
        f'"qty":{rng.randint(1, 9)},"price":{rng.randint(100, 99_999) / 100}}}'
    )
    return text.encode().ljust(BODY_SIZE)


def synthetic_flood(
    frames: int = FLOOD_FRAMES, heartbeats: int = HEARTBEATS, seed: int = SEED
) -> Capture:
    """A consume flood on channel 1 after the bundled recording's handshake.

    Channel.Open, Basic.Qos, Queue.Declare and Basic.Consume, then deliveries
    (Basic.Deliver, ContentHeader, one 100 B ContentBody) each acked by the
    client, a few heartbeats both ways, then Channel.Close and Connection.Close:
    exactly `frames` frames, the same every run, each delivery and each other
    frame in a chunk of its own. The capture has no engine log, so ReplayEngine
    steps it phase by phase and the flood is one step.
    """
    recording = load(bundled_recording())
    events = handshake(recording)
    closing = "Normal shutdown"
    opening: list[Item] = [
        (C2B, 1, commands.Channel.Open()),
        (B2C, 1, commands.Channel.OpenOk()),
        (C2B, 1, commands.Basic.Qos(prefetch_count=PREFETCH)),
        (B2C, 1, commands.Basic.QosOk()),
        (C2B, 1, commands.Queue.Declare(queue="", exclusive=True)),
        (B2C, 1, commands.Queue.DeclareOk(QUEUE, message_count=0, consumer_count=0)),
        (C2B, 1, commands.Basic.Consume(queue=QUEUE)),
        (B2C, 1, commands.Basic.ConsumeOk(consumer_tag=CONSUMER_TAG)),
    ]
    ending: list[Item] = [
        (C2B, 1, commands.Channel.Close(200, closing, 0, 0)),
        (B2C, 1, commands.Channel.CloseOk()),
        (C2B, 1, commands.Connection.Close(200, closing, 0, 0)),
        (B2C, 1, commands.Connection.CloseOk()),
    ]
    before = frame_count(Capture(url="", recorded="", events=list(events)))
    fixed = before + len(opening) + len(ending)
    beats = heartbeats + (frames - fixed - heartbeats) % 4
    messages = (frames - fixed - beats) // 4
    #: Heartbeat k goes before delivery beat_at[k]: both peers in turn.
    beat_at = [int((k + 0.5) * messages / beats) for k in range(beats)]
    plan = list(opening)
    for index in range(messages):
        while beat_at and beat_at[0] == index:
            beat_at.pop(0)
            plan.append((C2B if len(beat_at) % 2 else B2C, 0, heartbeat.Heartbeat()))
        plan += [(B2C, 1, DELIVER), (C2B, 1, ACK)]
    plan += ending
    t = events[-1].t
    for direction, sent in marshalled(plan, JsonOrders(random.Random(seed))):
        t += 20e-6
        events.append(Chunk(t, direction, b"".join(sent)))
    events.append(StreamEnd(t + 1e-3, C2B, "closed by the client"))
    events.append(StreamEnd(t + 1e-3, B2C, "the TCP connection closed"))
    capture = replace(recording, redactions=list(recording.redactions), events=events)
    assert frame_count(capture) == frames, frame_count(capture)
    return capture


class JsonOrders:
    """The flood's deliveries: one consumer, 100 B JSON orders, persistent."""

    def __init__(self, rng: random.Random) -> None:
        """Orders drawn from `rng`."""
        self.rng = rng

    def consumer_tag(self, channel: int) -> str:
        """The one consumer."""
        return CONSUMER_TAG

    def body(self, index: int) -> bytes:
        """Order `index`."""
        return message_body(index, self.rng)

    def properties(self, index: int) -> commands.Basic.Properties:
        """JSON, persistent."""
        return PROPERTIES


def frame_count(capture: Capture) -> int:
    """Frames in both directions of a capture."""
    return sum(isinstance(item, Frame) for d in Direction for item in capture.decode(d))


def wire_order(capture: Capture) -> list[Frame]:
    """Every frame of a capture in the order ReplayEngine tells a bare one."""
    decoded = [item for d in Direction for item in capture.decode(d)]
    frames = [item for item in decoded if isinstance(item, Frame)]
    return sorted(frames, key=lambda frame: (frame.t, frame.offset))


@dataclass(frozen=True, slots=True)
class Excerpt:
    """A few frames of a flood: its opening, a window from its middle, its close."""

    capture: Capture
    frames: int
    #: Where the window's last frame is, in the excerpt and in the flood.
    last: int
    last_in_flood: int


def excerpt(capture: Capture) -> Excerpt:
    """The flood's frames up to Basic.ConsumeOk, WINDOW frames from its middle,
    and its closing frames, one chunk per frame in the flood's order."""
    frames = wire_order(capture)
    opened = next(i for i, f in enumerate(frames) if f.name == "Basic.ConsumeOk")
    closing = next(
        i
        for i, frame in enumerate(frames)
        if frame.name in ("Channel.Close", "Connection.Close")
    )
    middle = (opened + closing) // 2
    kept = frames[: opened + 1] + frames[middle : middle + WINDOW] + frames[closing:]
    events: list[WireEvent] = [
        # New times keep the flood's order, whatever the chunks were.
        Chunk(index * 1e-5, frame.direction, frame.raw)
        for index, frame in enumerate(kept)
    ]
    small = replace(capture, redactions=list(capture.redactions), events=events)
    return Excerpt(small, len(kept), opened + WINDOW, middle + WINDOW - 1)


async def record_flood(address: str, messages: int) -> Capture:
    """A consume flood through the tap: fill a queue, then consume and ack it.

    A second, untapped connection publishes `messages` 100 B messages (with
    confirms) to a server-named exclusive queue of the tapped connection, which
    then consumes them with a prefetch of PREFETCH and acks each one. The tapped
    connection asks for a 1 s heartbeat, so it shows a few while it waits.
    """
    consumer_url = str(URL(address).update_query(heartbeat=HEARTBEAT_INTERVAL))
    tap = Tap()
    consumer = aiormq.Connection(
        consumer_url, transport_factory=TapTransportFactory(tap)
    )
    publisher = aiormq.Connection(address)
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT):
            await consumer.connect()
            await publisher.connect()
        async with asyncio.timeout(RECORD_TIMEOUT):
            channel = await consumer.channel(publisher_confirms=False)
            declared = await channel.queue_declare(exclusive=True)
            queue = declared.queue
            assert queue is not None
            out = await publisher.channel()
            rng = random.Random(SEED)
            for start in range(0, messages, PUBLISH_BATCH):
                await asyncio.gather(
                    *(
                        out.basic_publish(message_body(i, rng), routing_key=queue)
                        for i in range(start, min(start + PUBLISH_BATCH, messages))
                    )
                )
            await channel.basic_qos(prefetch_count=PREFETCH)
            done = asyncio.Event()
            acked = 0

            async def on_message(message: DeliveredMessage) -> None:
                nonlocal acked
                assert message.delivery_tag is not None
                await channel.basic_ack(message.delivery_tag)
                acked += 1
                if acked == messages:
                    done.set()

            await channel.basic_consume(queue, on_message)
            await done.wait()
            await consumer.close(exc=None)
    finally:
        for connection in (consumer, publisher):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(exc=None), timeout=3)
    capture = Capture(
        url=redact(consumer_url),
        recorded=datetime.now(UTC).isoformat(timespec="seconds"),
        client=f"aiormq {version('aiormq')}",
        client_address=tap.client_address,
        broker_address=tap.broker_address,
        events=list(tap.events),
    )
    redact_secrets(capture)
    return capture


@dataclass(frozen=True, slots=True)
class Flood:
    """A flood capture and how it was made."""

    capture: Capture
    frames: int
    #: Whether it was recorded from the broker (or built with pamqp).
    live: bool
    #: How it was made, in words.
    source: str


def flood() -> Flood:
    """About FLOOD_FRAMES frames recorded live if the broker answers in time,
    otherwise exactly FLOOD_FRAMES synthetic ones."""
    quiet_aiormq()
    address = url()
    messages = (FLOOD_FRAMES - LIVE_OVERHEAD) // 4
    started = perf_counter()
    try:
        capture = asyncio.run(record_flood(address, messages))
    except Exception as exc:  # whatever went wrong, the synthetic one will do
        reason = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    else:
        return Flood(
            capture,
            frame_count(capture),
            live=True,
            source=(
                f"recorded live from {redact(address)} through the tap in "
                f"{perf_counter() - started:.1f} s, {messages:,} messages "
                "delivered and acked"
            ),
        )
    started = perf_counter()
    capture = synthetic_flood()
    return Flood(
        capture,
        FLOOD_FRAMES,
        live=False,
        source=(
            f"synthetic, built in {perf_counter() - started:.1f} s "
            f"(no live recording from {redact(address)}: {reason})"
        ),
    )
