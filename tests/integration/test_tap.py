"""The tap on aiormq: every byte seen, nothing changed, writes held on demand."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiormq
import pytest
from aiormq.exceptions import AMQPError
from yarl import URL

from explorer.net.tap import Tap, TapTransportFactory
from explorer.protocol import Direction, Frame
from explorer.protocol.frames import B2C, C2B
from explorer.protocol.stream import Chunk
from explorer.recording.capture import Capture


def decoded(tap: Tap, direction: Direction) -> list[Frame]:
    capture = Capture(url="", recorded="", events=list(tap.events))
    items = capture.decode(direction)
    assert all(isinstance(i, Frame) for i in items)
    return [i for i in items if isinstance(i, Frame)]


def sent(tap: Tap, direction: Direction) -> int:
    return sum(
        len(e.data)
        for e in tap.events
        if isinstance(e, Chunk) and e.direction is direction
    )


@pytest.fixture
async def tapped(broker_url: str) -> AsyncIterator[tuple[Tap, aiormq.Connection]]:
    tap = Tap()
    connection = aiormq.Connection(
        broker_url, transport_factory=TapTransportFactory(tap)
    )
    yield tap, connection
    if not connection.is_closed:
        await connection.close(exc=None)


async def test_tap_counts_match_the_brokers_socket_counters(
    tapped: tuple[Tap, aiormq.Connection], ctl: Callable[..., str]
) -> None:
    tap, connection = tapped
    await connection.connect()
    channel = await connection.channel()
    await channel.queue_declare(exclusive=True)
    port = tap.client_address.rsplit(":", 1)[1]
    rows = await asyncio.to_thread(
        ctl, "list_connections", "peer_port", "recv_oct", "send_oct"
    )
    ours = [line.split() for line in rows.splitlines() if line.split()[:1] == [port]]
    assert len(ours) == 1, rows
    _, received, sent_by_broker = ours[0]
    assert int(received) == sent(tap, C2B)
    assert int(sent_by_broker) == sent(tap, B2C)


async def test_held_writes_leave_only_when_released(
    tapped: tuple[Tap, aiormq.Connection],
) -> None:
    tap, connection = tapped
    answered = asyncio.Event()
    tap.listeners.append(
        lambda event: answered.set() if event.direction is B2C else None
    )
    tap.hold()
    connecting = asyncio.create_task(connection.connect())
    for expected in ("ProtocolHeader", "Connection.StartOk", "Connection.TuneOk"):
        await asyncio.wait_for(tap.wait_held(), timeout=5)
        await asyncio.sleep(0.1)  # time for a broker that wrongly got bytes to answer
        assert sent(tap, C2B) == sum(len(f.raw) for f in decoded(tap, C2B))
        assert not answered.is_set(), "the broker answered a write still held"
        released = tap.release()
        assert released.startswith(b"AMQP") == (expected == "ProtocolHeader")
        if expected != "Connection.TuneOk":  # TuneOk has no reply
            await asyncio.wait_for(answered.wait(), timeout=5)
            answered.clear()
    await asyncio.wait_for(tap.wait_held(), timeout=5)  # Connection.Open
    assert [f.name for f in decoded(tap, C2B)][-1] == "Connection.TuneOk"
    assert not connecting.done()
    tap.flow()
    await asyncio.wait_for(connecting, timeout=5)
    assert tap.held == 0
    assert [f.name for f in decoded(tap, C2B)] == [
        "ProtocolHeader", "Connection.StartOk", "Connection.TuneOk", "Connection.Open",
    ]  # fmt: skip
    with pytest.raises(LookupError):
        tap.release()


async def hold_open(url: str, tap: Tap, seconds: float) -> aiormq.Connection:
    """Connect with Connection.Open held for `seconds` after TuneOk."""
    connection = aiormq.Connection(url, transport_factory=TapTransportFactory(tap))
    tap.hold()
    connecting = asyncio.create_task(connection.connect())
    for _ in range(3):  # header, StartOk, TuneOk
        await asyncio.wait_for(tap.wait_held(), timeout=5)
        tap.release()
        await asyncio.sleep(0.05)
    await asyncio.wait_for(tap.wait_held(), timeout=5)
    await asyncio.sleep(seconds)
    tap.flow()
    try:
        await asyncio.wait_for(connecting, timeout=5)
    finally:
        if not connecting.done():
            connecting.cancel()
    return connection


async def test_broker_heartbeat_during_handshake_is_shown_but_kept_from_aiormq(
    broker_url: str,
) -> None:
    url = str(URL(broker_url).update_query(heartbeat=1))
    tap = Tap()
    connection = await hold_open(url, tap, 1.2)
    try:
        names = [f.name for f in decoded(tap, B2C)]
        assert "Heartbeat" in names[: names.index("Connection.OpenOk")]
    finally:
        await connection.close(exc=None)


async def test_without_hiding_aiormq_mistakes_the_heartbeat_for_open_ok(
    broker_url: str,
) -> None:
    url = str(URL(broker_url).update_query(heartbeat=1))
    with pytest.raises(AMQPError, match=r"Connection\.OpenOk"):
        await hold_open(url, Tap(hide_handshake_heartbeats=False), 1.2)


async def test_tap_sees_plaintext_under_tls(
    broker_url: str, tls_relay: tuple[int, Path]
) -> None:
    """A TLS terminator in front of the real broker: the tap still sees frames."""
    port, cert = tls_relay
    upstream = URL(broker_url)
    tap = Tap()
    url = f"amqps://{upstream.user}:{upstream.password}@localhost:{port}/?cafile={cert}"
    connection = aiormq.Connection(url, transport_factory=TapTransportFactory(tap))
    await asyncio.wait_for(connection.connect(), timeout=10)
    await connection.channel()
    await connection.close(exc=None)
    assert [f.name for f in decoded(tap, C2B)][:4] == [
        "ProtocolHeader", "Connection.StartOk", "Connection.TuneOk", "Connection.Open",
    ]  # fmt: skip
    assert "Connection.OpenOk" in [f.name for f in decoded(tap, B2C)]
