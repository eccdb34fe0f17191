"""The explorer app under load, headless: a 100,000-frame flood, and startup.

Owns the flood capture (a consume flood recorded live through the tap, or built
from the bundled recording's handshake and pamqp-marshalled frames when no
broker answers), the paint clock that timestamps every screen update, and the
measurements: ingesting the flood into the frame list, memory growth,
keypress-to-repaint latency at 100k frames against a small excerpt of the
same flood (and the bundled recording), first paint against a bare Textual app,
and the import time of both. Each replay runs in a fresh interpreter
(``python -m bench.app RESULT``, the capture on stdin), so that it has a heap
of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import random
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from functools import partial
from importlib.metadata import version
from pathlib import Path
from time import perf_counter
from typing import Any, Final

import aiormq
from aiormq.abc import DeliveredMessage
from pamqp import base, body, commands, header, heartbeat
from pamqp import frame as pamqp_frame
from rich.console import RenderableType
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Footer, Header, Static
from yarl import URL

from bench.report import (
    Check,
    Samples,
    as_ratio,
    ceiling_check,
    heading,
    megabytes,
    milliseconds,
    per_second,
    table,
)
from bench.tap import quiet_aiormq, url
from explorer.net.endpoint import redact
from explorer.net.tap import Tap, TapTransportFactory
from explorer.protocol.frames import B2C, C2B, Direction, Frame
from explorer.protocol.stream import Chunk, StreamEnd, WireEvent
from explorer.recording.capture import Capture, dumps, load, loads, redact_secrets
from explorer.recording.replay import ReplayEngine, bundled_recording
from explorer.ui.app import ExplorerApp, replay
from explorer.ui.heap import HEAP
from explorer.ui.widgets.frame_list import FrameList

#: The terminal every app runs in.
SIZE: Final = (120, 40)
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
#: Untimed presses first, then the timed ones, from the last row of the walk:
#: every press moves the cursor.
WARM_UP_KEYS: Final = ("up", "down")
KEYS: Final = ("up",) * (WINDOW - 1) + ("down",) * (WINDOW - 1)
STARTUP_ROUNDS: Final = 7
IMPORT_ROUNDS: Final = 5
LATENCY_GOAL: Final = 2.0
MEMORY_GOAL_MB: Final = 200.0
STARTUP_GOAL: Final = 1.5


# The flood capture ---


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
    exactly `frames` frames, the same every run. The capture has no engine log,
    so ReplayEngine steps it phase by phase and the flood is one step.
    """
    recording = load(bundled_recording())
    events = handshake(recording)
    rng = random.Random(seed)
    t = events[-1].t
    queue, tag = "amq.gen-JzTY20BRgKO-HjmUJj0wLg", "amq.ctag-bench"

    def send(
        direction: Direction, *items: pamqp_frame.FrameTypes, channel: int = 1
    ) -> None:
        nonlocal t
        t += 20e-6
        data = b"".join(pamqp_frame.marshal(item, channel) for item in items)
        events.append(Chunk(t, direction, data))

    closing = "Normal shutdown"
    opening: list[tuple[Direction, base.Frame]] = [
        (C2B, commands.Channel.Open()),
        (B2C, commands.Channel.OpenOk()),
        (C2B, commands.Basic.Qos(prefetch_count=PREFETCH)),
        (B2C, commands.Basic.QosOk()),
        (C2B, commands.Queue.Declare(queue="", exclusive=True)),
        (B2C, commands.Queue.DeclareOk(queue, message_count=0, consumer_count=0)),
        (C2B, commands.Basic.Consume(queue=queue)),
        (B2C, commands.Basic.ConsumeOk(consumer_tag=tag)),
    ]
    ending: list[tuple[Direction, base.Frame]] = [
        (C2B, commands.Channel.Close(200, closing, 0, 0)),
        (B2C, commands.Channel.CloseOk()),
        (C2B, commands.Connection.Close(200, closing, 0, 0)),
        (B2C, commands.Connection.CloseOk()),
    ]
    before = frame_count(Capture(url="", recorded="", events=list(events)))
    fixed = before + len(opening) + len(ending)
    beats = heartbeats + (frames - fixed - heartbeats) % 4
    messages = (frames - fixed - beats) // 4
    for direction, method in opening:
        send(direction, method)
    properties = commands.Basic.Properties(
        content_type="application/json", delivery_mode=2
    )
    #: Heartbeat k goes before delivery beat_at[k]: both peers in turn.
    beat_at = [int((k + 0.5) * messages / beats) for k in range(beats)]
    for index in range(messages):
        while beat_at and beat_at[0] == index:
            beat_at.pop(0)
            send(C2B if len(beat_at) % 2 else B2C, heartbeat.Heartbeat(), channel=0)
        deliver = commands.Basic.Deliver(tag, index + 1, False, "", queue)
        content = header.ContentHeader(0, BODY_SIZE, properties)
        send(B2C, deliver, content, body.ContentBody(message_body(index, rng)))
        send(C2B, commands.Basic.Ack(delivery_tag=index + 1))
    for direction, method in ending:
        send(direction, method)
    events.append(StreamEnd(t + 1e-3, C2B, "closed by the client"))
    events.append(StreamEnd(t + 1e-3, B2C, "the TCP connection closed"))
    capture = Capture(
        url=recording.url,
        recorded=recording.recorded,
        broker=recording.broker,
        client=recording.client,
        client_address=recording.client_address,
        broker_address=recording.broker_address,
        redactions=list(recording.redactions),
        events=events,
    )
    assert frame_count(capture) == frames, frame_count(capture)
    return capture


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
    small = Capture(
        url=capture.url,
        recorded=capture.recorded,
        broker=capture.broker,
        client=capture.client,
        client_address=capture.client_address,
        broker_address=capture.broker_address,
        redactions=list(capture.redactions),
        events=events,
    )
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


