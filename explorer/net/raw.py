"""The raw client: a few pamqp frames sent by hand, for what aiormq cannot send.

Owns RawClient, used only by failure-lab experiments: a handshake with a
header, capabilities or TuneOk values of the experiment's choosing, and
frames written byte for byte afterwards (malformed ones included). It goes
through the same tap as aiormq, so every byte is recorded and each handshake
write is held until its step releases it, exactly as aiormq's are.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass, field

from pamqp import commands, constants, exceptions, frame
from pamqp.base import Frame as PamqpFrame
from pamqp.common import FieldTable
from pamqp.header import ProtocolHeader
from yarl import URL

from explorer.net.tap import Tap, TapTransportFactory

#: The capabilities a modern client advertises (as aiormq does).
CAPABILITIES: FieldTable = {
    "authentication_failure_close": True,
    "basic.nack": True,
    "connection.blocked": True,
    "consumer_cancel_notify": True,
    "publisher_confirms": True,
}


@dataclass(frozen=True, slots=True)
class Handshake:
    """What the raw client says during the handshake; None takes the broker's value."""

    header: bytes = ProtocolHeader().marshal()
    capabilities: FieldTable = field(default_factory=lambda: CAPABILITIES)
    channel_max: int | None = None
    frame_max: int | None = None
    heartbeat: int | None = None
    #: Send Connection.Open after TuneOk (not when TuneOk is meant to be refused).
    open: bool = True


class RawClient:
    """A hand-driven AMQP 0-9-1 client on one tapped connection."""

    def __init__(self, url: str, tap: Tap, *, sock: socket.socket, plan: Handshake):
        """Talk to the broker at `url` over `sock`, saying what `plan` says."""
        self.url = URL(url)
        self.plan = plan
        self._factory = TapTransportFactory(tap, sock=sock)
        self._writer: asyncio.StreamWriter | None = None
        self._drain: asyncio.Task[None] | None = None
        #: The values TuneOk carried, once it was sent.
        self.tuned: commands.Connection.TuneOk | None = None
        #: Why the client stopped early, if it did (the engine reports it).
        self.gave_up: Exception | None = None

    @property
    def is_closed(self) -> bool:
        """Whether the connection is closed (or was never opened)."""
        return self._writer is None or self._writer.transport.is_closing()

    async def connect(self) -> bool:
        """Run the handshake as planned; True once the broker sent OpenOk."""
        reader, self._writer = await self._factory.create(self.url)
        self._writer.write(self.plan.header)
        start = await _read_method(reader)
        if not isinstance(start, commands.Connection.Start):
            return False
        self.send(0, self._start_ok())
        tune = await _read_method(reader)
        if not isinstance(tune, commands.Connection.Tune):
            return False
        self.tuned = self._tune_ok(tune)
        self.send(0, self.tuned)
        if not self.plan.open:
            self._drain = asyncio.ensure_future(_discard(reader))
            return False
        self.send(0, commands.Connection.Open(virtual_host=self._vhost()))
        opened = await _read_method(reader)
        self._drain = asyncio.ensure_future(_discard(reader))
        return isinstance(opened, commands.Connection.OpenOk)

    def send(self, channel: int, method: PamqpFrame) -> None:
        """Marshal one method frame and write it."""
        self.write(frame.marshal(method, channel))

    def write(self, data: bytes) -> None:
        """Write bytes as they are, well-formed or not."""
        assert self._writer is not None, "connect() first"
        self._writer.write(data)

    async def close(self, exc: object = None) -> None:
        """Close the TCP connection (an experiment never closes politely)."""
        if self._drain is not None:
            self._drain.cancel()
        if self._writer is not None and not self._writer.transport.is_closing():
            self._writer.close()

    def _start_ok(self) -> commands.Connection.StartOk:
        user, password = self.url.user or "", self.url.password or ""
        properties: FieldTable = {
            "product": "amqp-explorer raw client",
            "capabilities": dict(self.plan.capabilities),
        }
        return commands.Connection.StartOk(
            client_properties=properties,
            mechanism="PLAIN",
            response=f"\0{user}\0{password}",
            locale="en_US",
        )

    def _tune_ok(self, tune: commands.Connection.Tune) -> commands.Connection.TuneOk:
        plan = self.plan
        return commands.Connection.TuneOk(
            channel_max=_or(plan.channel_max, tune.channel_max),
            frame_max=_or(plan.frame_max, tune.frame_max),
            heartbeat=_or(plan.heartbeat, tune.heartbeat),
        )

    def _vhost(self) -> str:
        path = self.url.path
        return "/" if path in ("", "/") else path[1:]


def _or(planned: int | None, proposed: int) -> int:
    return proposed if planned is None else planned


async def _read_method(reader: asyncio.StreamReader) -> PamqpFrame | None:
    """The next method frame from the broker (heartbeats skipped); None if none."""
    while True:
        try:
            head = await reader.readexactly(7)
            if head.startswith(b"AMQP"):
                return None  # the broker refused the protocol with its own header
            size = int.from_bytes(head[3:7], "big")
            rest = await reader.readexactly(size + 1)
            _, _, decoded = frame.unmarshal(head + rest)
        except (asyncio.IncompleteReadError, OSError, exceptions.PAMQPException):
            return None
        if isinstance(decoded, PamqpFrame):
            return decoded
        if head[0] != constants.FRAME_HEARTBEAT:
            return None


async def _discard(reader: asyncio.StreamReader) -> None:
    """Keep reading (the tap records it all) so the transport never pauses."""
    with contextlib.suppress(ConnectionError):
        while await reader.read(65536):
            pass
