"""A connection the explorer watches but did not make: an application's, via `watch`.

Owns `WatchedConnection`, the Stepper of one relayed client: its bytes decoded
as they cross the proxy, its phases inferred by the lifecycle table
(explorer.engine.inference), and its events kept in steps, one per phase, so
that a learner steps through what their application did at their own pace
while it goes on at its own; `follow` tells every event the moment it happens
(`watch --json`). Its client speaks AMQP 0-9-1 or 1.0: the header it writes
first picks the decoders, rules and plan (explorer.protocol.dialect). And
`Watch`, the proxy with the connections it has seen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final

from pamqp import commands

from explorer.engine.events import (
    Clock,
    EngineEvent,
    LifecycleEnded,
    Listener,
    PhaseFailed,
    PhaseReport,
    PhaseStarted,
)
from explorer.engine.inference import Inference
from explorer.engine.relaytcp import tcp_facts, why
from explorer.engine.wire import HANDSHAKE_TIMEOUT
from explorer.net.proxy import Proxy, Relay, Upstream
from explorer.protocol.amqp10 import report as amqp10
from explorer.protocol.dialect import (
    AMQP_0_9_1,
    Decoder,
    Dialect,
    dialect_of,
    ends_handshake,
)
from explorer.protocol.frames import B2C, C2B, Direction, Frame
from explorer.protocol.lifecycle import Phase
from explorer.protocol.queries import client_product, first_named, first_payload
from explorer.protocol.stream import Chunk, StreamEnd, WireEvent

#: The bytes of a protocol header: what tells the client's dialect.
HEADER_SIZE: Final = 8
#: By dialect key: the client's frames that open and close the connection,
#: and how a clean close goes.
_WORDS: Final = {
    "0-9-1": ("Connection.Open", "Connection.Close", "waits for Close-Ok"),
    "1.0": ("open", "close", "waits for the broker's close"),
}


def watched_plan(dialect: Dialect) -> list[Phase]:
    """The phases a watched connection of `dialect` can show: the proxy sees
    neither the application's endpoint nor its name lookup, and its client
    speaks plain AMQP."""
    skipped = (Phase.ENDPOINT, Phase.RESOLVE)
    return [p for p in dialect.plan_for(False) if p not in skipped]


class WatchedConnection:
    """One relayed client's lifecycle, inferred from its frames, stepped or followed."""

    recording = False
    watched = True

    def __init__(
        self, relay: Relay, listener: Listener, *, follow: bool = False
    ) -> None:
        """Watch `relay`, telling `listener` each step (every event, if `follow`)."""
        self.relay = relay
        self.listener = listener
        self.follow = follow
        #: 0-9-1 until the client's first bytes say otherwise (`_settle`).
        self.dialect: Dialect = AMQP_0_9_1
        self.plan = watched_plan(AMQP_0_9_1)
        self.finished = False
        #: Every event so far, and the index in `events` where each step starts.
        self.events: list[EngineEvent] = []
        self._starts: list[int] = []
        self._told = 0
        self._revealed = 0
        self._changed = asyncio.Event()
        self._inference = Inference()
        #: None until the client's header has come (what crossed till then).
        self._decoders: dict[Direction, Decoder] | None = None
        self._early: list[WireEvent] = []
        self._opened: Frame | None = None
        self._tcp_task = asyncio.get_running_loop().create_task(self._tcp())

    def attach(self, listener: Listener) -> WatchedConnection:
        """Tell `listener` from now on, starting with every step shown so far."""
        self.listener = listener
        self._told = 0
        self._tell()
        return self

    # What the proxy saw -----------------------------------------------------------

    @property
    def name(self) -> str:
        """The client's address, as the proxy saw it: the connection's name."""
        return self.relay.name

    @property
    def frames(self) -> list[Frame]:
        """Every frame so far, as it crossed (secrets not masked)."""
        return self._inference.frames

    @property
    def client(self) -> str:
        """The client, from its StartOk (for 1.0: its open) ("" before it).

        A 1.0 open names no library unless its properties carry a product
        (Proton's carry none): its container-id is what the frames show.
        """
        if self.dialect is AMQP_0_9_1:
            start_ok = first_named(self.frames, C2B, "Connection.StartOk")
            return client_product(start_ok) if start_ok is not None else ""
        opened = first_named(self.frames, C2B, "open")
        if opened is None:
            return ""
        facts, _ = amqp10.open_facts(opened, opened)
        product = " ".join(str(facts[k]) for k in ("product", "version") if k in facts)
        return (
            f"{product or 'AMQP 1.0 client'} (container-id "
            f"{facts['client container-id']})"
        )

    @property
    def state(self) -> str:
        """Where the connection is, in a word or two, for a list of connections."""
        if self.relay.connect_error is not None:
            return "broker unreachable"
        if self.relay.closed:
            return "closed"
        phase = self._inference.phase
        return phase.value if phase is not None else "tcp open"

    async def _tcp(self) -> None:
        await self.relay.connected.wait()
        relay = self.relay
        self._add(PhaseStarted(Phase.TCP, 0.0))
        if relay.connect_error is not None:
            self._add(
                PhaseFailed(
                    Phase.TCP,
                    f"the proxy could not reach the broker at {relay.upstream.address}"
                    f": {why(relay.connect_error)}",
                    advice="check the upstream URL given to `amqp-explorer watch`, "
                    "and that the broker is running",
                )
            )
            self._end(clean=False)
            return
        self._add(PhaseReport(Phase.TCP, *tcp_facts(relay)))
        relay.tap.listeners.append(self._wire)
        for event in list(relay.tap.events):
            self._wire(event)

    def _wire(self, event: WireEvent) -> None:
        """Read `event`, once the client's header has told its dialect."""
        if self._decoders is None:
            self._early.append(event)
            head = b"".join(
                e.data
                for e in self._early
                if isinstance(e, Chunk) and e.direction is C2B
            )
            client_chunk = isinstance(event, Chunk) and event.direction is C2B
            if client_chunk and len(head) < HEADER_SIZE:
                return
            self._settle(dialect_of(head))
            early, self._early = self._early, []
            for seen in early:
                self._read(seen)
            return
        self._read(event)

    def _settle(self, dialect: Dialect) -> None:
        """The client speaks `dialect`: its decoders, rules and plan."""
        self.dialect = dialect
        self.plan = watched_plan(dialect)
        self._decoders = {d: dialect.decoder(d) for d in Direction}
        self._inference = Inference(dialect=dialect)

    def _read(self, event: WireEvent) -> None:
        assert self._decoders is not None
        decoder = self._decoders[event.direction]
        if isinstance(event, Chunk):
            items = decoder.feed(event.data, event.t)
        else:
            end = decoder.close(event.t)
            items = [end] if end is not None else []
        for item in items:
            if isinstance(item, Frame):
                if ends_handshake(item):
                    self._opened = item
                for told in self._inference.frame(item):
                    self._add(told)
            else:
                self._add(self._inference.unreadable(item))
        if isinstance(event, StreamEnd):
            self._stream_ended(event)

    def _stream_ended(self, end: StreamEnd) -> None:
        ended = self.relay.tap.ended
        closed = self._inference.closed
        if end.direction is B2C and C2B not in ended and not closed:
            self._add(self._dropped(end))
        elif end.direction is C2B and B2C not in ended and not closed:
            _, close, then = _WORDS[self.dialect.key]
            self._add(
                PhaseFailed(
                    self._inference.model.phase,
                    f"the client ended its side {end.t:.1f} s after TCP accept "
                    f"({end.reason}) without {close}",
                    advice=f"a client that closes cleanly sends {close} and {then}",
                    fatal=False,
                )
            )
        if len(ended) == 2:
            self._end(clean=self._inference.clean)

    def _dropped(self, end: StreamEnd) -> PhaseFailed:
        phase = self._inference.model.phase
        if self._opened is None and end.t >= HANDSHAKE_TIMEOUT - 0.5:
            return PhaseFailed(
                phase,
                f"the broker dropped the connection {end.t:.1f} s after TCP accept "
                f"({end.reason}): its handshake_timeout (10 s by default) ran out "
                f"before {_WORDS[self.dialect.key][0]}",
                advice="the client must finish its handshake in time after it "
                "opens TCP: is it stuck, or slow to send its next frame?",
            )
        return PhaseFailed(
            phase,
            f"the broker ended the connection {end.t:.1f} s after TCP accept "
            f"({end.reason})",
            advice="the broker's log says why (`rabbitmq-diagnostics log_tail`)",
        )

    def _end(self, *, clean: bool) -> None:
        self._add(LifecycleEnded(clean))

    # Steps ---------------------------------------------------------------------

    def _add(self, event: EngineEvent) -> None:
        if isinstance(event, PhaseStarted) or not self._starts:
            self._starts.append(len(self.events))
        self.events.append(event)
        self._tell()
        self._changed.set()

    def _tell(self) -> None:
        """Tell every event of the steps revealed so far (of all, when following)."""
        if self.follow:
            upto = len(self.events)
        elif self._revealed < len(self._starts):
            upto = self._starts[self._revealed]
        else:
            upto = len(self.events)
        while self._told < upto:
            event = self.events[self._told]
            self._told += 1
            self.listener(event)
        self.finished = self._done() and self._told == len(self.events)

    def _done(self) -> bool:
        return bool(self.events) and isinstance(self.events[-1], LifecycleEnded)

    @property
    def next_phase(self) -> Phase | None:
        """The phase the next step shows: known once its first frame has crossed."""
        if self.finished or self._revealed >= len(self._starts):
            return None
        first = self.events[self._starts[self._revealed]]
        return first.phase if isinstance(first, PhaseStarted) else None

    async def step(self) -> bool:
        """Show the next phase the client went through, waiting for it if need be."""
        while self._revealed >= len(self._starts) and not self._done():
            self._changed.clear()
            await self._changed.wait()
        self._revealed += 1
        self._tell()
        return not self.finished

    # The clock -------------------------------------------------------------------

    def handshake_time_left(self) -> float | None:
        """Seconds of the broker's handshake_timeout left, while the handshake runs."""
        if self._opened is not None or self.relay.closed:
            return None
        return max(0.0, HANDSHAKE_TIMEOUT - self.relay.tap.now())

    def clock(self) -> Clock:
        """The client sets the pace; the broker's clock runs on its connection."""
        relay = self.relay
        end = relay.tap.events[-1] if relay.closed else None
        if end is not None:
            state = f"closed {end.t:.1f} s after TCP accept"
        elif self._opened is None:
            left = self.handshake_time_left() or 0.0
            state = f"handshake: the broker's handshake_timeout has {left:.1f} s left"
        else:
            state = f"open (handshake {self._opened.t * 1000:.0f} ms); {self._beat()}"
        return Clock("watched", self.handshake_time_left(), state)

    def _beat(self) -> str:
        """The heartbeat agreed: TuneOk's, or 1.0's idle-time-out of each open."""
        if self.dialect is AMQP_0_9_1:
            tune_ok = first_payload(self.frames, C2B, commands.Connection.TuneOk)
            beat = int(tune_ok.heartbeat) if tune_ok is not None else 0
            return f"heartbeat {beat} s" if beat else "heartbeats off"
        assert self._opened is not None
        sent = first_named(self.frames, C2B, "open") or self._opened
        return amqp10.idle_time_outs(sent, self._opened)

    def unmasked(self, frame: Frame) -> Frame:
        """The frame as the client sent it, password included."""
        for seen in self.frames:
            if seen.direction is frame.direction and seen.offset == frame.offset:
                return seen
        return frame

    async def aclose(self) -> None:
        """Stop watching; the application's connection is left to it."""
        self._tcp_task.cancel()
        if self._wire in self.relay.tap.listeners:
            self.relay.tap.listeners.remove(self._wire)


