"""Decoder and byte-map speed on a seeded 100,000-frame stream, no broker needed.

Owns the benchmark stream (planned here, built by bench.stream), the comparison of
FrameDecoder.feed with bare pamqp.frame.unmarshal, and the byte-map timings.
The byte map reads tables only when looked at, so each frame is timed three
ways: byte_map alone, the first screen the hex view paints (the leaves of the
first SCREEN_BYTES), and every leaf (what a walk of the whole map costs).
"""

from __future__ import annotations

import datetime
import random
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from time import perf_counter
from typing import Final

from pamqp import base, body, commands, header, heartbeat
from pamqp import frame as pamqp_frame

from bench.report import (
    Check,
    Samples,
    as_ratio,
    heading,
    interleaved,
    megabytes_per_second,
    microseconds,
    milliseconds,
    per_second,
    ratio_check,
    table,
    time_check,
)
from bench.stream import ACK, DELIVER, Item, marshalled
from bench.stress import (
    decoded,
    flag_words_header,
    frame_max_body,
    frame_max_headers,
    nested_start,
)
from explorer.protocol.bytemap import byte_map
from explorer.protocol.decoder import FrameDecoder
from explorer.protocol.frames import B2C, C2B, Direction, Frame

SEED: Final = 91
ROUNDS: Final = 5
DELIVERIES: Final = 25_000
ACKS: Final = 20_000
HEARTBEATS: Final = 4_000
#: Connection.Start plus 999 channel-setup and publish methods.
MISC: Final = 1_000
FRAME_COUNT: Final = 3 * DELIVERIES + ACKS + HEARTBEATS + MISC
SMALL_BODY: Final = 100
LARGE_BODY: Final = 10 * 1024
#: 70 % of the bodies are small.
SMALL_SHARE: Final = 0.7
CHANNELS: Final = 4
#: Chunk sizes for the decoder rows; 0 means random sizes of 1-1500 bytes.
CHUNK_SIZES: Final = (64 * 1024, 4 * 1024, 0)
BYTE_MAP_GOAL_MS: Final = 1.0
#: Bytes of a frame the hex view shows on its first screen: 64 lines of 16.
SCREEN_BYTES: Final = 1024
#: How many of the slowest byte maps of the single pass are timed again.
RETIME: Final = 10
#: How many times each byte map that is timed again is built.
REPEATS: Final = 21
#: When the first delivery was sent: each one after it is a second later.
SENT: Final = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)

#: What RabbitMQ 3.10.8 sends in Connection.Start (from tests/captures).
SERVER_PROPERTIES: Final[dict[str, object]] = {
    "capabilities": {
        "publisher_confirms": True,
        "exchange_exchange_bindings": True,
        "basic.nack": True,
        "consumer_cancel_notify": True,
        "connection.blocked": True,
        "consumer_priorities": True,
        "authentication_failure_close": True,
        "per_consumer_qos": True,
        "direct_reply_to": True,
    },
    "cluster_name": "rabbit@vm",
    "copyright": "Copyright (c) 2007-2022 VMware, Inc. or its affiliates.",
    "information": "Licensed under the MPL 2.0. Website: https://rabbitmq.com",
    "platform": "Erlang/OTP 25.2.3",
    "product": "RabbitMQ",
    "version": "3.10.8",
}


def connection_start() -> commands.Connection.Start:
    """The Connection.Start RabbitMQ 3.10.8 sends, at its real size."""
    return commands.Connection.Start(
        server_properties=SERVER_PROPERTIES,  # type: ignore[arg-type]
        mechanisms="PLAIN AMQPLAIN",
        locales="en_US",
    )


def build_stream(seed: int = SEED) -> list[bytes]:
    """The benchmark stream as a list of marshalled frames, the same every run.

    Connection.Start comes first; then deliveries (Basic.Deliver, ContentHeader,
    ContentBody back to back on one channel), acks, heartbeats and channel setup
    are shuffled together the way a busy consumer connection interleaves them.
    """
    rng = random.Random(seed)
    kinds = (
        [DELIVER] * DELIVERIES
        + [ACK] * ACKS
        + ["heartbeat"] * HEARTBEATS
        + ["misc"] * (MISC - 1)
    )
    rng.shuffle(kinds)
    misc = _misc_methods()
    plan: list[Item] = [(B2C, 0, connection_start())]
    for index, kind in enumerate(kinds):
        channel = rng.randint(1, CHANNELS)
        if kind == "heartbeat":
            plan.append((B2C, 0, heartbeat.Heartbeat()))
        elif kind == "misc":
            plan.append((B2C, channel, misc[index % len(misc)]))
        else:
            plan.append((C2B if kind == ACK else B2C, channel, kind))
    frames = [raw for _, sent in marshalled(plan, Orders(rng)) for raw in sent]
    assert len(frames) == FRAME_COUNT, len(frames)
    return frames


