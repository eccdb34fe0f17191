"""The connection lifecycle: its phases and every rule for moving between them.

Owns the Phase enum (the public phase names), the TRANSITIONS table (which
frame, sent by whom, moves the lifecycle from one phase to the next), the
frames allowed in any phase and the phase they are filed under, the moves a
step makes without a frame, the plan of phases for a URL, the frame that ends
the handshake, what is left once the lifecycle cannot go on, the permission
each operation needs, and LifecycleModel, which applies the rules to frames as
they are observed. No phase change happens anywhere else. Sans-I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from explorer.protocol.frames import B2C, C2B, Direction, Frame


class Phase(enum.Enum):
    """The phases of a client connection, in the order they happen."""

    #: The application gives the library a URL: host, port, vhost, credentials.
    ENDPOINT = "endpoint"
    #: The host name becomes one or more IP addresses.
    RESOLVE = "resolve"
    #: One TCP connection to the first address that accepts.
    TCP = "tcp"
    #: TLS on top of TCP (amqps only).
    TLS = "tls"
    #: The 8-byte protocol header, and the broker's first answer.
    HEADER = "header"
    #: Connection.Start: the broker's version, properties and mechanisms.
    START = "start"
    #: Connection.StartOk (and Secure/SecureOk): the broker authenticates.
    AUTH = "auth"
    #: Connection.Tune/TuneOk: channel_max, frame_max and heartbeat.
    TUNE = "tune"
    #: Connection.Open/OpenOk: the vhost, checked by the broker.
    OPEN = "open"
    #: Channel.Open on channel 1 and what the library adds.
    CHANNEL = "channel"
    #: Declare, publish, consume, get, ack: each authorised by the broker.
    OPERATIONS = "operations"
    #: Heartbeats both ways while the connection stays open.
    HEARTBEAT = "heartbeat"
    #: Channel.Close, Connection.Close, then the TCP close.
    CLOSE = "close"

    @property
    def number(self) -> int:
        """1-based position in the lifecycle."""
        return ORDER.index(self) + 1

    @property
    def next(self) -> Phase | None:
        """The phase after this one, or None after CLOSE."""
        index = ORDER.index(self) + 1
        return ORDER[index] if index < len(ORDER) else None


ORDER: Final[tuple[Phase, ...]] = tuple(Phase)
HANDSHAKE: Final = frozenset(
    {Phase.HEADER, Phase.START, Phase.AUTH, Phase.TUNE, Phase.OPEN}
)
#: The phases no AMQP frame shows: what they did is in their reports.
BELOW_AMQP: Final = frozenset({Phase.ENDPOINT, Phase.RESOLVE, Phase.TCP, Phase.TLS})

P = Phase

#: (phase now, sender, frame) -> phase the frame belongs to and moves us to.
#: The order follows aiormq's connect(): header, StartOk, TuneOk, Open, then
#: channel 1 with publisher confirms, then operations.
TRANSITIONS: Final[Mapping[tuple[Phase, Direction, str], Phase]] = {
    # The client writes the header as soon as TCP (and TLS, for amqps) is up.
    (P.TCP, C2B, "ProtocolHeader"): P.HEADER,
    (P.TLS, C2B, "ProtocolHeader"): P.HEADER,
    (P.HEADER, C2B, "ProtocolHeader"): P.HEADER,
    (P.HEADER, B2C, "Connection.Start"): P.START,
    (P.START, C2B, "Connection.StartOk"): P.AUTH,
    (P.AUTH, B2C, "Connection.Secure"): P.AUTH,
    (P.AUTH, C2B, "Connection.SecureOk"): P.AUTH,
    (P.AUTH, B2C, "Connection.Tune"): P.TUNE,
    (P.TUNE, C2B, "Connection.TuneOk"): P.TUNE,
    (P.TUNE, C2B, "Connection.Open"): P.OPEN,
    (P.OPEN, B2C, "Connection.OpenOk"): P.OPEN,
    (P.OPEN, C2B, "Channel.Open"): P.CHANNEL,
    (P.CHANNEL, B2C, "Channel.OpenOk"): P.CHANNEL,
    (P.CHANNEL, C2B, "Confirm.Select"): P.CHANNEL,
    (P.CHANNEL, B2C, "Confirm.SelectOk"): P.CHANNEL,
    (P.CHANNEL, C2B, "Channel.Close"): P.CLOSE,
    (P.OPERATIONS, C2B, "Channel.Close"): P.CLOSE,
    (P.HEARTBEAT, C2B, "Channel.Close"): P.CLOSE,
    (P.CLOSE, B2C, "Channel.CloseOk"): P.CLOSE,
    (P.CLOSE, C2B, "Channel.Close"): P.CLOSE,
}

#: What a client sends to operate on the broker, and what comes back.
OPERATION_FRAMES: Final = frozenset(
    {
        "Queue.Declare", "Queue.DeclareOk", "Queue.Bind", "Queue.BindOk",
        "Queue.Purge", "Queue.PurgeOk", "Queue.Delete", "Queue.DeleteOk",
        "Queue.Unbind", "Queue.UnbindOk",
        "Exchange.Declare", "Exchange.DeclareOk",
        "Exchange.Delete", "Exchange.DeleteOk",
        "Exchange.Bind", "Exchange.BindOk", "Exchange.Unbind", "Exchange.UnbindOk",
        "Basic.Qos", "Basic.QosOk", "Basic.Publish", "Basic.Ack", "Basic.Nack",
        "Basic.Reject", "Basic.Consume", "Basic.ConsumeOk", "Basic.Deliver",
        "Basic.Cancel", "Basic.CancelOk", "Basic.Get", "Basic.GetOk", "Basic.GetEmpty",
        "Basic.Recover", "Basic.RecoverOk", "ContentHeader", "ContentBody",
        "Tx.Select", "Tx.SelectOk", "Tx.Commit", "Tx.CommitOk",
        "Tx.Rollback", "Tx.RollbackOk",
    }
)  # fmt: skip
OPERATING: Final = frozenset({P.CHANNEL, P.OPERATIONS, P.HEARTBEAT})
#: Frames that open or close a further channel (2 and up) while operating:
#: an operation of their own, not the channel or close phase of channel 1.
MORE_CHANNELS: Final = frozenset(
    {
        "Channel.Open", "Channel.OpenOk", "Confirm.Select", "Confirm.SelectOk",
        "Channel.Close", "Channel.CloseOk",
    }
)  # fmt: skip

#: Frames either side may send in any phase once the handshake allows them.
#: Each maps to the phase it moves the lifecycle to (None: it stays), and a
#: note the explorer shows with it. The broker's belong to the phase they
#: interrupt (see Transition.phase), even when they move the lifecycle on.
ANYTIME: Final[Mapping[tuple[Direction, str], tuple[Phase | None, str]]] = {
    (B2C, "Heartbeat"): (None, "the broker is alive"),
    (C2B, "Heartbeat"): (None, "the client is alive"),
    (B2C, "Connection.Close"): (P.CLOSE, "the broker closes the connection"),
    (C2B, "Connection.Close"): (P.CLOSE, "the client closes the connection"),
    (B2C, "Connection.CloseOk"): (P.CLOSE, "the broker confirms the close"),
    (C2B, "Connection.CloseOk"): (P.CLOSE, "the client confirms the broker's close"),
    (B2C, "Connection.Blocked"): (
        None,
        "a resource alarm: the broker stops reading from publishing connections",
    ),
    (B2C, "Connection.Unblocked"): (None, "the alarm cleared: publishing flows again"),
    (B2C, "Channel.Close"): (
        None,
        "the broker closes this channel: a channel error; the connection lives on",
    ),
    (C2B, "Channel.CloseOk"): (None, "the client confirms the broker's channel close"),
    (B2C, "Basic.Return"): (None, "the broker returns a message it could not route"),
    (B2C, "Basic.Cancel"): (
        None,
        "the broker cancels a consumer (its queue was deleted, say)",
    ),
    (B2C, "Channel.Flow"): (None, "the broker asks the client to pause or resume"),
    (C2B, "Channel.FlowOk"): (None, "the client answers the flow request"),
}

#: The moves a step makes with no frame to mark them: each phase a step may
#: enter, and the phases it may enter it from. No frame marks the phases below
#: AMQP, nor the start of the operations and heartbeat phases (their frames
#: come, if at all, after their step begins). An experiment without channel and
#: operations goes from open straight to heartbeat.
STEPPED: Final[Mapping[Phase, frozenset[Phase]]] = {
    P.RESOLVE: frozenset({P.ENDPOINT}),
    P.TCP: frozenset({P.RESOLVE}),
    P.TLS: frozenset({P.TCP}),
    P.HEADER: frozenset({P.TCP, P.TLS}),
    P.OPERATIONS: frozenset({P.CHANNEL}),
    P.HEARTBEAT: frozenset({P.OPEN, P.CHANNEL, P.OPERATIONS}),
}

#: The frame that ends the handshake, sent by the broker: from it on the
#: connection is open, and the broker's handshake_timeout no longer runs.
HANDSHAKE_END: Final = (B2C, "Connection.OpenOk")


def plan_for(tls: bool) -> tuple[Phase, ...]:
    """The phases a connection goes through: tls only for amqps:// (`tls`)."""
    return ORDER if tls else tuple(p for p in ORDER if p is not Phase.TLS)