# Measuring ---


class PaintClock:
    """Timestamps every screen update an app hands to its driver.

    Textual's App._display receives each compositor update after the widgets
    have rendered their lines; a headless app stops there instead of writing
    escape sequences to a terminal (and any app does during a batch update,
    which the clock skips). The clock wraps it on one app instance.
    """

    def __init__(self, app: App[Any]) -> None:
        """Start timing `app`'s paints (before it runs)."""
        self.times: list[float] = []
        #: The first paint once every widget was mounted (see `complete`).
        self.completed: float | None = None
        display = app._display

        def timed(screen: Screen[Any], renderable: RenderableType | None) -> None:
            display(screen, renderable)
            if renderable is None or app._batch_count:
                return
            now = perf_counter()
            self.times.append(now)
            if self.completed is None and complete(app):
                self.completed = now

        app._display = timed  # type: ignore[method-assign]

    def first_after(self, moment: float) -> float:
        """The first paint after `moment`."""
        return next(t for t in self.times if t > moment)


def complete(app: App[Any]) -> bool:
    """Whether every widget of `app` is mounted.

    The explorer paints its status line alone first, then mounts its panes
    and key bar in one batch update, so the first paint with its frame list
    mounted shows them all; any other app here composes all its widgets
    before its first paint.
    """
    return not isinstance(app, ExplorerApp) or app.frame_list.is_mounted


@dataclass(slots=True)
class Spans:
    """When a wrapped method ran: (start, end) per call."""

    spans: list[tuple[float, float]] = field(default_factory=list)

    def during(self, start: float, end: float) -> list[tuple[float, float]]:
        """The calls that began between `start` and `end`."""
        return [span for span in self.spans if start <= span[0] < end]