class Orders:
    """The stream's deliveries: 70 % of bodies small, six properties each."""

    def __init__(self, rng: random.Random) -> None:
        """Bodies of shuffled sizes and random bytes from `rng`."""
        small = round(DELIVERIES * SMALL_SHARE)
        self.sizes = [SMALL_BODY] * small + [LARGE_BODY] * (DELIVERIES - small)
        rng.shuffle(self.sizes)
        self.rng = rng

    def consumer_tag(self, channel: int) -> str:
        """A consumer per channel."""
        return f"amq.ctag-bench{channel}"

    def body(self, index: int) -> bytes:
        """Random bytes, small or large."""
        return self.rng.randbytes(self.sizes[index])

    def properties(self, index: int) -> commands.Basic.Properties:
        """JSON, persistent, with headers, ids and a timestamp."""
        return commands.Basic.Properties(
            content_type="application/json",
            delivery_mode=2,
            headers={"attempt": 1 + index % 3, "source": "bench", "traced": True},
            correlation_id=f"corr-{index:08d}",
            message_id=f"msg-{index:08d}",
            timestamp=SENT + datetime.timedelta(seconds=index),
        )


def _misc_methods() -> list[base.Frame]:
    """Opening a channel, declaring a queue and publishing, in that order."""
    arguments = {
        "x-queue-type": "classic",
        "x-message-ttl": 60_000,
        "x-max-length": 10_000,
        "x-dead-letter-exchange": "dlx",
    }
    return [
        commands.Channel.Open(),
        commands.Channel.OpenOk(),
        commands.Queue.Declare(
            queue="bench.orders",
            durable=True,
            arguments=arguments,  # type: ignore[arg-type]
        ),
        commands.Queue.DeclareOk(
            queue="bench.orders", message_count=0, consumer_count=0
        ),
        commands.Basic.Publish(exchange="", routing_key="bench.orders"),
    ]


def chunks(stream: bytes, size: int, seed: int = SEED) -> list[bytes]:
    """The stream cut into `size`-byte chunks, or random 1-1500 B ones if 0."""
    if size:
        return [stream[i : i + size] for i in range(0, len(stream), size)]
    rng = random.Random(seed)
    out, pos = [], 0
    while pos < len(stream):
        step = rng.randint(1, 1500)
        out.append(stream[pos : pos + step])
        pos += step
    return out


def chunk_label(size: int) -> str:
    """How a chunk size is named in the tables."""
    return f"{size // 1024} KiB chunks" if size else "random 1-1500 B chunks"


def time_unmarshal(frames: list[bytes]) -> float:
    """Seconds for bare pamqp.frame.unmarshal over the pre-split frames."""
    unmarshal = pamqp_frame.unmarshal
    start = perf_counter()
    for raw in frames:
        unmarshal(raw)
    return perf_counter() - start


def time_decoder(pieces: list[bytes]) -> float:
    """Seconds for one FrameDecoder fed every chunk; checks it got every frame."""
    decoder = FrameDecoder(Direction.BROKER_TO_CLIENT)
    feed = decoder.feed
    count = 0
    start = perf_counter()
    for piece in pieces:
        count += len(feed(piece))
    elapsed = perf_counter() - start
    if count != FRAME_COUNT or decoder.pending or decoder.failure is not None:
        raise RuntimeError(f"the decoder returned {count} of {FRAME_COUNT} frames")
    return elapsed


def decode_rows(frames: list[bytes], stream: bytes) -> list[Check]:
    """Time pamqp and the decoder side by side; print the table, return checks."""
    baseline = "pamqp.frame.unmarshal, pre-split frames"
    modes: dict[str, Callable[[], float]] = {baseline: lambda: time_unmarshal(frames)}
    for size in CHUNK_SIZES:
        pieces = chunks(stream, size)
        modes[f"FrameDecoder.feed, {chunk_label(size)}"] = partial(time_decoder, pieces)
    results = interleaved(modes, ROUNDS)
    base = results[baseline]
    rows = []
    for name, samples in results.items():
        rows.append(
            [
                name,
                milliseconds(samples.best),
                milliseconds(samples.median),
                per_second(FRAME_COUNT, samples.best),
                megabytes_per_second(len(stream), samples.best),
                as_ratio(base.best / samples.best),
                as_ratio(base.median / samples.median),
            ]
        )
    print(
        table(
            [
                f"{ROUNDS} interleaved rounds",
                "best",
                "median",
                "frame rate (best)",
                "MB/s (best)",
                "vs pamqp (best)",
                "(median)",
            ],
            rows,
        )
    )
    main = results[f"FrameDecoder.feed, {chunk_label(CHUNK_SIZES[0])}"]
    return [
        ratio_check("decoder / pamqp, 64 KiB chunks, best", base.best / main.best),
        ratio_check(
            "decoder / pamqp, 64 KiB chunks, median", base.median / main.median
        ),
    ]


