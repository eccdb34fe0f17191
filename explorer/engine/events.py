"""What the lifecycle engine reports, as plain values any front end can show.

Owns the engine's event types. The trace command prints them; the app turns
them into screen updates. No asyncio, socket or Textual here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from explorer.protocol.dialect import Dialect
from explorer.protocol.fields import JSON
from explorer.protocol.frames import Frame
from explorer.protocol.lifecycle import Phase


@dataclass(frozen=True, slots=True)
class PhaseStarted:
    """The engine begins a phase (or, within operations, one operation)."""

    phase: Phase
    #: Seconds on the engine's clock.
    t: float
    #: The operation this step runs ("declare", "publish" ...), "" otherwise.
    step: str = ""


@dataclass(frozen=True, slots=True)
class FrameObserved:
    """A frame crossed the wire (secrets masked unless the learner revealed them)."""

    frame: Frame
    #: The phase the lifecycle rules put it in.
    phase: Phase
    #: For frames that may come at any time: what it means.
    note: str = ""
    #: When the rules do not allow the frame here: what is wrong.
    violation: str = ""


@dataclass(frozen=True, slots=True)
class PhaseReport:
    """What a phase established, as facts and as sentences."""

    phase: Phase
    facts: dict[str, JSON] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PhaseFailed:
    """A phase could not complete, or the broker refused something."""

    phase: Phase
    message: str
    #: The broker's reply code and text, when it sent a Close.
    reply_code: int | None = None
    reply_text: str | None = None
    #: What the learner can do about it.
    advice: str = ""
    #: False when the connection lives on (a channel error).
    fatal: bool = True


@dataclass(frozen=True, slots=True)
class Waiting:
    """The engine waits for something the broker does on a timer of its own."""

    phase: Phase
    #: What is awaited, e.g. "the broker's 10 s handshake_timeout".
    what: str
    #: How long it is expected to take at most, in seconds.
    seconds: float
    #: When the wait began, on the engine's clock.
    t: float


@dataclass(frozen=True, slots=True)
class LifecycleEnded:
    """The engine has nothing more to do."""

    #: True when every phase completed and the connection closed cleanly.
    clean: bool


@dataclass(frozen=True, slots=True)
class Clock:
    """The pace of a run and the broker's clock, for a status line."""

    #: "learner" (the handshake ran at wire speed and is reviewed step by
    #: step), "race" (held step by step against handshake_timeout), "recording".
    pace: str
    #: Seconds left of the broker's handshake_timeout while it runs.
    handshake_left: float | None
    #: The connection now, as the wire shows it ("open; heartbeat 60 s" ...).
    state: str


EngineEvent = (
    PhaseStarted | FrameObserved | PhaseReport | PhaseFailed | Waiting | LifecycleEnded
)
Listener = Callable[[EngineEvent], None]


class Stepper(Protocol):
    """What a front end drives: the live Engine, a ReplayEngine, or a
    WatchedConnection (an application's connection, relayed by `watch`)."""

    #: True for a recording, False for a live connection.
    recording: bool
    #: True for a connection the explorer watches but did not make: its
    #: client is someone else's, and the client, not the learner, sets the pace.
    watched: bool
    #: The phases this run goes through, in order.
    plan: list[Phase]
    #: The protocol the connection speaks (AMQP 0-9-1 or 1.0).
    dialect: Dialect
    finished: bool

    @property
    def next_phase(self) -> Phase | None:
        """The phase the next `step()` runs, or None when finished."""

    def handshake_time_left(self) -> float | None:
        """Seconds left before the broker's handshake_timeout, while it runs."""

    def clock(self) -> Clock:
        """The pace of this run and what the broker's clock is doing now."""

    def unmasked(self, frame: Frame) -> Frame:
        """`frame` with its secrets, when the learner asks to see them."""

    async def step(self) -> bool:
        """Run the next step; False when nothing is left."""

    async def aclose(self) -> None:
        """Close whatever is open."""


async def walk(stepper: Stepper, until: Phase | None = None) -> None:
    """Step until the lifecycle ends, or until the phase `until` is done."""
    while not stepper.finished:
        phase = stepper.next_phase
        await stepper.step()
        if until is not None and phase is until and stepper.next_phase is not until:
            return