def phase_after(plan: Sequence[Phase], done: Phase, *, stopped: bool) -> Phase | None:
    """The phase of `plan` to run after `done`; None once the close is done.

    Args:
        plan: The phases of this run, in order (the close last).
        done: The phase whose step ran (or runs).
        stopped: The lifecycle cannot go on: the connection is gone, or a
            failure left nothing to go on with. Then only the close is left.
    """
    if done is Phase.CLOSE:
        return None
    if stopped:
        return Phase.CLOSE
    return plan[plan.index(done) + 1]


#: Which permission RabbitMQ checks for an operation, and on what.
PERMISSIONS: Final[Mapping[str, tuple[tuple[str, str], ...]]] = {
    "Queue.Declare": (("configure", "the queue"),),
    "Queue.Delete": (("configure", "the queue"),),
    "Exchange.Declare": (("configure", "the exchange"),),
    "Exchange.Delete": (("configure", "the exchange"),),
    "Queue.Bind": (("write", "the queue"), ("read", "the exchange")),
    "Queue.Unbind": (("write", "the queue"), ("read", "the exchange")),
    "Queue.Purge": (("read", "the queue"),),
    "Basic.Publish": (("write", "the exchange"),),
    "Basic.Consume": (("read", "the queue"),),
    "Basic.Get": (("read", "the queue"),),
    "Connection.Open": (("access", "the virtual host"),),
}


