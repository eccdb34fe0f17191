"""The watch proxy's cost per round trip: a pika client direct, through Watch, through
`amqp-explorer watch --json`.

Owns the round trips (a confirmed publish, then Basic.Get of it, by pika's
BlockingConnection on a fresh connection per round), the ways the client
reaches the broker (direct; through explorer.engine.watched.Watch on a loop of
its own in this process; through `watch --json --connections 1` in a fresh
interpreter, its output to /dev/null, with and without the broker's view), and
the section's table and checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from functools import partial
from time import perf_counter
from typing import Final

import pika  # type: ignore[import-untyped]
from yarl import URL

from bench.cli import cached_bytecode
from bench.report import (
    Check,
    Samples,
    as_ratio,
    ceiling_check,
    heading,
    microseconds,
    rotation,
    table,
)
from bench.tap import url
from explorer.engine.events import EngineEvent
from explorer.engine.watched import Watch
from explorer.net.endpoint import redact
from explorer.net.proxy import upstream_for

#: Rounds per way; each opens a new connection.
ROUNDS: Final = 7
#: Timed round trips per round, after WARM_UP untimed ones.
ROUND_TRIPS: Final = 300
WARM_UP: Final = 50
BODY: Final = bytes(100)
#: Seconds a watch in a subprocess has to start listening, or to stop.
PROCESS_TIMEOUT: Final = 30.0
#: How `watch` names where it listens on stderr.
LISTENING: Final = re.compile(r"listening on (\S+), relaying")
#: Ceilings on each way's median round trip against the direct one.
WATCH_GOAL: Final = 3.0
CLI_GOAL: Final = 5.0

#: The rows: each way of reaching the broker.
DIRECT: Final = "direct to the broker"
IN_PROCESS: Final = "through Watch (in this process)"
CLI: Final = "through watch --json --no-broker-view"
CLI_VIEW: Final = "through watch --json (broker view on)"


def round_trips(address: str) -> list[float]:
    """Seconds per round trip on a fresh connection to `address`, ROUND_TRIPS of them.

    Each round trip publishes BODY with confirms (pika returns once the broker
    has acked it) to a server-named exclusive queue, then gets it back.
    """
    connection = pika.BlockingConnection(pika.URLParameters(address))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        queue = channel.queue_declare("", exclusive=True).method.queue

        def once() -> None:
            channel.basic_publish("", queue, BODY)
            _, _, got = channel.basic_get(queue, auto_ack=True)
            if got != BODY:
                raise RuntimeError(f"Basic.Get returned {got!r}, not the message")

        for _ in range(WARM_UP):
            once()
        times = []
        for _ in range(ROUND_TRIPS):
            start = perf_counter()
            once()
            times.append(perf_counter() - start)
    finally:
        connection.close()
    return times


def through(address: str, listening: str) -> str:
    """`address` with its host and port replaced by `listening` (``host:port``)."""
    host, _, port = listening.rpartition(":")
    return str(URL(address).with_host(host).with_port(int(port)))


@contextlib.contextmanager
def direct(address: str) -> Iterator[str]:
    """The broker itself."""
    yield address


@contextlib.contextmanager
def in_process(address: str) -> Iterator[str]:
    """A Watch on a loop in a thread of this process, following every event.

    On leaving, checks that the watched connection decoded every publish.
    """
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    told: list[EngineEvent] = []

    async def started() -> Watch:
        watch = Watch(
            upstream_for(address), lambda connection: None, lambda relay: told.append,
            follow=True,
        )  # fmt: skip
        await watch.start("127.0.0.1", 0)
        return watch

    watch = asyncio.run_coroutine_threadsafe(started(), loop).result()
    try:
        yield through(address, watch.address)
        (connection,) = watch.connections
        published = sum(f.name == "Basic.Publish" for f in connection.frames)
        if published != WARM_UP + ROUND_TRIPS or not told:
            raise RuntimeError(f"the Watch decoded {published} publishes")
    finally:
        asyncio.run_coroutine_threadsafe(watch.aclose(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


@contextlib.contextmanager
def watching(address: str, env: dict[str, str], *options: str) -> Iterator[str]:
    """`amqp-explorer watch --json --connections 1` on a free port, its output to
    /dev/null; on leaving, waits for it to exit 0 (the one connection ended)."""
    command = [
        sys.executable, "-m", "explorer", "watch", "--json", "--connections", "1",
        "--listen", "127.0.0.1:0", *options, address,
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True
    )
    assert process.stderr is not None
    try:
        first = process.stderr.readline()
        found = LISTENING.search(first)
        if found is None:
            raise RuntimeError(f"watch did not start listening: {first.strip()!r}")
        yield through(address, found[1])
        _, errors = process.communicate(timeout=PROCESS_TIMEOUT)
        if process.returncode != 0:
            raise RuntimeError(f"watch exited {process.returncode}: {errors.strip()}")
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def measure(
    ways: dict[str, Callable[[], AbstractContextManager[str]]],
) -> dict[str, Samples]:
    """Every round trip of ROUNDS rounds per way, the ways in rotation."""
    times: dict[str, list[float]] = {name: [] for name in ways}
    for name in rotation(list(ways), ROUNDS):
        gc.collect()
        with ways[name]() as address:
            times[name] += round_trips(address)
    return {name: Samples(tuple(values)) for name, values in times.items()}


def run() -> list[Check]:
    """Time the round trips each way, side by side; print the table, return checks."""
    logging.getLogger("pika").addHandler(logging.NullHandler())
    address = url()
    print(heading("watch: the watch proxy's cost per round trip, pika client"))
    with tempfile.TemporaryDirectory() as prefix:
        env = cached_bytecode(prefix)
        ways: dict[str, Callable[[], AbstractContextManager[str]]] = {
            DIRECT: partial(direct, address),
            IN_PROCESS: partial(in_process, address),
            CLI: partial(watching, address, env, "--no-broker-view"),
            CLI_VIEW: partial(watching, address, env),
        }
        with ways[CLI]() as warming:  # untimed: compiles and caches the bytecode
            round_trips(warming)
        results = measure(ways)
    base = results[DIRECT].median

    def rounds(samples: Samples) -> str:
        medians = [
            Samples(samples.values[i : i + ROUND_TRIPS]).median
            for i in range(0, len(samples.values), ROUND_TRIPS)
        ]
        return f"{min(medians) * 1e3:.2f}-{max(medians) * 1e3:.2f} ms"

    rows = [
        [
            name,
            microseconds(samples.median),
            microseconds(samples.p95),
            rounds(samples),
            as_ratio(samples.median / base),
        ]
        for name, samples in results.items()
    ]
    print(
        f"broker {redact(address)}; pika {pika.__version__} BlockingConnection, "
        f"{ROUNDS} interleaved rounds per way, each on a new connection: "
        f"{WARM_UP} untimed round trips, then {ROUND_TRIPS} timed; a round trip "
        f"is a confirmed publish of {len(BODY)} B and Basic.Get of it. Watch "
        "runs on an asyncio loop in a thread of this process (sharing its GIL "
        "with pika), following every event; `watch` runs in a fresh "
        "interpreter, its JSON lines to /dev/null, one per round, started "
        "untimed. Medians and p95 are of every timed round trip of the way."
    )
    print(
        table(
            ["round trip", "median", "p95", "round medians", "vs direct"],
            rows,
        )
    )

    def check(name: str, label: str, goal: float) -> Check:
        ratio = results[name].median / base
        return ceiling_check(f"watch: {label} / direct, median", ratio, goal, "x")

    return [
        check(IN_PROCESS, "Watch", WATCH_GOAL),
        check(CLI, "watch --json --no-broker-view", CLI_GOAL),
        check(CLI_VIEW, "watch --json", CLI_GOAL),
    ]