class Watch:
    """The watch proxy and the connections it has relayed, in order of arrival."""

    def __init__(
        self,
        upstream: Upstream,
        on_connection: Callable[[WatchedConnection], None],
        listener_for: Callable[[Relay], Listener],
        *,
        follow: bool = False,
    ) -> None:
        """A proxy to `upstream`; each client becomes a WatchedConnection.

        `listener_for` gives each new connection its listener; `on_connection`
        is told of it once it exists.
        """
        self.connections: list[WatchedConnection] = []
        self._on_connection = on_connection
        self._listener_for = listener_for
        self._follow = follow
        self.proxy = Proxy(upstream, self._arrived)

    @property
    def address(self) -> str:
        """Where the proxy listens (``host:port``), once started."""
        return self.proxy.address

    async def start(self, host: str, port: int) -> None:
        """Listen for clients (raises OSError when the address cannot be used)."""
        await self.proxy.start(host, port)

    def _arrived(self, relay: Relay) -> None:
        connection = WatchedConnection(
            relay, self._listener_for(relay), follow=self._follow
        )
        self.connections.append(connection)
        self._on_connection(connection)

    async def aclose(self) -> None:
        """Stop listening and close every relayed connection."""
        for connection in self.connections:
            await connection.aclose()
        await self.proxy.aclose()
