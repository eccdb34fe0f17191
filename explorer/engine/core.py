"""The Engine: steps one live connection through the lifecycle phases.

Owns stepping (one phase, or one operation, per `step()`), waiting for the
broker, and the wire: every byte the tap sees goes through the decoders and the
lifecycle rules and comes out as events. What each phase does lives in the
`reaching`, `handshake` and `session` modules; every report is built from the
decoded wire, never from aiormq's return values.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Final, NamedTuple, Protocol, TypeVar

from aiormq.abc import AbstractChannel
from aiormq.exceptions import AuthenticationError
from pamqp import commands

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
from explorer.net.client import ExplorerConnection
from explorer.net.connect import Address
from explorer.net.endpoint import Endpoint
from explorer.net.raw import Handshake, RawClient
from explorer.net.tap import Tap
from explorer.protocol import report
from explorer.protocol.decoder import FrameDecoder
from explorer.protocol.explain import advice_for, reply_code
from explorer.protocol.fields import JSON, shown
from explorer.protocol.frames import (
    B2C,
    C2B,
    DecodeFailure,
    Direction,
    Frame,
    first_named,
    first_payload,
)
from explorer.protocol.lifecycle import ORDER, LifecycleModel, Phase
from explorer.protocol.stream import Chunk, StreamEnd, WireEvent

#: RabbitMQ's default handshake_timeout: from TCP accept to Connection.Open.
HANDSHAKE_TIMEOUT: Final = 10.0
OPERATIONS: Final = ("declare", "publish", "consume", "get")
Step = Callable[["Engine"], Awaitable[None]]
Cleanup = Callable[[], Awaitable[None]]
T = TypeVar("T")


class Operation(NamedTuple):
    """One step of the operations phase: what it does on a channel, and why."""

    run: Callable[[Engine, AbstractChannel], Awaitable[dict[str, JSON]]]
    #: One sentence for the report: what the broker did and checked.
    note: str


class Experiment(Protocol):
    """What an experiment changes in the lifecycle (see explorer.lab)."""

    @property
    def name(self) -> str:
        """The experiment's name, e.g. "wrong-password"."""

    @property
    def steps(self) -> Mapping[Phase, Step | None]:
        """Phases whose step the experiment replaces (None: leaves out)."""

    @property
    def operations(self) -> Mapping[str, Operation]:
        """The operations to run, in order (the usual ones when empty)."""

    @property
    def handshake(self) -> Handshake | None:
        """When set, the raw client does the handshake instead of aiormq."""

    async def prepare(self, engine: Engine) -> None:
        """Before the endpoint step: change the URL, create what it needs."""

    async def conclude(self, engine: Engine) -> None:
        """After the close step: report what the broker did."""


