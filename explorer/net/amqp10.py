"""An AMQP 1.0 client for the explorer: Qpid Proton, driven through the tap.

Owns Amqp10Client, which runs Proton's engine (its sans-I/O Transport,
Connection, Session and Links: bytes in with `push`, bytes out with `peek` and
`pop`) over an asyncio connection made by the tap's TapTransportFactory. So
every byte Proton writes passes the Tap (recorded as a Chunk, or held until
`Tap.release`) and every byte the broker sends is recorded before Proton
reads it, exactly as for aiormq. The client is observed, not re-implemented:
Proton is a real AMQP 1.0 implementation (RabbitMQ's own Python client is
built on it), and its Transport is the one that can be fed from a socket the
explorer owns. Each step (open, begin, attach, send, receive, close) pumps
bytes both ways until the broker has answered it.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from typing import Final, Protocol

import proton
from yarl import URL

from explorer.net.tap import Tap, TapTransportFactory

#: The container-id the client names in its open.
CONTAINER: Final = "amqp-explorer"
#: Seconds a step waits for the broker's answer.
STEP_TIMEOUT: Final = 10.0
#: The most bytes read from the socket at once.
READ_SIZE: Final = 65536


class Amqp10Error(Exception):
    """The broker refused a step, closed, or did not answer in time."""


class Amqp10TimeoutError(Amqp10Error):
    """The broker, still connected, did not answer a step in time."""


class _Endpoint(Protocol):
    """A connection, session or link: what its state says."""

    @property
    def state(self) -> int:
        """Local and remote state bits (proton.Endpoint.REMOTE_ACTIVE ...)."""

    @property
    def remote_condition(self) -> proton.Condition | None:
        """The error the broker's close (end, detach) carried, if any."""

    def close(self) -> None:
        """Close (end, detach) the client's end."""


def _active(endpoint: _Endpoint) -> Callable[[], bool]:
    """Whether the broker has opened (begun, attached) its end."""
    return lambda: bool(endpoint.state & proton.Endpoint.REMOTE_ACTIVE)


def _closed(endpoint: _Endpoint) -> Callable[[], bool]:
    """Whether the broker has closed (ended, detached) its end."""
    return lambda: bool(endpoint.state & proton.Endpoint.REMOTE_CLOSED)


