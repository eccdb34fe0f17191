"""The tap: aiormq's transport, watched and held.

Owns `Tap` and `TapTransportFactory`. aiormq opens its connection through the
factory, so the tap sees every byte both ways exactly as it is handed to or
from the transport (plaintext, also under TLS), with a timestamp, and how each
direction ends: when the client closes, the socket is half-closed and kept
open for the broker's answer (its FIN, or the reset RabbitMQ sends). The tap can
hold the client's writes and release them one at a time, and it can keep the
broker's heartbeats from aiormq until Connection.OpenOk (aiormq would take one
for the reply to Connection.Open) while still recording them.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable
from contextlib import suppress
from typing import Any, Final, Protocol, SupportsIndex

from aiormq.connection import DEFAULT_PORTS, TransportFactory
from aiormq.exceptions import AMQPConnectionError
from yarl import URL

from explorer.protocol.decoder import FrameDecoder
from explorer.protocol.dialect import ends_handshake
from explorer.protocol.frames import Direction, Frame
from explorer.protocol.stream import RESET_BY_BROKER, Chunk, StreamEnd, WireEvent

WireListener = Callable[[WireEvent], None]


class Sender(Protocol):
    """Where a released client write goes: the writer toward the broker."""

    def send(self, data: bytes) -> None:
        """Record `data` and hand it to the broker's transport."""


#: Seconds the tap waits, after the client's FIN, for the broker's FIN or reset
#: before it closes the socket anyway.
CLOSE_GRACE: Final = 1.0


class Tap:
    """Records what crosses one connection and can hold the client's writes."""

    def __init__(self, hide_handshake_heartbeats: bool = True) -> None:
        """Make a tap with nothing seen yet and writes flowing.

        Args:
            hide_handshake_heartbeats: keep broker heartbeats that arrive before
                Connection.OpenOk from aiormq (they are still recorded); False
                for an AMQP 1.0 client (a 0-9-1 decoder would misread its
                broker's frames) and for a proxy.
        """
        self.events: list[WireEvent] = []
        #: Directions whose end has been recorded.
        self.ended: set[Direction] = set()
        #: Called with every chunk and stream end, as it happens.
        self.listeners: list[WireListener] = []
        #: Called whenever a client write is held.
        self.hold_listeners: list[Callable[[], None]] = []
        self.client_address = ""
        self.broker_address = ""
        self._start = time.perf_counter()
        self._holding = False
        self._held: deque[bytes] = deque()
        self._held_changed = asyncio.Event()
        self._writer: Sender | None = None
        #: The transport aiormq reads and writes, once connected.
        self.transport: asyncio.BaseTransport | None = None
        #: Why the transport could not be made (a TLS failure, say), if it could not.
        self.connect_error: OSError | None = None
        self._handshake: FrameDecoder | None = (
            FrameDecoder(Direction.BROKER_TO_CLIENT)
            if hide_handshake_heartbeats
            else None
        )

    def now(self) -> float:
        """Seconds since the tap was made: the capture's clock."""
        return time.perf_counter() - self._start

    def record(self, event: WireEvent) -> None:
        """Keep an event and tell every listener."""
        if isinstance(event, StreamEnd):
            if event.direction in self.ended:
                return
            self.ended.add(event.direction)
        self.events.append(event)
        for listener in self.listeners:
            listener(event)

    # Holding the client's writes ------------------------------------------------

    @property
    def held(self) -> int:
        """Client writes waiting to be released."""
        return len(self._held)

    def hold(self) -> None:
        """From now on keep each client write until `release` sends it."""
        self._holding = True

    def flow(self) -> None:
        """Send everything held, and stop holding."""
        self._holding = False
        while self._held:
            self.release()

    def release(self) -> bytes:
        """Send the oldest held write to the broker and return it.

        Raises:
            LookupError: nothing is held.
        """
        if not self._held:
            raise LookupError("no client write is being held")
        data = self._held.popleft()
        if self._writer is not None:
            self._writer.send(data)
        self._held_changed.set()
        return data

    async def wait_held(self, count: int = 1) -> None:
        """Wait until at least `count` client writes are held."""
        while len(self._held) < count:
            self._held_changed.clear()
            await self._held_changed.wait()

    def attach(self, writer: Sender) -> None:
        """Send released writes through `writer` (once the broker is reached)."""
        self._writer = writer

    def client_wrote(self, data: bytes) -> bool:
        """Hold a client write if holding; True when it may go out now."""
        if not self._holding:
            return True
        self._held.append(bytes(data))
        self._held_changed.set()
        for listener in self.hold_listeners:
            listener()
        return False

    # What aiormq reads ------------------------------------------------------------

    def _for_client(self, data: bytes) -> bytes:
        """The part of a broker chunk that aiormq should read now."""
        decoder = self._handshake
        if decoder is None:
            return data
        items = decoder.feed(data)
        if decoder.stopped:  # not AMQP after all: let aiormq see it
            self._handshake = None
            return data
        kept = []
        for item in items:
            if not isinstance(item, Frame):
                continue
            if self._handshake is not None and item.name == "Heartbeat":
                continue
            kept.append(item.raw)
            if ends_handshake(item):
                self._handshake = None  # handshake over: pass everything on
        if self._handshake is None and decoder.pending:
            kept.append(data[-decoder.pending :])
        return b"".join(kept)