class Engine:
    """Steps one live connection through the lifecycle and reports each phase."""

    recording = False

    def __init__(
        self,
        url: str,
        listener: Listener,
        *,
        reveal_secrets: bool = False,
        live_handshake: bool = False,
        wait: float = 5.0,
        experiment: Experiment | None = None,
    ) -> None:
        """Prepare to connect to `url`; nothing happens until `step()`.

        Args:
            url: The learner's AMQP URL.
            listener: Called with every event as it happens.
            reveal_secrets: Show passwords instead of masking them.
            live_handshake: Race mode: hold the client's handshake writes and
                send each one at its step, while the broker's 10 s
                handshake_timeout runs. By default (the learner's pace) the
                handshake runs at wire speed when TCP opens, and the handshake
                steps then show what happened, frame by frame.
            wait: Seconds to wait for the broker's answer at each step.
            experiment: A failure-lab or topic experiment to run instead of
                the plain lifecycle.
        """
        self.url = url
        self.listener = listener
        self.reveal = reveal_secrets
        self.live_handshake = live_handshake
        self.wait = wait
        self.model = LifecycleModel()
        self.tap = Tap()
        self.tap.listeners.append(self._on_wire)
        self.tap.hold_listeners.append(self._wake)
        #: Every frame seen so far, unmasked (events carry masked copies).
        self.frames: list[Frame] = []
        self.experiment = experiment
        left_out = {
            p for p, s in (experiment.steps if experiment else {}).items() if s is None
        }
        self.plan: list[Phase] = [p for p in ORDER if p not in left_out]
        #: What each operation name runs, when the experiment brings its own.
        self.own_operations = experiment.operations if experiment else {}
        self.operations = list(self.own_operations or OPERATIONS)
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
        self.channel: AbstractChannel | None = None
        self.queue = ""
        #: When TCP connected, on the tap's clock.
        self.tcp_at: float | None = None
        self._connecting: asyncio.Task[bool] | None = None
        self._decoders = {d: FrameDecoder(d) for d in Direction}
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

    def unmasked(self, frame: Frame) -> Frame:
        """The frame as it crossed the wire, secrets included."""
        for seen in self.frames:
            if (seen.direction, seen.offset) == (frame.direction, frame.offset):
                return seen
        return frame

    def handshake_time_left(self) -> float | None:
        """Seconds left of the broker's handshake_timeout, while it runs."""
        if self.tcp_at is None or self.gone or self.seen(B2C, "Connection.OpenOk"):
            return None
        return max(0.0, HANDSHAKE_TIMEOUT - (self.tap.now() - self.tcp_at))

    async def step(self) -> bool:
        """Run the next phase (or the next operation); False when all is done."""
        if self.finished:
            return False
        phase = self.plan[self._index]
        self._current = phase
        operation = self.operations[0] if phase is Phase.OPERATIONS else ""
        self._emit(PhaseStarted(phase, self.tap.now(), operation))
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
            await _steps()[phase](self)
            return
        if phase is Phase.ENDPOINT:
            await experiment.prepare(self)
            if self.failed:
                return
        own = experiment.steps.get(phase)
        await (own or _steps()[phase])(self)
        if own is not None and phase is Phase.OPERATIONS:
            self.operations.clear()
        if phase is Phase.CLOSE:
            await experiment.conclude(self)

    async def clean_up(self) -> None:
        """Undo what the run created on the broker (once; errors are reported)."""
        while self.cleanups:
            undo = self.cleanups.pop()
            try:
                await undo()
            except Exception as exc:
                self.fail(Phase.CLOSE, f"could not clean up after the run: {exc}")

    async def run(self, until: Phase | None = None) -> bool:
        """Step until the lifecycle ends, or `until` is done; True when clean."""
        await walk(self, until)
        return not self.failed

    async def aclose(self) -> None:
        """Close whatever is still open, quietly."""
        self.closing = True
        if self._connecting is not None and not self._connecting.done():
            self._connecting.cancel()
        opened = self.seen(B2C, "Connection.OpenOk")
        if opened and self.connection is not None and not self.connection.is_closed:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(self.connection.close(exc=None), timeout=3)
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
        if self.fatal and self.sock is None:
            self._finish()  # failed before any connection existed: nothing to close
        elif (self.gone or self.fatal) and phase is not Phase.CLOSE:
            self._index = self.plan.index(Phase.CLOSE)
        elif phase is Phase.OPERATIONS and self.operations:
            self._index = self.plan.index(phase)  # the next operation
        elif phase is Phase.CLOSE:
            self._finish()
        else:
            self._index = self.plan.index(phase) + 1

    def _lose(self) -> None:
        """The connection is gone: whatever comes next, only the close is left."""
        self.gone = True
        if not self.finished:
            self._index = self.plan.index(Phase.CLOSE)

    def _finish(self) -> None:
        self._current = Phase.CLOSE
        self._flush()
        self.finished = True
        self._emit(
            LifecycleEnded(not self.failed and self.seen(B2C, "Connection.CloseOk"))
        )

    # The client's handshake ---------------------------------------------------

    def start_connecting(self) -> asyncio.Task[bool]:
        """Start aiormq's connect() (once); it pauses at each held write."""
        if self._connecting is None:
            assert self.connection is not None, "the tcp phase runs first"
            self._connecting = asyncio.ensure_future(self.connection.connect())
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

    def client_gave_up(self, phase: Phase) -> None:
        """Report why the client stopped before sending what the phase needs."""
        if self.failed:
            return
        error = self.connection.gave_up if self.connection else None
        if isinstance(error, AuthenticationError):
            offered, supported = error.args
            self.fail(
                phase,
                f"aiormq was asked to log in with {self.need_endpoint().auth}; the "
                f"broker offers {offered} and aiormq supports {' '.join(supported)}, "
                "so aiormq gave up without sending Connection.StartOk",
                advice="use ?auth= with a mechanism both sides support",
            )
            return
        self.fail(phase, f"the client stopped: {error or 'it sent nothing more'}")

    def _connected(self, task: asyncio.Task[bool]) -> None:
        """aiormq's connect() ended; why it failed is read from the wire instead."""
        if not task.cancelled():
            task.exception()  # retrieved, so asyncio does not print it
        self._wake()

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
        self._emit(Waiting(self._current, what, round(seconds, 1), self.tap.now()))
        return await self.until(ready, seconds, even_if_gone=True)

    async def during(self, what: str, seconds: float, work: Awaitable[T]) -> T:
        """Await `work` (for at most `seconds`), saying what is awaited first."""
        self._emit(Waiting(self._current, what, seconds, self.tap.now()))
        async with asyncio.timeout(seconds):
            return await work

    def _wake(self) -> None:
        self._arrived.set()

    # The wire ---

    def _on_wire(self, event: WireEvent) -> None:
        decoder = self._decoders[event.direction]
        if isinstance(event, Chunk):
            items = decoder.feed(event.data, event.t)
        else:
            end = decoder.close(event.t)
            # A frame cut short by the explorer's own close is no fault of the
            # peer's (a stall that left it unfinished was told when it happened).
            items = [end] if end is not None and not self.closing else []
        for item in items:
            if isinstance(item, Frame):
                self._observe(item)
            else:
                self._unreadable(item)
        if isinstance(event, StreamEnd):
            self.ended[event.direction] = event
            self._stream_ended(event)
        self._wake()

    def _observe(self, frame: Frame) -> None:
        transition = self.model.observe(frame)
        self.frames.append(frame)
        # A broker's Close, Blocked, Return ... belongs to the phase it interrupts.
        interrupting = bool(transition.note) and frame.direction is B2C
        phase = transition.before if interrupting else transition.after
        masked = shown(frame, self.reveal)
        self._emit(FrameObserved(masked, phase, transition.note, transition.violation))
        payload = frame.payload
        if frame.direction is C2B:
            return
        if isinstance(payload, commands.Connection.Close | commands.Channel.Close):
            self._broker_closed(frame, transition.before)
        elif transition.violation and frame.name == "ProtocolHeader":
            self._lose()
            _, notes = report.header_facts(self.frames[0], frame)
            self.fail(
                Phase.HEADER,
                notes[-1],
                advice="use a client for the protocol this broker offers, or a "
                "broker that speaks AMQP 0-9-1",
            )

    def _broker_closed(self, frame: Frame, phase: Phase) -> None:
        close = frame.payload
        assert isinstance(close, commands.Connection.Close | commands.Channel.Close)
        code = int(close.reply_code or 0)
        whole = isinstance(close, commands.Connection.Close)
        if whole:
            self._lose()
        if code == 200:
            return
        what = "the connection" if whole else f"channel {frame.channel}"
        self.fail(
            phase,
            f"the broker closed {what}: {reply_code(code)}",
            code,
            str(close.reply_text),
            advice=advice_for(code, str(close.reply_text)),
            fatal=whole,
        )

    def _unreadable(self, failure: DecodeFailure) -> None:
        if failure.direction is B2C:
            self._lose()
        self.fail(
            self.model.phase,
            f"the {failure.direction.sender}'s bytes cannot be read as AMQP 0-9-1 "
            f"at offset {failure.offset}: {failure.reason}",
            advice="is this really an AMQP 0-9-1 port?"
            if failure.direction is B2C
            else "the client wrote a malformed frame: RabbitMQ answers that with "
            "501 FRAME_ERROR and closes the connection",
        )

    def _stream_ended(self, end: StreamEnd) -> None:
        client_quit = C2B in self.ended and end.direction is B2C
        if end.direction is C2B or self.closing or self.gone or client_quit:
            # The client closing first is the client giving up: its step says why.
            if end.direction is B2C:
                self._lose()
            return
        phase = self._interrupted_phase()
        self._lose()
        elapsed = end.t - (self.tcp_at or 0.0)
        if not self.seen(B2C, "Connection.OpenOk") and (
            elapsed >= HANDSHAKE_TIMEOUT - 0.5
        ):
            if self.experiment:
                advice = (
                    "a client must finish the handshake in time: look for a proxy "
                    "or a slow TLS handshake delaying it, or a client stuck before "
                    "its next frame"
                )
            else:
                advice = (
                    "ctrl+r connects again; c leaves race mode, so that the "
                    "handshake runs at wire speed when TCP opens and you review it "
                    "at your own pace"
                )
            held = " while the explorer held the client's next frame" * bool(
                self.tap.held
            )
            self.fail(
                phase,
                f"the broker dropped the connection {elapsed:.1f} s after TCP accept"
                f"{held} ({end.reason}): its handshake_timeout (10 s by default) "
                "ran out before Connection.Open",
                advice=advice,
            )
        else:
            self.fail(
                phase,
                f"the connection was lost {elapsed:.1f} s after TCP accept: "
                f"{end.reason}",
                advice="the broker's log says why (`rabbitmq-diagnostics log_tail`)",
            )

    def _interrupted_phase(self) -> Phase:
        """The phase a lost connection interrupts.

        Held, the handshake is where the learner is: the step running, or the
        one due whose frame is held. At wire speed it is where the frames got to.
        """
        phase = self.model.phase
        held = self.live_handshake and not self.seen(B2C, "Connection.OpenOk")
        if held and not self.finished:
            due = self.plan[self._index]
            if ORDER.index(due) > ORDER.index(phase):
                return due
        return phase

    def clock(self) -> Clock:
        """The pace of this run and what the broker's clock is doing now."""
        pace = "race" if self.live_handshake else "learner"
        left = self.handshake_time_left()
        opened = self.frame(B2C, "Connection.OpenOk")
        end = self.ended.get(B2C) or self.ended.get(C2B)
        if self.tcp_at is None:
            state = "no connection yet"
        elif end is not None:
            state = f"closed {end.t - self.tcp_at:.1f} s after TCP accept"
        elif opened is None:
            state = (
                f"handshake_timeout {left:.1f} s left"
                if self.live_handshake and left is not None
                else "handshake at wire speed"
            )
        else:
            tune_ok = first_payload(self.frames, C2B, commands.Connection.TuneOk)
            beat = int(tune_ok.heartbeat) if tune_ok is not None else 0
            took = (opened.t - self.tcp_at) * 1000
            state = f"open (handshake {took:.0f} ms); " + (
                f"heartbeat {beat} s" if beat else "heartbeats off"
            )
        return Clock(pace, left, state)

    # Events ---

    def report(
        self, phase: Phase, facts: dict[str, JSON], notes: Iterable[str]
    ) -> None:
        """Tell what a phase established."""
        self._emit(PhaseReport(phase, facts, tuple(notes)))

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
        self._emit(PhaseFailed(phase, message, code, text, advice, fatal))

    def _emit(self, event: EngineEvent) -> None:
        """Tell the listener now, or when the step for the event's phase runs.

        When the handshake runs at wire speed, frames of later phases arrive
        before their step; they are told at that step, in the order they came.
        Stepped live, everything is told as it happens.
        """
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

    def need_raw(self) -> RawClient:
        """The raw client (an experiment with a handshake of its own)."""
        assert isinstance(self.connection, RawClient), "the raw client connects"
        return self.connection

    def frame(self, direction: Direction, name: str) -> Frame | None:
        """The first frame called `name` sent in `direction`."""
        return first_named(self.frames, direction, name)

    def first(self, direction: Direction) -> Frame | None:
        """The first frame sent in `direction`."""
        return next((f for f in self.frames if f.direction is direction), None)

    def seen(self, direction: Direction, name: str) -> bool:
        """Whether a frame called `name` was sent in `direction`."""
        return self.frame(direction, name) is not None

    def count(self, direction: Direction, name: str) -> int:
        """How many frames called `name` were sent in `direction`."""
        return sum(
            1 for f in self.frames if f.direction is direction and f.name == name
        )

    def last_time(self, direction: Direction) -> float:
        """When the last frame in `direction` arrived (0 if none)."""
        times = [f.t for f in self.frames if f.direction is direction]
        return times[-1] if times else 0.0

    def answered(self, name: str, replies: set[str]) -> bool:
        """Whether the broker answered the client's `name` with one of `replies`."""
        sent = self.frame(C2B, name)
        return sent is not None and any(
            f.name in replies and f.t >= sent.t
            for f in self.frames
            if f.direction is B2C
        )


def _steps() -> dict[Phase, Step]:
    """What each phase does (imported late: the phase modules use Engine)."""
    from explorer.engine import handshake, reaching, session

    return {
        Phase.ENDPOINT: reaching.endpoint,
        Phase.RESOLVE: reaching.resolve,
        Phase.TCP: reaching.tcp,
        Phase.TLS: reaching.tls,
        Phase.HEADER: handshake.header,
        Phase.START: handshake.start,
        Phase.AUTH: handshake.auth,
        Phase.TUNE: handshake.tune,
        Phase.OPEN: handshake.open_vhost,
        Phase.CHANNEL: session.channel,
        Phase.OPERATIONS: session.operation,
        Phase.HEARTBEAT: session.heartbeat,
        Phase.CLOSE: session.close,
    }