@dataclass(frozen=True, slots=True)
class Transition:
    """What one observed frame did to the lifecycle."""

    frame: Frame
    #: The phase before the frame.
    before: Phase
    #: The phase the lifecycle is in now.
    after: Phase
    #: A note for frames that may come at any time ("" otherwise).
    note: str = ""
    #: Set when the table does not allow this frame here: what is wrong.
    violation: str = ""

    @property
    def phase(self) -> Phase:
        """The phase the frame is filed under, live and in a replay alike.

        A frame of the broker's that may come at any time (a Close, Blocked,
        Return ...) belongs to the phase it interrupts, even when it moves
        the lifecycle on; every other frame to the phase it moves us to.
        """
        interrupting = bool(self.note) and self.frame.direction is B2C
        return self.before if interrupting else self.after


class LifecycleError(Exception):
    """A step tried a move the table does not declare (a bug of the explorer's)."""


class LifecycleModel:
    """Applies the rules to each frame and keeps the current phase."""

    def __init__(self, phase: Phase = Phase.ENDPOINT) -> None:
        """Start at `phase`."""
        self.phase = phase

    def enter(self, phase: Phase) -> None:
        """A step moves on to `phase`, which no frame marks (see STEPPED).

        Never back: when the handshake ran at wire speed, its frames moved the
        lifecycle on before the steps that show them.

        Raises:
            LifecycleError: STEPPED does not declare this move.
        """
        if phase in STEPPED and ORDER.index(phase) <= ORDER.index(self.phase):
            return
        if self.phase not in STEPPED.get(phase, ()):
            raise LifecycleError(
                f"a step tried to enter the {phase.value} phase from the "
                f"{self.phase.value} phase, which the lifecycle does not declare"
            )
        self.phase = phase

    def observe(self, frame: Frame) -> Transition:
        """Apply the rules to one frame.

        Args:
            frame: A frame as it crossed the wire.

        Returns:
            The transition; its `violation` says what is wrong when the rules
            do not allow the frame here (the phase then stays as it was).
        """
        before = self.phase
        key = (before, frame.direction, frame.name)
        if before in OPERATING and frame.channel > 1 and frame.name in MORE_CHANNELS:
            self.phase = Phase.OPERATIONS
            return Transition(frame, before, self.phase)
        if key in TRANSITIONS:
            self.phase = TRANSITIONS[key]
            return Transition(frame, before, self.phase)
        # Before the operation frames: the broker's Basic.Cancel is its own.
        anytime = ANYTIME.get((frame.direction, frame.name))
        if anytime is not None and _allowed_anytime(before, frame):
            target, note = anytime
            self.phase = target or before
            return Transition(frame, before, self.phase, note)
        if before in OPERATING and frame.name in OPERATION_FRAMES:
            self.phase = Phase.OPERATIONS
            return Transition(frame, before, self.phase)
        if before is Phase.HEADER and frame.name == "ProtocolHeader":
            return Transition(
                frame,
                before,
                before,
                violation="the broker refuses our protocol version",
            )
        return Transition(
            frame,
            before,
            before,
            violation=(
                f"{frame.direction.sender} sent {frame.name} during the "
                f"{before.value} phase, which the lifecycle does not allow"
            ),
        )


def _allowed_anytime(phase: Phase, frame: Frame) -> bool:
    """Heartbeats only after tuning; channel frames only once channels exist."""
    if frame.name == "Heartbeat":
        return (
            phase in (Phase.TUNE, Phase.OPEN)
            or phase in OPERATING
            or phase is Phase.CLOSE
        )
    if frame.name.startswith(("Channel.", "Basic.")):
        return phase in OPERATING or phase is Phase.CLOSE
    return phase in HANDSHAKE or phase in OPERATING or phase is Phase.CLOSE
