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
bytes both ways until the broker has answered it; between steps, once open,
a keepalive task does the same with nothing to wait for, so that Proton
reads the broker's empty frames and sends its own while the learner reads.
One coroutine at a time reads the socket: a step pauses the keepalive, and
both hold the client's lock while they read.
"""

from __future__ import annotations

import asyncio
import contextlib
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
#: The most seconds the keepalive waits on the socket before it ticks Proton.
KEEPALIVE_TICK: Final = 1.0


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
        #: Held by whoever reads the socket: a step's pump, the keepalive, finish.
        self._lock = asyncio.Lock()
        #: Whether the keepalive runs between steps (from open until close).
        self._keeping = False
        self._keepalive: asyncio.Task[None] | None = None
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
        self._keeping = True
        self._keep_alive()

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
        await self.stop_keepalive()  # each step below reads until its answer
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
        read until the broker's side ends (its FIN, or the reset RabbitMQ sends);
        after `timeout` seconds without it, drop the connection."""
        await self.stop_keepalive()
        self._flush()
        if self._writer is None:
            return
        self._writer.close()
        deadline = time.monotonic() + self.timeout
        async with self._lock:
            while not self.ended and (left := deadline - time.monotonic()) > 0:
                with contextlib.suppress(Amqp10Error):  # the tap records it all
                    await self._read(left)
        if not self.ended:
            self._writer.transport.abort()

    async def stop_keepalive(self) -> None:
        """Stop keeping the connection alive between steps (for good)."""
        self._keeping = False
        await self._pause()

    def _keep_alive(self) -> None:
        """Start the keepalive, if it is due and not running."""
        idle = self._keepalive is None or self._keepalive.done()
        if self._keeping and idle and not self.is_closed:
            self._keepalive = asyncio.ensure_future(self._keep_reading())

    async def _pause(self) -> None:
        """Cancel the keepalive, if it runs, and return once it stopped."""
        task = self._keepalive
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _keep_reading(self) -> None:
        """Between steps: feed Proton what the broker sends, tick its clock and
        send what it owes (its empty frames, within half the broker's
        idle-time-out), until the connection ends or Proton reads no more."""
        while not self.is_closed:
            async with self._lock:
                self._flush()
                try:
                    await self._tick_and_read(KEEPALIVE_TICK)
                except Amqp10Error:
                    return  # the next step meets it (Proton's condition)

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
            Amqp10Error: the broker closed the connection first, Proton read
                no more, or `done()` did not come true `within` seconds (the
                step's timeout).
        """
        await self._pause()
        try:
            async with self._lock:
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
                    try:
                        await self._tick_and_read(left)
                    except Amqp10Error as exc:
                        raise Amqp10Error(f"{step}: {exc}") from exc
        finally:
            self._keep_alive()

    async def _tick_and_read(self, most: float) -> None:
        """Tick Proton's clock, then read until its next timer, for at most
        `most` seconds; what the tick made Proton owe (an empty frame, say) is
        flushed after the read, as the pump and keepalive loop on."""
        tick = self.transport.tick(time.monotonic())
        wait = min(most, tick - time.monotonic()) if tick else most
        await self._read(max(wait, 0.0))

    async def _read(self, wait: float) -> None:
        """Feed Proton what the broker sends within `wait` seconds, if anything
        (read in this task: a read cancelled, as the keepalive's is, leaves what
        came in the reader, where wait_for's inner task could lose it).

        Raises:
            Amqp10Error: Proton reads no more (see `_push`).
        """
        assert self._reader is not None, "connect first"
        assert self._lock.locked(), "one reader at a time: hold the lock"
        try:
            async with asyncio.timeout(wait):
                data = await self._reader.read(READ_SIZE)
        except TimeoutError:
            return
        except ConnectionError:
            data = b""
        if not data:
            self.ended = True
            self.transport.close_tail()
            return
        self._push(data)

    def _push(self, data: bytes) -> None:
        """Hand Proton the broker's bytes.

        Raises:
            Amqp10Error: Proton has closed its input (after an error of its
                own, a framing error say), so these bytes go unread (its push
                would raise TransportException).
        """
        while data:
            try:
                room = self.transport.capacity()
                if room < 0:
                    raise proton.TransportException("its input is closed")
                self.transport.push(data[: max(room, 1)])
            except proton.TransportException as exc:
                why = self.transport.condition
                said = f"{why.name}: {why.description}" if why else str(exc)
                raise Amqp10Error(
                    f"Proton reads no more from the broker ({said}); "
                    f"{len(data)} bytes went unread"
                ) from exc
            data = data[max(room, 1) :]

    def _flush(self) -> None:
        """Hand what Proton has to send to the tap's writer (sent or held)."""
        assert self._writer is not None, "connect first"
        while (pending := self.transport.pending()) > 0:
            data = self.transport.peek(pending) or b""
            self.transport.pop(len(data))
            if not self.ended and not self._writer.is_closing():
                self._writer.write(data)
