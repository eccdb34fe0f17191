"""Tap overhead against the live broker: confirmed publishes, tapped and bare.

Owns the publish rounds (sequential, then a concurrent burst, of 100 B
confirmed publishes) and the comparison of an aiormq connection opened through
TapTransportFactory with a bare one to the same broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from time import perf_counter
from typing import Final

import aiormq
from aiormq.abc import AbstractChannel
from aiormq.exceptions import AMQPError

from bench.report import (
    Check,
    Samples,
    as_ratio,
    heading,
    microseconds,
    per_second,
    ratio_check,
    rotation,
    table,
)
from explorer.net.endpoint import redact
from explorer.net.tap import Tap, TapTransportFactory
from explorer.protocol.frames import Direction
from explorer.protocol.stream import Chunk

DEFAULT_URL: Final = "amqp://guest:guest@127.0.0.1:5672/"
#: Rounds per mode. One round's rate can be 30 % off the next on a small shared
#: machine (the broker runs on the same CPUs), so more than five are needed for
#: a median that repeats.
ROUNDS: Final = 10
MESSAGES: Final = 2_000
#: Untimed publishes on every new connection before the timed ones.
WARM_UP: Final = 200
BODY: Final = bytes(100)
#: Seconds to open a connection before the broker counts as unreachable.
CONNECT_TIMEOUT: Final = 10.0
MODES: Final = ("bare", "tap")
PATTERNS: Final = ("sequential", "burst")


class BrokerUnreachableError(Exception):
    """The broker cannot be reached or refuses us; the message is one line."""


@dataclass(slots=True)
class Publisher:
    """An open connection with a confirming channel and its own queue."""

    connection: aiormq.Connection
    channel: AbstractChannel
    queue: str
    tap: Tap | None

    async def publish(self) -> None:
        """One 100 B publish, returning when the broker has confirmed it."""
        confirmation = await self.channel.basic_publish(BODY, routing_key=self.queue)
        if not isinstance(confirmation, aiormq.spec.Basic.Ack):
            raise RuntimeError(f"the broker did not confirm a publish: {confirmation}")

    async def close(self) -> None:
        """Close the connection normally (the exclusive queue goes with it)."""
        await self.connection.close(exc=None)


def url() -> str:
    """$AMQP_URL, or the local guest account."""
    return os.environ.get("AMQP_URL") or DEFAULT_URL


async def open_publisher(address: str, tapped: bool) -> Publisher:
    """Connect (through a Tap if `tapped`), open a channel, declare a queue."""
    tap = Tap() if tapped else None
    factory = TapTransportFactory(tap) if tap is not None else None
    connection = aiormq.Connection(address, transport_factory=factory)
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT):
            await connection.connect()
            # connection.channel() turns publisher confirms on by default.
            channel = await connection.channel()
            declared = await channel.queue_declare(exclusive=True)
    except Exception as exc:
        with contextlib.suppress(Exception):  # already failing: just let go
            await asyncio.wait_for(connection.close(exc=None), timeout=3)
        raise BrokerUnreachableError(
            f"cannot use the broker at {redact(address)}: {_reason(exc)}"
        ) from None
    assert declared.queue is not None
    return Publisher(connection, channel, declared.queue, tap)


def _reason(exc: BaseException) -> str:
    """A few words for why connecting failed."""
    cause = exc.__cause__ or exc
    if isinstance(cause, TimeoutError):
        return f"no answer within {CONNECT_TIMEOUT:g} s"
    if isinstance(cause, socket.gaierror):
        return f"the host name does not resolve ({cause.strerror})"
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused (is RabbitMQ running?)"
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    return " ".join(str(exc).split()) or type(exc).__name__


async def sequential(publisher: Publisher) -> float:
    """Seconds for MESSAGES publishes, each awaited before the next."""
    start = perf_counter()
    for _ in range(MESSAGES):
        await publisher.publish()
    return perf_counter() - start


async def burst(publisher: Publisher) -> float:
    """Seconds for MESSAGES publishes started together and awaited together."""
    start = perf_counter()
    await asyncio.gather(*(publisher.publish() for _ in range(MESSAGES)))
    return perf_counter() - start


TIMED: Final[dict[str, Callable[[Publisher], Awaitable[float]]]] = {
    "sequential": sequential,
    "burst": burst,
}


async def one_round(address: str, tapped: bool) -> dict[str, float]:
    """A fresh connection: warm up, then time each publish pattern once."""
    publisher = await open_publisher(address, tapped)
    try:
        for _ in range(WARM_UP):
            await publisher.publish()
        times = {pattern: await TIMED[pattern](publisher) for pattern in PATTERNS}
    finally:
        await publisher.close()
    if publisher.tap is not None:
        _check_tap_saw(publisher.tap)
    return times


def _check_tap_saw(tap: Tap) -> None:
    """Make sure the tapped rounds really went through the tap."""
    sent = sum(
        len(event.data)
        for event in tap.events
        if isinstance(event, Chunk) and event.direction is Direction.CLIENT_TO_BROKER
    )
    least = (WARM_UP + MESSAGES * len(PATTERNS)) * len(BODY)
    if sent < least:
        raise RuntimeError(f"the tap saw {sent} bytes sent, expected at least {least}")


async def measure(address: str) -> dict[tuple[str, str], Samples]:
    """ROUNDS interleaved rounds per mode, alternating which mode goes first."""
    seconds: dict[tuple[str, str], list[float]] = {
        (mode, pattern): [] for mode in MODES for pattern in PATTERNS
    }
    for mode in rotation(MODES, ROUNDS):
        times = await one_round(address, tapped=mode == "tap")
        for pattern, value in times.items():
            seconds[mode, pattern].append(value)
    return {key: Samples(tuple(values)) for key, values in seconds.items()}


def quiet_aiormq() -> None:
    """Keep aiormq's own log lines (it logs a failed connect) off the screen.

    The benchmark reports failures itself, in one line.
    """
    logger = logging.getLogger("aiormq")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())


async def _probe(address: str) -> None:
    publisher = await open_publisher(address, tapped=False)
    await publisher.close()


def check_broker() -> None:
    """Open and close one connection, so that a missing broker shows at once.

    Raises:
        BrokerUnreachableError: the broker cannot be connected to.
    """
    quiet_aiormq()
    asyncio.run(_probe(url()))


def run() -> list[Check]:
    """Measure both modes against the broker, print them, return the checks.

    Raises:
        BrokerUnreachableError: the broker cannot be connected to.
    """
    quiet_aiormq()
    address = url()
    print(heading("tap: confirmed publishes through TapTransportFactory vs bare"))
    print(
        f"broker {redact(address)}; {ROUNDS} interleaved rounds per mode, each on a "
        f"new connection: {WARM_UP} untimed publishes, {MESSAGES:,} sequential, "
        f"then a burst of {MESSAGES:,} with asyncio.gather; {len(BODY)} B bodies"
    )
    try:
        results = asyncio.run(measure(address))
    except (AMQPError, OSError) as exc:  # the broker went away mid-run
        raise BrokerUnreachableError(
            f"lost the broker at {redact(address)}: {_reason(exc)}"
        ) from None
    rows = []
    checks = []
    for pattern in PATTERNS:
        bare = results["bare", pattern]
        for mode in MODES:
            samples = results[mode, pattern]
            rows.append(
                [
                    f"{pattern}, {mode}",
                    per_second(MESSAGES, samples.median),
                    microseconds(samples.median / MESSAGES),
                    per_second(MESSAGES, samples.best),
                    f"{MESSAGES / max(samples.values):,.0f}-"
                    f"{MESSAGES / min(samples.values):,.0f}/s",
                    as_ratio(bare.median / samples.median),
                    as_ratio(bare.best / samples.best),
                ]
            )
        tap = results["tap", pattern]
        checks.append(
            ratio_check(f"tap / bare, {pattern}, median", bare.median / tap.median)
        )
    print(
        table(
            [
                "confirmed publishes",
                "median msg/s",
                "per msg",
                "best msg/s",
                "all rounds",
                "vs bare (median)",
                "(best)",
            ],
            rows,
        )
    )
    return checks
