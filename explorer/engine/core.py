"""The Engine: steps one live connection through the lifecycle phases.

Owns stepping (one phase, or one operation, per `step()`, run by its step table:
by default its dialect's, `steps.DEFAULTS`), waiting for the broker, telling
events, and looking up what the wire showed. The tap's bytes are read in `wire`;
the steps are `reaching`, `handshake` and `session` (0-9-1, aiormq) or
`amqp10steps` and `amqp10ops` (1.0, Proton); reports come from the wire only.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping
from functools import partial
from typing import TypeVar

from aiormq.abc import AbstractChannel

from explorer.engine import wire
from explorer.engine.events import (
    Clock,
    EngineEvent,
    FrameObserved,
    LifecycleEnded,
    Listener,
    PhaseFailed,
    PhaseReport,
    PhaseStarted,
    Waiting,
    walk,
)
from explorer.engine.experiment import Cleanup, Experiment, Operation, Step
from explorer.engine.framelog import FrameLog
from explorer.engine.reaching import Handshaking
from explorer.engine.steps import DEFAULTS
from explorer.engine.wire import HANDSHAKE_TIMEOUT
from explorer.net.amqp10 import Amqp10Client
from explorer.net.client import ExplorerConnection
from explorer.net.connect import Address
from explorer.net.endpoint import Endpoint
from explorer.net.raw import RawClient
from explorer.net.tap import Tap
from explorer.protocol.dialect import AMQP_0_9_1, Dialect
from explorer.protocol.fields import JSON
from explorer.protocol.frames import Direction
from explorer.protocol.lifecycle import ORDER, Phase, phase_after
from explorer.protocol.stream import StreamEnd

__all__ = ["HANDSHAKE_TIMEOUT", "Engine", "Experiment", "Operation", "Step"]

T = TypeVar("T")


class Engine(FrameLog):
    """Steps one live connection through the lifecycle and reports each phase."""

    recording = False
    watched = False

    def __init__(
        self,
        url: str,
        listener: Listener,
        *,
        reveal_secrets: bool = False,
        live_handshake: bool = False,
        wait: float = 5.0,
        experiment: Experiment | None = None,
        steps: Mapping[Phase, Step] | None = None,
        dialect: Dialect = AMQP_0_9_1,
    ) -> None:
        """Prepare to connect to `url`; nothing happens until `step()`.

        Args:
            url: The learner's AMQP URL.
            listener: Called with every event as it happens.
            reveal_secrets: Show passwords instead of masking them.
            live_handshake: Race mode: hold each of the client's handshake
                writes until its step, while the broker's handshake_timeout
                runs. By default (the learner's pace) the handshake runs at
                wire speed when TCP opens; its steps then show it, frame by frame.
            wait: Seconds to wait for the broker's answer at each step.
            experiment: A failure-lab or topic experiment to run instead of
                the plain lifecycle.
            steps: What each phase's step does (an experiment replaces some);
                by default the dialect's (explorer.engine.steps.DEFAULTS).
            dialect: The protocol to speak: AMQP 0-9-1 (aiormq) or 1.0
                (Proton, explorer.net.amqp10).
        """
        super().__init__()
        self.url = url
        self.listener = listener
        self.reveal = reveal_secrets
        self.live_handshake = live_handshake
        self.wait = wait
        self.dialect = dialect
        default_steps, default_operations = DEFAULTS[dialect.key]
        self.model = dialect.rules(Phase.ENDPOINT)
        self.tap = Tap(hide_handshake_heartbeats=dialect is AMQP_0_9_1)
        self.tap.listeners.append(partial(wire.read, self))
        self.tap.hold_listeners.append(self.wake)
        self.experiment = experiment
        self.steps = default_steps if steps is None else steps
        left_out = {
            p for p, s in (experiment.steps if experiment else {}).items() if s is None
        }
        self.plan = [p for p in dialect.plan_for(True) if p not in left_out]
        #: What each operation name runs, when the experiment brings its own.
        self.own_operations = experiment.operations if experiment else {}
        self.operations = list(self.own_operations or default_operations)
        if experiment is not None and experiment.steps.get(Phase.OPERATIONS):
            self.operations = [experiment.name]  # one step of its own
        #: When the experiment sent what provokes the broker (tap clock).
        self.trigger_at: float | None = None
        #: Whether the experiment saw the broker do what it expected.
        self.outcome: bool | None = None
        #: What to undo on the broker when the run ends (users, vhosts ...).
        self.cleanups: list[Cleanup] = []
        self.failed = False
        #: A failure the lifecycle cannot go on from: only the close is left.
        self.fatal = False
        self.finished = False
        #: The connection is gone: closed by the broker, lost, or unreadable.
        self.gone = False
        #: The explorer itself is closing the connection.
        self.closing = False
        #: How each direction of the TCP connection ended, once it has.
        self.ended: dict[Direction, StreamEnd] = {}
        self.endpoint: Endpoint | None = None
        self.addresses: list[Address] = []
        self.sock: socket.socket | None = None
        self.connection: ExplorerConnection | RawClient | None = None
        #: The AMQP 1.0 client, for a run with dialect AMQP_1_0.
        self.amqp10: Amqp10Client | None = None
        #: How the client's handshake starts (set by the tcp step).
        self.handshaking: Handshaking | None = None
        self.channel: AbstractChannel | None = None
        self.queue = ""
        #: When TCP connected, on the tap's clock.
        self.tcp_at: float | None = None
        self._connecting: asyncio.Task[object] | None = None
        self.decoders = {d: dialect.decoder(d) for d in Direction}
        self._arrived = asyncio.Event()
        self._index = 0
        #: The phase the current step runs; events of later phases wait for it.
        self._current = Phase.ENDPOINT
        self._outbox: list[FrameObserved | PhaseFailed] = []

    # Stepping ---

    @property
    def next_phase(self) -> Phase | None:
        """The phase the next `step()` runs, or None when finished."""
        return None if self.finished else self.plan[self._index]

    def handshake_time_left(self) -> float | None:
        """Seconds left of the broker's handshake_timeout, while it runs."""
        if self.tcp_at is None or self.gone or self.opened() is not None:
            return None
        return max(0.0, HANDSHAKE_TIMEOUT - (self.tap.now() - self.tcp_at))

    async def step(self) -> bool:
        """Run the next phase (or the next operation); False when all is done."""
        if self.finished:
            return False
        phase = self.plan[self._index]
        self._current = phase
        operation = self.operations[0] if phase is Phase.OPERATIONS else ""
        self.tell(PhaseStarted(phase, self.tap.now(), operation))
        self._flush()
        try:
            await self._run(phase)
        except Exception as exc:  # unforeseen: report it at its phase, never crash
            self.fail(phase, f"unexpected error: {type(exc).__name__}: {exc}")
        if phase is Phase.CLOSE:
            await self.clean_up()
        self._advance(phase)
        return not self.finished

    async def _run(self, phase: Phase) -> None:
        """One phase's step: the experiment's, where it has its own."""
        experiment = self.experiment
        if experiment is None:
            await self.steps[phase](self)
            return
        if phase is Phase.ENDPOINT:
            await experiment.prepare(self)
            if self.failed:
                return
        own = experiment.steps.get(phase)
        await (own or self.steps[phase])(self)
        if own is not None and phase is Phase.OPERATIONS:
            self.operations.clear()
        if phase is Phase.CLOSE:
            await experiment.conclude(self)

    async def clean_up(self) -> None:
        """Undo what the run created on the broker (once; errors are reported);
        an undo cut short (the run was cancelled under it) is left for `aclose`."""
        while self.cleanups:
            undo = self.cleanups[-1]
            try:
                await undo()
            except Exception as exc:
                self.fail(Phase.CLOSE, f"could not clean up after the run: {exc}")
            self.cleanups.pop()

    async def run(self, until: Phase | None = None) -> bool:
        """Step until the lifecycle ends, or `until` is done; True when clean."""
        await walk(self, until)
        return not self.failed

    async def aclose(self) -> None:
        """Close whatever is still open, quietly."""
        self.closing = True
        await self.stop_connecting()
        opened = self.opened() is not None
        closing, client = None, self.connection
        if opened and self.amqp10 is not None and not self.amqp10.is_closed:
            closing = self.amqp10.close()
        elif opened and client is not None and not client.is_closed:
            closing = client.close(exc=None)
        if closing is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(closing, timeout=3)
        self.drop()
        await self.clean_up()
        await asyncio.sleep(0)  # let the transport report how the connection ended

    def drop(self) -> None:
        """Close the TCP connection without an AMQP close."""
        self.closing = True
        if self.tap.transport is not None:
            self.tap.transport.close()
        elif self.sock is not None:
            self.sock.close()

    def _advance(self, phase: Phase) -> None:
        stopped = self.gone or self.fatal
        if self.fatal and self.sock is None:
            self._finish()  # failed before any connection existed: nothing to close
        elif phase is Phase.OPERATIONS and self.operations and not stopped:
            self._index = self.plan.index(phase)  # the next operation
        elif (then := phase_after(self.plan, phase, stopped=stopped)) is None:
            self._finish()
        else:
            self._index = self.plan.index(then)

    def lose(self) -> None:
        """The connection is gone: whatever comes next, only the close is left."""
        self.gone = True
        then = phase_after(self.plan, self._current, stopped=True)
        if not self.finished and then is not None:
            self._index = self.plan.index(then)

    def _finish(self) -> None:
        self._current = Phase.CLOSE
        self._flush()
        self.finished = True
        self.tell(LifecycleEnded(not self.failed and wire.closed_cleanly(self)))

    # The client's handshake ---------------------------------------------------

    def start_connecting(self) -> asyncio.Task[object]:
        """Start the client's handshake (once); it pauses at each held write."""
        if self._connecting is None:
            assert self.handshaking is not None, "the tcp phase runs first"
            self._connecting = asyncio.ensure_future(self.handshaking())
            self._connecting.add_done_callback(self._connected)
        return self._connecting

    async def send_next(self) -> None:
        """Live: wait for the client's next handshake write and let it go."""
        if not self.live_handshake:
            return
        connecting = self.start_connecting()
        await self.until(lambda: self.tap.held > 0 or connecting.done())
        if self.tap.held:
            self.tap.release()

    async def stop_connecting(self) -> None:
        """Cancel the client's handshake if it runs, and stop a 1.0 client's
        keepalive; return once they stopped."""
        task = self._connecting
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await task
        if self.amqp10 is not None:
            await self.amqp10.stop_keepalive()

    def _connected(self, task: asyncio.Task[object]) -> None:
        """The handshake ended; why it failed is read from the wire instead."""
        if not task.cancelled():
            task.exception()  # retrieved, so asyncio does not print it
        self.wake()

    # Waiting ---

    async def until(
        self,
        ready: Callable[[], bool],
        limit: float | None = None,
        *,
        even_if_gone: bool = False,
    ) -> bool:
        """Wait until `ready()` (or the connection is gone); False on timeout."""
        try:
            async with asyncio.timeout(limit or self.wait):
                while not ready() and (even_if_gone or not self.gone):
                    self._arrived.clear()
                    await self._arrived.wait()
        except TimeoutError:
            return False
        return True

    async def wait_for(
        self, what: str, seconds: float, ready: Callable[[], bool]
    ) -> bool:
        """Wait up to `seconds` for a timer of the broker's, saying so first."""
        self.tell(Waiting(self._current, what, round(seconds, 1), self.tap.now()))
        return await self.until(ready, seconds, even_if_gone=True)

    async def during(self, what: str, seconds: float, work: Awaitable[T]) -> T:
        """Await `work` (for at most `seconds`), saying what is awaited first."""
        self.tell(Waiting(self._current, what, seconds, self.tap.now()))
        async with asyncio.timeout(seconds):
            return await work

    def wake(self) -> None:
        """Something arrived (a frame, a held write, the end): waits look again."""
        self._arrived.set()

    def clock(self) -> Clock:
        """The pace of this run and what the broker's clock is doing now."""
        return wire.clock(self)

    # Events ---

    def report(
        self, phase: Phase, facts: dict[str, JSON], notes: Iterable[str]
    ) -> None:
        """Tell what a phase established."""
        self.tell(PhaseReport(phase, facts, tuple(notes)))

    def fail(
        self,
        phase: Phase,
        message: str,
        code: int | None = None,
        text: str | None = None,
        advice: str = "",
        fatal: bool = True,
    ) -> None:
        """Tell that a phase failed, and remember that the lifecycle did."""
        self.failed = True
        self.fatal = self.fatal or fatal
        self.tell(PhaseFailed(phase, message, code, text, advice, fatal))

    def tell(self, event: EngineEvent) -> None:
        """Tell the listener now, or when the step for the event's phase runs
        (at wire speed, frames of later phases arrive before their step: they
        are told at it, in the order they came; stepped live, at once)."""
        if (
            not self.live_handshake
            and isinstance(event, FrameObserved | PhaseFailed)
            and (self._outbox or ORDER.index(event.phase) > ORDER.index(self._current))
        ):
            self._outbox.append(event)
            self._flush()
            return
        self.listener(event)

    def _flush(self) -> None:
        now = ORDER.index(self._current)
        while self._outbox and ORDER.index(self._outbox[0].phase) <= now:
            self.listener(self._outbox.pop(0))

    # Looking at what was seen ---
    def need_endpoint(self) -> Endpoint:
        """The parsed endpoint (the endpoint phase has run)."""
        assert self.endpoint is not None, "the endpoint phase runs first"
        return self.endpoint

    def need_connection(self) -> ExplorerConnection:
        """The aiormq connection (the tcp phase has run)."""
        assert isinstance(self.connection, ExplorerConnection), "aiormq connects"
        return self.connection

    def need_amqp10(self) -> Amqp10Client:
        """The AMQP 1.0 client (the tcp phase has run, with dialect AMQP_1_0)."""
        assert self.amqp10 is not None, "the tcp phase runs first"
        return self.amqp10

    def need_raw(self) -> RawClient:
        """The raw client (an experiment with a handshake of its own)."""
        assert isinstance(self.connection, RawClient), "the raw client connects"
        return self.connection
