"""The watch proxy: any client's connection relayed to the broker, byte for byte.

Owns `Proxy`, which listens where an application is pointed and, for each TCP
connection that arrives, opens one to the upstream broker (TLS for amqps) and
relays both directions unchanged, and `Relay`, one such pair of sockets. Each
relay records what crosses it on a `Tap` (the explorer's one record of a
connection's bytes), with the time since the client's TCP connection was
accepted, and passes on how each side ends: a FIN as a FIN (half-close), a
reset as a reset. Nothing is decoded here.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import ssl
import struct
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Final

from explorer.net.endpoint import EndpointError, parse
from explorer.net.tap import Tap, address_of
from explorer.protocol.frames import B2C, C2B
from explorer.protocol.stream import RESET_BY_BROKER, Chunk, StreamEnd

#: How a stream end words the client resetting its connection.
RESET_BY_CLIENT: Final = "reset by the client"
#: Bytes waiting to be written to one side before the other side is paused.
HIGH_WATER: Final = 1 << 20
#: Seconds the proxy waits to reach the broker for a client before it gives up
#: (and resets the client's connection).
CONNECT_TIMEOUT: Final = 10.0


@dataclass(frozen=True, slots=True)
class Upstream:
    """Where the proxy connects for each client: the broker, and how."""

    host: str
    port: int
    #: The TLS context for an amqps upstream; None for plain AMQP.
    tls: ssl.SSLContext | None = None

    @property
    def address(self) -> str:
        """``host:port``, as the learner named it."""
        return (
            f"[{self.host}]:{self.port}"
            if ":" in self.host
            else f"{self.host}:{self.port}"
        )


class Relay:
    """One client connection and the proxy's connection to the broker for it."""

    def __init__(self, number: int, upstream: Upstream) -> None:
        """A relay with its client accepted just now and the broker not reached."""
        self.number = number
        self.upstream = upstream
        #: What crossed, both ways; client_address is the application's end.
        self.tap = Tap(hide_handshake_heartbeats=False)
        #: The proxy's own end toward the broker: the peer the broker sees.
        self.upstream_address = ""
        #: Why the broker could not be reached, when it could not.
        self.connect_error: OSError | None = None
        #: Told once the broker is reached, or could not be.
        self.connected = asyncio.Event()
        self._client: asyncio.Transport | None = None
        self._broker: asyncio.Transport | None = None
        self._early: list[bytes] = []

    @property
    def name(self) -> str:
        """The connection as the app and --json name it: the client's address."""
        return self.tap.client_address

    @property
    def closed(self) -> bool:
        """Both directions have ended."""
        return len(self.tap.ended) == 2

    def send(self, data: bytes) -> None:
        """Record a client write and pass it to the broker (the tap's Sender)."""
        self.tap.record(Chunk(self.tap.now(), C2B, data))
        if self._broker is not None and not self._broker.is_closing():
            self._broker.write(data)
        else:
            self._early.append(data)

    def close(self) -> None:
        """Close both sockets now."""
        for transport in (self._client, self._broker):
            if transport is not None:
                transport.close()

    # The client's side ----------------------------------------------------------

    def client_accepted(self, transport: asyncio.Transport) -> None:
        self._client = transport
        self.tap.client_address = address_of(transport.get_extra_info("peername"))
        self.tap.attach(self)
        asyncio.get_running_loop().create_task(self._reach_broker())

    def from_client(self, data: bytes) -> None:
        if self.tap.client_wrote(data):
            self.send(data)

    def client_ended(self, reset: bool) -> None:
        reason = RESET_BY_CLIENT if reset else "closed by the client"
        self.tap.record(StreamEnd(self.tap.now(), C2B, reason))
        broker = self._broker
        if broker is None or broker.is_closing():
            return
        if reset:
            _abort(broker)
        elif not broker.can_write_eof() or B2C in self.tap.ended:
            broker.close()
        else:
            broker.write_eof()

    # The broker's side ----------------------------------------------------------

    async def _reach_broker(self) -> None:
        loop = asyncio.get_running_loop()
        up = self.upstream
        try:
            await asyncio.wait_for(
                loop.create_connection(
                    lambda: _BrokerSide(self),
                    up.host,
                    up.port,
                    ssl=up.tls,
                    server_hostname=up.host if up.tls else None,
                ),
                CONNECT_TIMEOUT,
            )
        except TimeoutError as exc:  # wait_for's own has no errno: give it one
            timed_out = errno.ETIMEDOUT, os.strerror(errno.ETIMEDOUT)
            self.connect_error = exc if exc.errno else TimeoutError(*timed_out)
        except OSError as exc:
            self.connect_error = exc
        self.connected.set()
        if self.connect_error is not None and self._client is not None:
            _abort(self._client)

    def broker_reached(self, transport: asyncio.Transport) -> None:
        self._broker = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.upstream_address = address_of(transport.get_extra_info("sockname"))
        self.tap.broker_address = address_of(transport.get_extra_info("peername"))
        self.tap.transport = transport
        for data in self._early:
            transport.write(data)
        self._early.clear()
        if C2B in self.tap.ended and transport.can_write_eof():
            transport.write_eof()
        elif C2B in self.tap.ended:
            transport.close()

    def from_broker(self, data: bytes) -> None:
        self.tap.record(Chunk(self.tap.now(), B2C, data))
        if self._client is not None and not self._client.is_closing():
            self._client.write(data)

    def broker_ended(self, reason: str) -> None:
        self.tap.record(StreamEnd(self.tap.now(), B2C, reason))
        client = self._client
        if client is None or client.is_closing():
            return
        if reason == RESET_BY_BROKER:
            _abort(client)
        elif C2B in self.tap.ended or not client.can_write_eof():
            client.close()
        else:
            client.write_eof()

    def pause(self, side: asyncio.BaseTransport | None, paused: bool) -> None:
        """Stop (or resume) reading the other side while `side` cannot keep up."""
        other = self._broker if side is self._client else self._client
        if other is None or other.is_closing():
            return
        if paused:
            other.pause_reading()
        else:
            other.resume_reading()