class Amqp10Client:
    """One AMQP 1.0 connection: Proton's engine, its bytes through a Tap."""

    def __init__(
        self,
        tap: Tap,
        user: str,
        password: str,
        *,
        vhost: str = "/",
        idle_timeout: float = 0.0,
        timeout: float = STEP_TIMEOUT,
    ) -> None:
        """Prepare the connection; nothing is sent before `connect` and `open`.

        Args:
            tap: Records (and may hold) the bytes; make it with
                ``hide_handshake_heartbeats=False`` (its 0-9-1 decoder has
                nothing to read here).
            user, password: For SASL PLAIN.
            vhost: Named in open's hostname as RabbitMQ reads it, ``vhost:NAME``.
            idle_timeout: Proton's idle timeout in seconds (0: none); Proton
                advertises half of it as its open's idle-time-out.
            timeout: Seconds each step waits for the broker.
        """
        self.tap = tap
        self.timeout = timeout
        self.connection = proton.Connection()
        self.connection.container = CONTAINER
        self.connection.hostname = f"vhost:{vhost}"
        self.connection.user = user
        self.connection.password = password
        self.transport = proton.Transport()
        self.transport.idle_timeout = idle_timeout
        sasl = self.transport.sasl()
        sasl.allowed_mechs("PLAIN")
        sasl.allow_insecure_mechs = True  # the tap sees plaintext either way
        self.transport.bind(self.connection)
        self.session: proton.Session | None = None
        self.sender: proton.Sender | None = None
        self.receiver: proton.Receiver | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        #: The broker's side has ended (its FIN, or a reset).
        self.ended = False

    async def connect(
        self, host: str, port: int, sock: socket.socket | None = None
    ) -> None:
        """Open the TCP connection through the tap (on `sock` when it is
        already connected, as the explorer's tcp step connects it).

        Raises:
            AMQPConnectionError: the broker cannot be reached (aiormq's, as
                the tap's factory raises it).
        """
        url = URL.build(scheme="amqp", host=host, port=port)
        factory = TapTransportFactory(self.tap, sock)
        self._reader, self._writer = await factory.create(url)

    @property
    def is_closed(self) -> bool:
        """Whether the broker's side has ended, or the client closed its own."""
        return self.ended or self._writer is None or self._writer.is_closing()

    async def open(self) -> None:
        """SASL (header, mechanisms, init, outcome), the AMQP header, open."""
        self.connection.open()
        await self._pump(_active(self.connection), "open")

    async def begin(self) -> None:
        """Begin a session."""
        self.session = self.connection.session()
        self.session.open()
        await self._pump(_active(self.session), "begin")

    async def attach_sender(self, address: str) -> None:
        """Attach a sending link to `address` (``/queues/NAME``) and wait for
        the broker's credit."""
        sender = self._session().sender("explorer-sender")
        sender.target.address = address
        sender.open()
        self.sender = sender
        await self._pump(lambda: _active(sender)() and sender.credit > 0, "attach")

    async def send(self, body: str) -> None:
        """Transfer one message and wait until the broker accepts it.

        Raises:
            Amqp10Error: no sender is attached, or the broker did not accept.
        """
        sender = self.sender
        if sender is None:
            raise Amqp10Error("attach a sender before sending")
        delivery = sender.delivery("tag-1")
        sender.send(proton.Message(body=body).encode())
        sender.advance()
        await self._pump(lambda: delivery.remote_state != 0, "transfer")
        if delivery.remote_state != proton.Delivery.ACCEPTED:
            raise Amqp10Error(
                f"the broker settled the message as {delivery.remote_state}"
            )
        delivery.settle()

    async def attach_receiver(self, address: str) -> None:
        """Attach a receiving link to `address`."""
        receiver = self._session().receiver("explorer-receiver")
        receiver.source.address = address
        receiver.open()
        self.receiver = receiver
        await self._pump(_active(receiver), "attach")

    async def receive(self) -> object:
        """Give one credit (flow), take the message, accept it (disposition).

        Returns:
            The message's body.

        Raises:
            Amqp10Error: no receiver is attached.
        """
        receiver = self.receiver
        if receiver is None:
            raise Amqp10Error("attach a receiver before receiving")
        receiver.flow(1)
        await self._pump(
            lambda: receiver.current is not None and not receiver.current.partial,
            "transfer",
        )
        incoming = receiver.current
        assert incoming is not None  # what the pump waited for
        data = receiver.recv(incoming.pending) or b""
        incoming.update(proton.Delivery.ACCEPTED)
        incoming.settle()
        receiver.advance()
        self._flush()
        message = proton.Message()
        message.decode(data)
        return message.body

    async def linger(self, seconds: float) -> None:
        """Keep the connection open for `seconds`, empty frames and all."""
        until = time.monotonic() + seconds
        await self._pump(lambda: time.monotonic() >= until, "idle", seconds + 1)

    async def close(self) -> None:
        """Detach the links, end the session, close the connection, then read
        until the broker's side ends.

        What the broker already ended is only answered: a session it ended
        (with its links) gets the client's end, never a detach.
        """
        session = self.session
        ended = session is not None and _closed(session)()
        for link in (self.sender, self.receiver):
            if link is not None and not ended:  # one at a time: a step each
                link.close()
                await self._pump(_closed(link), "detach")
        if session is not None:
            session.close()
            await self._pump(_closed(session), "end")
        self.connection.close()
        await self._pump(_closed(self.connection), "close")
        await self.finish()

    async def finish(self) -> None:
        """Close the client's side (after what Proton still has to send) and
        read until the broker's side ends (its FIN, or the reset RabbitMQ sends)."""
        self._flush()
        if self._writer is not None:
            self._writer.close()
        while not self.ended:
            await self._read(self.timeout)

    def _refused(self) -> proton.Condition | None:
        """The error of the connection, or of a session or link the client
        still has open, that the broker closed (ended, detached) with one.

        Such a session or link is closed on the client's side too, as the
        spec asks (its end or detach answers the broker's): so the error is
        raised once, by the step that met it.
        """
        if self.transport.condition is not None:
            return self.transport.condition
        ends: list[_Endpoint] = [e for e in (self.session, self.sender) if e]
        for end in [*ends, *([self.receiver] if self.receiver else [])]:
            local = end.state & proton.Endpoint.LOCAL_ACTIVE
            if local and _closed(end)() and end.remote_condition is not None:
                end.close()
                return end.remote_condition
        return self.connection.remote_condition

    def _session(self) -> proton.Session:
        if self.session is None:
            raise Amqp10Error("begin a session first")
        return self.session

    async def _pump(
        self, done: Callable[[], bool], step: str, within: float | None = None
    ) -> None:
        """Write what Proton has to send and feed it what comes, until `done()`.

        Raises:
            Amqp10Error: the broker closed the connection first, or `done()`
                did not come true `within` seconds (the step's timeout).
        """
        deadline = time.monotonic() + (within or self.timeout)
        while True:
            self._flush()
            if done():
                return
            remote = self._refused()
            left = deadline - time.monotonic()
            if self.ended or remote is not None or left <= 0:
                self._flush()  # the answer to what the broker closed, if any
                why = remote.description if remote is not None else ""
                silent = not self.ended and remote is None
                what = getattr(remote, "name", "") or (
                    "no answer" if silent else "the broker's side ended"
                )
                raise (Amqp10TimeoutError if silent else Amqp10Error)(
                    f"{step}: {what} {why}".strip()
                )
            tick = self.transport.tick(time.monotonic())
            wait = min(left, tick - time.monotonic()) if tick else left
            await self._read(max(wait, 0.0))

    async def _read(self, wait: float) -> None:
        """Feed Proton what the broker sends within `wait` seconds, if anything."""
        assert self._reader is not None, "connect first"
        try:
            data = await asyncio.wait_for(self._reader.read(READ_SIZE), wait)
        except TimeoutError:
            return
        except ConnectionError:
            data = b""
        if not data:
            self.ended = True
            self.transport.close_tail()
            return
        while data:
            room = max(self.transport.capacity(), 1)
            self.transport.push(data[:room])
            data = data[room:]

    def _flush(self) -> None:
        """Hand what Proton has to send to the tap's writer (sent or held)."""
        assert self._writer is not None, "connect first"
        while (pending := self.transport.pending()) > 0:
            data = self.transport.peek(pending) or b""
            self.transport.pop(len(data))
            if not self.ended and not self._writer.is_closing():
                self._writer.write(data)
