"""What the lifecycle engine reports, as plain values any front end can show.

Owns the engine's event types. The trace command prints them; the app turns
them into screen updates. No asyncio, socket or Textual here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from explorer.protocol.fields import JSON
from explorer.protocol.frames import Frame
from explorer.protocol.lifecycle import Phase


@dataclass(frozen=True, slots=True)
class PhaseStarted:
    """The engine begins a phase."""

    phase: Phase
    #: Seconds on the engine's clock.
    t: float


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
class LifecycleEnded:
    """The engine has nothing more to do."""

    #: True when every phase completed and the connection closed cleanly.
    clean: bool


EngineEvent = PhaseStarted | FrameObserved | PhaseReport | PhaseFailed | LifecycleEnded