def clock_method(target: object, name: str, when: Callable[[], bool]) -> Spans:
    """Time every call of `target.name` that starts while `when()` is true."""
    spans = Spans()
    original = getattr(target, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        if not when():
            return original(*args, **kwargs)
        start = perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spans.spans.append((start, perf_counter()))

    setattr(target, name, timed)
    return spans


def clock_coroutine(target: object, name: str) -> Spans:
    """Time every await of the coroutine method `target.name`."""
    spans = Spans()
    original: Callable[..., Awaitable[Any]] = getattr(target, name)

    async def timed(*args: Any, **kwargs: Any) -> Any:
        start = perf_counter()
        try:
            return await original(*args, **kwargs)
        finally:
            spans.spans.append((start, perf_counter()))

    setattr(target, name, timed)
    return spans


class FullCollections:
    """The garbage collector's full (generation 2) collections while open."""

    def __init__(self) -> None:
        """Nothing seen yet."""
        self.pauses: list[float] = []
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = perf_counter()
        else:
            self.pauses.append(perf_counter() - self._started)

    def __enter__(self) -> FullCollections:
        """Start watching."""
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop watching."""
        gc.callbacks.remove(self._callback)


def rss() -> int:
    """Resident set size now, in bytes (Linux; elsewhere the peak so far)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def settled_rss() -> int:
    """RSS after a full garbage collection."""
    gc.collect()
    return rss()


@dataclass(frozen=True, slots=True)
class Session:
    """One explorer app replaying one capture to its end, then keys pressed."""

    frames: int
    rows: int
    steps: int
    #: Seconds to construct the app (ReplayEngine decodes the whole capture).
    construct: float
    #: Frames told by the biggest step.
    step_frames: int
    #: Biggest step: "n" pressed -> stepper.step() done -> _apply_pending()
    #: done -> first repaint after it, in seconds from the press.
    stepped: float
    applied: float
    ingested: float
    #: Every step, press to pause done, in seconds.
    stepping_wall: float
    #: Seconds each full garbage collection took while stepping.
    stepping_collections: tuple[float, ...]
    rss_before: int
    rss_built: int
    rss_after: int
    #: Keypress to the first repaint, and to the last repaint it caused.
    first: Samples
    settled: Samples
    #: Seconds each full garbage collection took during the timed keys.
    full_collections: tuple[float, ...]
    #: How many times explorer.ui.heap froze the heap, all told.
    freezes: int


async def explore(capture: Capture, frames: int, last: int | None = None) -> Session:
    """Replay `capture` (`frames` frames) in the explorer headless, step it
    through to the end, then press keys in the frame list, starting from the
    row of frame `last` (the last row if None)."""
    rss_before = settled_rss()
    started = perf_counter()
    app = ExplorerApp(partial(ReplayEngine, capture), source="bench")
    construct = perf_counter() - started
    # No animation: the lesson pane would scroll to each frame's section for
    # 0.2-0.3 s, the same whatever the frame count, and every frame of it would
    # count as the key's last repaint.
    app.animation_level = "none"
    clock = PaintClock(app)
    pending = app._pending
    applies = clock_method(app, "_apply_pending", lambda: bool(pending))
    steps = clock_coroutine(app.stepper, "step")
    #: Per step: pressed, done, frames in the list before and after.
    presses: list[tuple[float, float, int, int]] = []
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        frame_list = app.query_one(FrameList)
        listed = app._frames  # the frames among the list's rows
        rss_built = settled_rss()
        with FullCollections() as stepping:
            while not app.stepper.finished:
                pressed, before = perf_counter(), len(listed)
                await pilot.press("n")
                await app.workers.wait_for_complete()
                await pilot.pause()
                presses.append((pressed, perf_counter(), before, len(listed)))
        if app._pending or len(listed) != frames:
            raise RuntimeError(
                f"the frame list holds {len(listed):,} frames of "
                f"{frames:,}, {len(app._pending)} events pending"
            )
        rss_after = settled_rss()
        pressed, done, before, after = max(presses, key=lambda p: p[3] - p[2])
        step = steps.during(pressed, done)[-1]
        applied = applies.during(pressed, done)[-1]
        frame_list.focus()
        frame_list.select(
            frame_list.row_count - 1
            if last is None
            else row_of(frame_list, listed[last])
        )
        await pilot.pause()
        for key in WARM_UP_KEYS:
            await press(pilot, clock, key)
        with FullCollections() as collections:
            latencies = [await press(pilot, clock, key) for key in KEYS]
        app.exit()  # as a quit does: no timer fires while the screen goes away
    return Session(
        frames=len(listed),
        rows=frame_list.row_count,
        steps=len(presses),
        construct=construct,
        step_frames=after - before,
        stepped=step[1] - pressed,
        applied=applied[1] - pressed,
        ingested=clock.first_after(applied[1]) - pressed,
        stepping_wall=presses[-1][1] - presses[0][0],
        stepping_collections=tuple(stepping.pauses),
        rss_before=rss_before,
        rss_built=rss_built,
        rss_after=rss_after,
        first=Samples(tuple(first for first, _ in latencies)),
        settled=Samples(tuple(last for _, last in latencies)),
        full_collections=tuple(collections.pauses),
        freezes=HEAP.freezes,
    )


def row_of(frame_list: FrameList, item: Frame) -> int:
    """The row that shows `item` (rows fold runs of heartbeats)."""
    index = next(i for i, row in enumerate(frame_list.items) if row is item)
    for row in range(min(index, frame_list.row_count - 1), -1, -1):
        if frame_list.item_at(row) is item:
            return row
    raise LookupError(f"no row shows item {index}")


async def press(pilot: Pilot[Any], clock: PaintClock, key: str) -> tuple[float, float]:
    """Seconds from pressing `key` to the first and to the last repaint it caused.

    pilot.press returns once the app has handled the key and gone idle (it
    sleeps at least 40 ms on the way); pilot.pause then lets any last repaint
    happen. The paint clock says when the repaints really were.
    """
    mark = len(clock.times)
    pressed = perf_counter()
    await pilot.press(key)
    await pilot.pause()
    paints = clock.times[mark:]
    if not paints:
        raise RuntimeError(f"pressing {key!r} repainted nothing")
    return paints[0] - pressed, paints[-1] - pressed


# Startup ---


class BareApp(App[None]):
    """The baseline for startup: a Textual app with one Static widget."""

    def compose(self) -> ComposeResult:
        """One line of text."""
        yield Static("amqp-explorer")


class ChromeApp(App[None]):
    """For scale: Header, one Static and Footer (the reference's minimal app)."""

    def compose(self) -> ComposeResult:
        """The title bar, one line of text and the key bar."""
        yield Header()
        yield Static("amqp-explorer")
        yield Footer()


def explorer_app() -> App[Any]:
    """The explorer replaying the bundled recording, as the CLI would open it."""
    path = bundled_recording()
    return ExplorerApp(replay(path), source=str(path))


@dataclass(frozen=True, slots=True)
class Startup:
    """Seconds from constructing an app to four moments of its first run."""

    #: run_test handed over the pilot (the explorer may still be mounting its
    #: panes then: see `complete`).
    ready: float
    #: The first screen update reached the driver (the paint clock): what the
    #: user sees first.
    painted: float
    #: The first screen update once every widget was mounted: the whole app.
    completed: float
    #: The first call_after_refresh callback asked for once ready.
    refreshed: float


async def first_paint(make: Callable[[], App[Any]]) -> Startup:
    """Construct and run one app headless until its first refresh callback
    and its first paint complete."""
    started = perf_counter()
    app = make()
    clock = PaintClock(app)
    async with app.run_test(size=SIZE) as pilot:
        ready = perf_counter()
        refreshed = asyncio.Event()
        app.call_after_refresh(refreshed.set)
        await refreshed.wait()
        after_refresh = perf_counter()
        while clock.completed is None:
            await pilot.pause()
        app.exit()
    return Startup(
        ready - started,
        clock.times[0] - started,
        clock.completed - started,
        after_refresh - started,
    )


def startup_rounds(
    apps: dict[str, Callable[[], App[Any]]], rounds: int
) -> dict[str, list[Startup]]:
    """Each app once per round, rotating which goes first."""
    names = list(apps)
    out: dict[str, list[Startup]] = {name: [] for name in names}
    for round_ in range(rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            gc.collect()
            out[name].append(asyncio.run(first_paint(apps[name])))
    return out


IMPORT_CODE: Final = (
    "import time; start = time.perf_counter(); import {module}; "
    "print(time.perf_counter() - start)"
)


def import_rounds(modules: Sequence[str], rounds: int) -> dict[str, list[float]]:
    """Seconds to import each module in a fresh interpreter, once per round."""
    out: dict[str, list[float]] = {module: [] for module in modules}
    for round_ in range(rounds):
        order = modules if round_ % 2 == 0 else modules[::-1]
        for module in order:
            result = subprocess.run(
                [sys.executable, "-c", IMPORT_CODE.format(module=module)],
                capture_output=True,
                text=True,
                check=True,
            )
            out[module].append(float(result.stdout))
    return out


# Running and reporting ---


def explore_in_child(capture: str, frames: int, last: int | None) -> Session:
    """`explore` in a fresh interpreter, so that each app has a heap of its own
    (RSS, garbage collections) as it would when run on its own.

    Args:
        capture: The capture, as capture.dumps wrote it.
        frames: Frames in the capture.
        last: The frame the keys start from, as `explore` takes it.
    """
    with tempfile.TemporaryDirectory() as folder:
        result = Path(folder) / "session.json"
        subprocess.run(
            [sys.executable, "-m", "bench.app", str(result)],
            input=json.dumps({"capture": capture, "frames": frames, "last": last}),
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        record = json.loads(result.read_text(encoding="utf-8"))
    record["first"] = Samples(tuple(record["first"]["values"]))
    record["settled"] = Samples(tuple(record["settled"]["values"]))
    for name in ("stepping_collections", "full_collections"):
        record[name] = tuple(record[name])
    return Session(**record)


def child(result: Path) -> None:
    """The child's side of explore_in_child: arguments on stdin, the session
    as JSON in `result`."""
    job = json.loads(sys.stdin.read())
    capture, frames, last = loads(job.pop("capture")), job["frames"], job["last"]
    session = asyncio.run(explore(capture, frames, last))
    result.write_text(json.dumps(asdict(session)), encoding="utf-8")


def session_rows(sessions: Sequence[Session]) -> list[list[str]]:
    """The flood table's rows: one column per session."""

    def row(label: str, cell: Callable[[Session], str]) -> list[str]:
        return [label, *(cell(session) for session in sessions)]

    def times(samples: Samples) -> str:
        values = (samples.median, samples.p95, max(samples.values))
        return " / ".join(f"{value * 1e3:,.1f}" for value in values) + " ms"

    def collections(pauses: tuple[float, ...]) -> str:
        longest = f", longest {milliseconds(max(pauses))}" if pauses else ""
        return f"{len(pauses)}{longest}"

    return [
        row("frames (rows)", lambda s: f"{s.frames:,} ({s.rows:,})"),
        row("construct the app (decodes)", lambda s: milliseconds(s.construct)),
        row("biggest step: frames", lambda s: f"{s.step_frames:,}"),
        row("  n -> stepper.step() done", lambda s: milliseconds(s.stepped)),
        row("  n -> _apply_pending() done", lambda s: milliseconds(s.applied)),
        row("  n -> next repaint (ingested)", lambda s: milliseconds(s.ingested)),
        row("  ingest rate", lambda s: per_second(s.step_frames, s.ingested)),
        row(
            "all steps, wall (pilot waits)",
            lambda s: f"{s.steps} in {milliseconds(s.stepping_wall)}",
        ),
        row("  full GCs while stepping", lambda s: collections(s.stepping_collections)),
        row(
            "RSS before / built / stepped",
            lambda s: " / ".join(
                megabytes(v) for v in (s.rss_before, s.rss_built, s.rss_after)
            ),
        ),
        row("RSS growth", lambda s: megabytes(s.rss_after - s.rss_before)),
        row("key -> first repaint, med/p95/max", lambda s: times(s.first)),
        row("key -> last repaint, med/p95/max", lambda s: times(s.settled)),
        row("  full GCs during the keys", lambda s: collections(s.full_collections)),
        row("heap freezes (explorer.ui.heap)", lambda s: str(s.freezes)),
    ]


def flood_section() -> list[Check]:
    """The bundled recording, the flood's excerpt and the flood; print them."""
    print(heading("app: a 100,000-frame flood vs small captures, headless"))
    big = flood()
    size = sum(len(e.data) for e in big.capture.events if isinstance(e, Chunk))
    print(f"flood: {big.source}; {megabytes(size)} on the wire")
    frames, text = big.frames, dumps(big.capture)
    del big
    small = excerpt(loads(text))  # frame order exactly as the child will see it
    bundled = bundled_recording().read_text(encoding="utf-8")
    sessions = [
        explore_in_child(bundled, frame_count(loads(bundled)), None),
        explore_in_child(dumps(small.capture), small.frames, small.last),
        explore_in_child(text, frames, small.last_in_flood),
    ]
    print(
        f"Each app replays its capture at {SIZE[0]}x{SIZE[1]}, pressing n until "
        "the stepper is finished (each press: pilot.press, workers done, "
        f"pilot.pause), then {len(WARM_UP_KEYS)} untimed and {len(KEYS)} timed "
        f"presses in the frame list, up through {WINDOW} rows and down again: "
        "the last rows of the bundled recording; in the flood and in its "
        f"excerpt (the flood's frames up to Basic.ConsumeOk, {WINDOW} from its "
        "middle, its close) the same frames. Repaints are timed by the paint "
        "clock (each screen update handed to the driver), animations off. RSS "
        "is /proc/self/statm after gc.collect(); no tracemalloc (a traced run "
        "takes three times as long). Full GCs are the collector's generation-2 "
        "collections, our own included: explorer.ui.heap freezes the heap once "
        "the capture is loaded and again as it grows. Each app runs in a fresh "
        "interpreter."
    )
    print(
        table(
            ["", "bundled recording", "flood excerpt", "flood"],
            session_rows(sessions),
        )
    )
    _, small_session, flood_session = sessions
    return [
        ceiling_check(
            "app: key -> last repaint p95, flood / its excerpt",
            flood_session.settled.p95 / small_session.settled.p95,
            LATENCY_GOAL,
            "x",
        ),
        ceiling_check(
            "app: RSS growth, flood",
            (flood_session.rss_after - flood_session.rss_before) / 1e6,
            MEMORY_GOAL_MB,
            "MB",
        ),
    ]


def startup_section() -> list[Check]:
    """First paint of the explorer against a bare app, and import times."""
    print(heading("app: startup, explorer vs a bare Textual app"))
    apps: dict[str, Callable[[], App[Any]]] = {
        "bare App + one Static": BareApp,
        "Header + Static + Footer": ChromeApp,
        "explorer, bundled recording": explorer_app,
    }
    results = startup_rounds(apps, STARTUP_ROUNDS)
    stats = {name: moments(runs) for name, runs in results.items()}
    bare = stats["bare App + one Static"]
    rows = []
    for name, runs in results.items():
        app = stats[name]
        rows.append(
            [
                name,
                milliseconds(app["painted"].median),
                milliseconds(app["painted"].best),
                milliseconds(runs[0].painted),
                milliseconds(app["completed"].median),
                milliseconds(app["ready"].median),
                milliseconds(app["refreshed"].median),
                as_ratio(app["painted"].median / bare["painted"].median),
                as_ratio(app["completed"].median / bare["completed"].median),
            ]
        )
    print(
        "From constructing the app (for the explorer: loading the recording too) "
        "to its first paint (paint clock; the explorer's shows its status line), "
        "to its first paint complete (every widget mounted: the explorer mounts "
        "its panes and key bar right after its first paint; its lesson text "
        "follows, as it always has), to run_test's pilot (ready) and to the "
        "first call_after_refresh callback asked for then; "
        f"{STARTUP_ROUNDS} interleaved rounds in this process, round 1 the coldest."
    )
    print(
        table(
            [
                "first run at 120x40",
                "paint (median)",
                "(best)",
                "(round 1)",
                "complete",
                "ready",
                "after_refresh",
                "paint vs bare",
                "complete vs bare",
            ],
            rows,
        )
    )
    modules = ("textual.app", "explorer.ui.app")
    imports = import_rounds(modules, IMPORT_ROUNDS)
    print(
        table(
            [
                f"import in a fresh interpreter, {IMPORT_ROUNDS} rounds",
                "median",
                "best",
            ],
            [
                [
                    module,
                    milliseconds(Samples(tuple(values)).median),
                    milliseconds(Samples(tuple(values)).best),
                ]
                for module, values in imports.items()
            ],
        )
    )
    explorer = stats["explorer, bundled recording"]
    return [
        ceiling_check(
            "app: first paint, explorer / bare App, median",
            explorer["painted"].median / bare["painted"].median,
            STARTUP_GOAL,
            "x",
        )
    ]


def moments(runs: Sequence[Startup]) -> dict[str, Samples]:
    """Each moment of Startup ("painted", "completed", ...) over `runs`."""
    return {
        moment.name: Samples(tuple(getattr(run, moment.name) for run in runs))
        for moment in fields(Startup)
    }


def run() -> list[Check]:
    """Startup first (a small heap), then the flood; print them, return checks."""
    checks = startup_section()
    checks += flood_section()
    return checks


if __name__ == "__main__":
    child(Path(sys.argv[1]))