class _ClientSide(asyncio.Protocol):
    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.relay: Relay | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(HIGH_WATER)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.relay = self.proxy.accepted()
        self.relay.client_accepted(transport)
        self.proxy.on_connection(self.relay)

    def data_received(self, data: bytes) -> None:
        assert self.relay is not None
        self.relay.from_client(data)

    def eof_received(self) -> bool:
        assert self.relay is not None
        self.relay.client_ended(reset=False)
        return B2C not in self.relay.tap.ended  # keep open for the broker's answer

    def connection_lost(self, exc: Exception | None) -> None:
        relay = self.relay
        if relay is not None and C2B not in relay.tap.ended:
            relay.client_ended(reset=exc is not None)
        if relay is not None and B2C not in relay.tap.ended and relay._broker is None:
            relay.tap.record(StreamEnd(relay.tap.now(), B2C, "the proxy closed it"))

    def pause_writing(self) -> None:
        assert self.relay is not None
        self.relay.pause(self.transport, True)

    def resume_writing(self) -> None:
        assert self.relay is not None
        self.relay.pause(self.transport, False)


class _BrokerSide(asyncio.Protocol):
    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(HIGH_WATER)
        self.relay.broker_reached(transport)

    def data_received(self, data: bytes) -> None:
        self.relay.from_broker(data)

    def eof_received(self) -> bool:
        self.relay.broker_ended("closed by the broker")
        return C2B not in self.relay.tap.ended

    def connection_lost(self, exc: Exception | None) -> None:
        if B2C in self.relay.tap.ended:
            return
        if isinstance(exc, ConnectionResetError):
            reason = RESET_BY_BROKER
        elif exc is not None:
            reason = f"connection lost: {exc}"
        else:
            reason = "the TCP connection closed"
        self.relay.broker_ended(reason)

    def pause_writing(self) -> None:
        self.relay.pause(self.transport, True)

    def resume_writing(self) -> None:
        self.relay.pause(self.transport, False)


class Proxy:
    """Listens for clients and relays each one to the upstream broker."""

    def __init__(
        self, upstream: Upstream, on_connection: Callable[[Relay], None]
    ) -> None:
        """A proxy to `upstream`, telling `on_connection` of each new relay."""
        self.upstream = upstream
        self.on_connection = on_connection
        self.relays: list[Relay] = []
        self.address = ""
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> None:
        """Listen on `host`:`port` (port 0: any free port; see `address`).

        Raises:
            OSError: the address is taken, or not this machine's.
        """
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _ClientSide(self), host, port, reuse_address=True
        )
        self.address = address_of(self._server.sockets[0].getsockname())

    def accepted(self) -> Relay:
        """A new relay for a client just accepted."""
        relay = Relay(len(self.relays) + 1, self.upstream)
        self.relays.append(relay)
        return relay

    async def aclose(self) -> None:
        """Stop listening and close every relay."""
        if self._server is not None:
            self._server.close()
        for relay in self.relays:
            relay.close()
        if self._server is not None:
            with suppress(OSError):
                await self._server.wait_closed()


def _abort(transport: asyncio.Transport) -> None:
    """Close with a reset (RST), as the other side's connection was reset."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with suppress(OSError):
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
    transport.abort()


def upstream_for(url: str) -> Upstream:
    """The broker a `watch` URL names; amqps gets a TLS context from its options.

    The URL's credentials are not used: each client sends its own.

    Raises:
        EndpointError: the URL names no AMQP endpoint, or a file its TLS
            options name cannot be read.
    """
    endpoint = parse(url)
    if not endpoint.tls:
        return Upstream(endpoint.host, endpoint.port)
    options = dict(endpoint.tls_options)
    try:
        context = ssl.create_default_context(
            cafile=options.get("cafile"), capath=options.get("capath")
        )
        if "certfile" in options:
            context.load_cert_chain(options["certfile"], options.get("keyfile"))
    except OSError as exc:  # ssl.SSLError too: a file that holds no certificate
        raise EndpointError(
            f"cannot set up TLS to the upstream broker: {exc.strerror or exc}"
        ) from exc
    if options.get("no_verify_ssl", "0") not in ("0", "false", ""):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return Upstream(endpoint.host, endpoint.port, context)