class TapReader(asyncio.StreamReader):
    """A StreamReader that records each chunk the moment it arrives."""

    def __init__(self, tap: Tap, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._tap = tap

    def feed_data(self, data: Iterable[SupportsIndex]) -> None:
        """Record the chunk, then hand aiormq what it should read."""
        chunk = bytes(data)
        self._tap.record(Chunk(self._tap.now(), Direction.BROKER_TO_CLIENT, chunk))
        visible = self._tap._for_client(chunk)
        if visible:
            super().feed_data(visible)

    def feed_eof(self) -> None:
        """The broker closed its side of the connection."""
        self._tap.record(
            StreamEnd(
                self._tap.now(), Direction.BROKER_TO_CLIENT, "closed by the broker"
            )
        )
        super().feed_eof()


class TapWriter(asyncio.StreamWriter):
    """A StreamWriter that records (or holds) each write aiormq makes."""

    def __init__(self, tap: Tap, *args: Any) -> None:
        super().__init__(*args)
        self._tap = tap
        self._closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Send the bytes now, or hold them if the tap is holding."""
        if self._tap.client_wrote(bytes(data)):
            self.send(bytes(data))

    def writelines(self, data: Any) -> None:
        """Route through `write` so nothing escapes the tap."""
        self.write(b"".join(data))

    def send(self, data: bytes) -> None:
        """Record the bytes and hand them to the transport."""
        if self.transport.is_closing():
            return
        self._tap.record(Chunk(self._tap.now(), Direction.CLIENT_TO_BROKER, data))
        super().write(data)

    def close(self) -> None:
        """Record that the client closed its side; then hear the broker's answer.

        The socket is half-closed (FIN sent) and read on: the broker's FIN or
        reset ends it (see _TapProtocol), or CLOSE_GRACE seconds do. Under
        TLS, or once the broker's side has ended, it closes at once.
        """
        if self._closed or self.transport.is_closing():
            super().close()
            return
        self._closed = True
        now = self._tap.now()
        self._tap.record(
            StreamEnd(now, Direction.CLIENT_TO_BROKER, "closed by the client")
        )
        if not self.can_write_eof() or Direction.BROKER_TO_CLIENT in self._tap.ended:
            super().close()
            return
        with suppress(OSError, RuntimeError):
            self.write_eof()
        asyncio.get_running_loop().call_later(CLOSE_GRACE, self.transport.close)


class _TapProtocol(asyncio.StreamReaderProtocol):
    """Records a connection that was lost rather than closed."""

    def __init__(self, tap: Tap, reader: TapReader) -> None:
        super().__init__(reader)
        self._tap = tap

    def eof_received(self) -> bool | None:
        """The broker's FIN: once the client has closed too, close the socket."""
        keep_open = super().eof_received()
        return keep_open and Direction.CLIENT_TO_BROKER not in self._tap.ended

    def connection_lost(self, exc: Exception | None) -> None:
        """Record how the connection ended for each side not yet ended."""
        now = self._tap.now()
        if exc is not None and Direction.BROKER_TO_CLIENT not in self._tap.ended:
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            reason = (
                RESET_BY_BROKER
                if isinstance(exc, ConnectionResetError)
                else f"connection lost: {detail}"
            )
            self._tap.record(StreamEnd(now, Direction.BROKER_TO_CLIENT, reason))
        for direction in Direction:
            if direction not in self._tap.ended:
                self._tap.record(StreamEnd(now, direction, "the TCP connection closed"))
        super().connection_lost(exc)


class TapTransportFactory(TransportFactory):
    """Hands aiormq a reader and writer that report to a Tap."""

    def __init__(self, tap: Tap, sock: socket.socket | None = None) -> None:
        """Connect through `tap`; on `sock` when it is already connected."""
        self.tap = tap
        self.sock = sock

    async def create(
        self, url: URL, **kwargs: Any
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Open the TCP (and, for amqps, TLS) connection aiormq asked for."""
        provider = kwargs.pop("ssl_context_provider", None)
        ssl = None
        if url.scheme == "amqps" and provider is not None:
            ssl = await provider.get_context()
        loop = asyncio.get_running_loop()
        reader = TapReader(self.tap, limit=2**16, loop=loop)
        protocol = _TapProtocol(self.tap, reader)
        host = url.host or "localhost"
        if self.sock is not None:
            where: dict[str, Any] = {"sock": self.sock}
        else:
            where = {"host": host, "port": url.port or DEFAULT_PORTS[url.scheme]}
        try:
            transport, _ = await loop.create_connection(
                lambda: protocol,
                ssl=ssl,
                server_hostname=host if ssl else None,
                **where,
                **kwargs,
            )
        except OSError as exc:
            self.tap.connect_error = exc
            raise AMQPConnectionError(*exc.args) from exc
        writer = TapWriter(self.tap, transport, protocol, reader, loop)
        self.tap.attach(writer)
        self.tap.transport = transport
        self.tap.client_address = address_of(transport.get_extra_info("sockname"))
        self.tap.broker_address = address_of(transport.get_extra_info("peername"))
        return reader, writer


def address_of(sockaddr: Any) -> str:
    """``host:port`` (``[host]:port`` for IPv6) of a socket address tuple."""
    if not sockaddr:
        return ""
    host, port = sockaddr[0], sockaddr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