def time_byte_map(frame: Frame, repeats: int, upto: int | None = 0) -> Samples:
    """Seconds per byte_map(frame), once per repeat.

    With `upto`, the leaves of the first `upto` bytes are read too (None: every
    leaf), as the hex view and a walk of the whole map read them.
    """
    times = []
    for _ in range(repeats):
        start = perf_counter()
        root = byte_map(frame)
        if upto != 0:
            for _leaf in root.leaves(0, upto):
                pass
        times.append(perf_counter() - start)
        del root  # freed outside the timing
    return Samples(tuple(times))


def label(frame: Frame) -> str:
    """A frame's name, with the body size for content bodies."""
    if isinstance(frame.payload, body.ContentBody):
        return f"ContentBody {len(frame.payload.value):,} B"
    return frame.name


def stream_byte_maps(stream: bytes) -> tuple[Frame, Samples]:
    """Time the byte map of every frame of the stream once; print per kind.

    Returns:
        The frame whose byte map is slowest when timed again, and those times.
    """
    frames = decoded(stream)
    single: list[tuple[float, int]] = []
    for index, frame in enumerate(frames):
        start = perf_counter()
        byte_map(frame)
        single.append((perf_counter() - start, index))
    per_label: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for seconds, index in single:
        per_label[label(frames[index])].append((seconds, index))

    def mean(calls: list[tuple[float, int]]) -> float:
        return sum(seconds for seconds, _ in calls) / len(calls)

    rows = [
        [
            name,
            f"{len(calls):,}",
            microseconds(mean(calls)),
            microseconds(max(calls)[0]),
        ]
        for name, calls in sorted(per_label.items(), key=lambda item: -mean(item[1]))
    ]
    print(table(["byte_map, one pass over the stream", "frames", "mean", "max"], rows))
    total = sum(seconds for seconds, _ in single)
    worst_single, worst_index = max(single)
    print(
        f"all {len(frames):,} byte maps: {milliseconds(total)}; slowest single call: "
        f"{microseconds(worst_single)} ({label(frames[worst_index])}, "
        f"{frames[worst_index].size:,} B), which includes any GC pause or preemption"
    )
    # Time again the slowest calls overall and the slowest of each kind, to
    # tell a costly frame from a disturbed call.
    candidates = {index for _, index in sorted(single, reverse=True)[:RETIME]}
    candidates |= {max(calls)[1] for calls in per_label.values()}
    retimed = [(time_byte_map(frames[i], REPEATS), frames[i]) for i in candidates]
    samples, slowest = max(retimed, key=lambda pair: pair[0].median)
    return slowest, samples


def byte_map_rows(stream: bytes) -> list[Check]:
    """Time the byte maps of the stream and of the largest frames."""
    slowest, samples = stream_byte_maps(stream)
    # Timed after the stream's frames are freed: a garbage collection that has
    # to walk 100,000 live frames would otherwise land in these timings.
    (start,) = decoded(pamqp_frame.marshal(connection_start(), 0))
    stress = frame_max_headers()
    assert isinstance(stress.payload, header.ContentHeader)
    entries = len(stress.payload.properties.headers or {})
    cases = [
        (f"slowest stream frame: {label(slowest)}", slowest, samples),
        ("Connection.Start, real size", start, time_byte_map(start, REPEATS)),
    ]
    for name, frame in [
        ("ContentBody filling frame_max", frame_max_body()),
        (f"stress: {entries:,}-entry headers table", stress),
        ("stress: tables nested to fill frame_max", nested_start()),
        ("stress: flag words filling frame_max", flag_words_header()),
    ]:
        cases.append((name, frame, time_byte_map(frame, REPEATS)))
    screens = [time_byte_map(f, REPEATS, SCREEN_BYTES) for _, f, _ in cases]
    walks = [time_byte_map(f, REPEATS, None) for _, f, _ in cases]
    print(
        table(
            [
                f"byte_map, median of {REPEATS}",
                "size",
                "byte_map",
                f"+ first {SCREEN_BYTES:,} B of leaves",
                "+ every leaf",
            ],
            [
                [
                    name,
                    f"{f.size:,} B",
                    microseconds(s.median),
                    microseconds(screen.median),
                    microseconds(walk.median),
                ]
                for (name, f, s), screen, walk in zip(
                    cases, screens, walks, strict=True
                )
            ],
        )
    )
    checks = [
        time_check(f"byte map: {name}, median", s.median, BYTE_MAP_GOAL_MS)
        for name, _, s in cases
    ]
    return checks + [
        time_check(
            f"byte map + first screen: {name}, median", s.median, BYTE_MAP_GOAL_MS
        )
        for (name, _, _), s in zip(cases, screens, strict=True)
    ]


def run() -> list[Check]:
    """Build the stream, run every decode and byte-map measurement, print them."""
    print(heading("decode: FrameDecoder vs pamqp.frame.unmarshal"))
    started = perf_counter()
    frames = build_stream()
    stream = b"".join(frames)
    print(
        f"stream: {len(frames):,} frames, {len(stream) / 1e6:.1f} MB, seed {SEED} "
        f"(built in {perf_counter() - started:.1f} s)"
    )
    checks = decode_rows(frames, stream)
    print(heading("decode: byte maps"))
    checks += byte_map_rows(stream)
    return checks
