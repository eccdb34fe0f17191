"""The AMQP 1.0 connection lifecycle: every rule for moving between its phases.

Owns the 1.0 TRANSITIONS table (which performative, sent by whom, moves the
lifecycle from one phase to the next), the frames either side may send at any
time, the frames that operate once a session is begun, the plan of phases for
a 1.0 connection, the frame that ends its handshake, and Amqp10Lifecycle,
which applies the rules to decoded frames, keeping track of the sessions and
links each side has begun and attached.

The phases are 0-9-1's Phase values, where a 1.0 frame means the same: the
rail, the reports and the lessons name one set of phases, and comparing the
two protocols is comparing one plan with another. A 1.0 plan has no START
(the broker's properties come with its open, its mechanisms with
sasl-mechanisms, which is AUTH) and no TUNE (max-frame-size, channel-max and
idle-time-out are fields of open, negotiated in the same exchange that names
the vhost). The AMQP header that follows SASL opens the AMQP layer and is
filed under OPEN; begin is CHANNEL (a session); attach, flow, transfer,
disposition and detach are OPERATIONS; the client's end, or its detach of
its last link, starts CLOSE. Sans-I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from explorer.protocol.amqp10.frames import HEARTBEAT, Body, Header
from explorer.protocol.amqp10.values import Described
from explorer.protocol.frames import B2C, C2B, Direction, Frame
from explorer.protocol.lifecycle import ORDER, LifecycleModel, Phase, Transition

P = Phase

#: (phase now, sender, frame) -> phase the frame belongs to and moves us to.
#: The order is Proton's: SASL header, sasl-init after the mechanisms, the
#: AMQP header and open together after the outcome, then begin, attach ...
TRANSITIONS: Final[Mapping[tuple[Phase, Direction, str], Phase]] = {
    (P.TCP, C2B, "sasl-header"): P.HEADER,
    (P.TLS, C2B, "sasl-header"): P.HEADER,
    (P.HEADER, C2B, "sasl-header"): P.HEADER,
    (P.HEADER, B2C, "sasl-header"): P.HEADER,
    (P.HEADER, B2C, "sasl-mechanisms"): P.AUTH,
    (P.AUTH, C2B, "sasl-init"): P.AUTH,
    (P.AUTH, B2C, "sasl-challenge"): P.AUTH,
    (P.AUTH, C2B, "sasl-response"): P.AUTH,
    (P.AUTH, B2C, "sasl-outcome"): P.AUTH,
    (P.AUTH, C2B, "amqp-header"): P.OPEN,
    (P.OPEN, B2C, "amqp-header"): P.OPEN,
    # Without SASL the AMQP header is the first thing on the wire.
    (P.TCP, C2B, "amqp-header"): P.HEADER,
    (P.TLS, C2B, "amqp-header"): P.HEADER,
    (P.HEADER, B2C, "amqp-header"): P.HEADER,
    (P.HEADER, C2B, "open"): P.OPEN,
    (P.OPEN, C2B, "open"): P.OPEN,
    (P.OPEN, B2C, "open"): P.OPEN,
    (P.OPEN, C2B, "begin"): P.CHANNEL,
    (P.CHANNEL, B2C, "begin"): P.CHANNEL,
    (P.CHANNEL, C2B, "begin"): P.CHANNEL,
}

#: What operates on the broker once a session is begun (any of the operating
#: phases): links attached and detached, credit, messages, their outcomes.
#: A further begin is an operation of its own, as 0-9-1's channel 2 is.
OPERATION_FRAMES: Final = frozenset(
    {"attach", "flow", "transfer", "disposition", "detach", "begin"}
)
OPERATING: Final = frozenset({P.CHANNEL, P.OPERATIONS, P.HEARTBEAT})
#: Frames that finish what is open while closing: answers to a detach or an
#: end, and the last messages, outcomes and credit of links being detached.
CLOSING_FRAMES: Final = frozenset({"detach", "end", "disposition", "flow", "transfer"})
#: Where the AMQP layer is up: open sent, and not yet closed.
AMQP_LAYER: Final = frozenset({P.OPEN, *OPERATING, P.CLOSE})

#: Frames either side may send at any time in the phases given. Each maps to
#: the phase it moves the lifecycle to (None: it stays) and a note shown with
#: it. The broker's belong to the phase they interrupt (Transition.phase).
ANYTIME: Final[
    Mapping[tuple[Direction, str], tuple[Phase | None, frozenset[Phase], str]]
] = {
    (B2C, HEARTBEAT): (None, AMQP_LAYER, "an empty frame: the broker is alive"),
    (C2B, HEARTBEAT): (None, AMQP_LAYER, "an empty frame: the client is alive"),
    (B2C, "close"): (P.CLOSE, AMQP_LAYER, "the broker closes the connection"),
    (C2B, "close"): (P.CLOSE, AMQP_LAYER, "the client closes the connection"),
    (B2C, "end"): (
        None,
        OPERATING,
        "the broker ends a session: a session error; the connection lives on",
    ),
}

#: The phases a 1.0 connection goes through (TLS only for amqps).
PLAN: Final = tuple(p for p in ORDER if p not in (P.START, P.TUNE))
#: The frame that ends the handshake, sent by the broker: its open.
HANDSHAKE_END: Final = (B2C, "open")
#: sasl-outcome's codes (part 5, section 5.3.3.6).
SASL_CODES: Final = {0: "ok", 1: "auth", 2: "sys", 3: "sys-perm", 4: "sys-temp"}


def plan_for(tls: bool) -> tuple[Phase, ...]:
    """The phases a 1.0 connection goes through: TLS only for amqps (`tls`)."""
    return PLAN if tls else tuple(p for p in PLAN if p is not P.TLS)


class Amqp10Lifecycle:
    """Applies the 1.0 rules to each frame; keeps the phase, sessions and links.

    The moves a step makes without a frame (the phases below AMQP, the start
    of operations and heartbeat) are 0-9-1's, made by its LifecycleModel.
    """

    def __init__(self, phase: Phase = Phase.ENDPOINT) -> None:
        """Start at `phase`, with no session begun and no link attached."""
        self._steps = LifecycleModel(phase)
        #: The channels each side has begun a session on.
        self.sessions: set[tuple[Direction, int]] = set()
        #: The handles each side has attached a link on, by channel.
        self.links: set[tuple[Direction, int, int]] = set()
        #: The protocol header the client sent last ("" before any).
        self._header = ""

    @property
    def phase(self) -> Phase:
        """The phase the lifecycle is in."""
        return self._steps.phase

    def enter(self, phase: Phase) -> None:
        """A step moves on to `phase`, which no frame marks (0-9-1's STEPPED).

        Raises:
            LifecycleError: the move is not declared.
        """
        self._steps.enter(phase)

    def observe(self, frame: Frame) -> Transition:
        """Apply the rules to one frame as it crossed the wire.

        Returns:
            The transition; its `violation` says what is wrong when the rules
            do not allow the frame here (the phase then stays as it was).
        """
        before = self.phase
        problem = self._refused(frame)
        if problem:
            return Transition(frame, before, before, violation=problem)
        key = (before, frame.direction, frame.name)
        after, note = TRANSITIONS.get(key), ""
        if after is None:
            anytime = ANYTIME.get((frame.direction, frame.name))
            if anytime is not None and before in anytime[1]:
                after, note = anytime[0] or before, anytime[2]
            elif before in OPERATING and frame.name in OPERATION_FRAMES:
                after = P.OPERATIONS
            elif _closes(before, frame):
                after = P.CLOSE
        if after is None:
            return Transition(
                frame,
                before,
                before,
                violation=(
                    f"{frame.direction.sender} sent {frame.name} during the "
                    f"{before.value} phase, which the lifecycle does not allow"
                ),
            )
        problem = self._links_allow(frame)
        if problem:
            return Transition(frame, before, before, violation=problem)
        after, note = self._settle(frame, after, note)
        self._steps.phase = after
        return Transition(frame, before, after, note)

    def _refused(self, frame: Frame) -> str:
        """Why the broker's header refuses the client's ("" when it does not)."""
        header = frame.payload
        if not isinstance(header, Header):
            return ""
        if frame.direction is C2B:
            self._header = header.name
            return ""
        if header.is_amqp10 and header.name == self._header:
            return ""
        version = f"{header.major}.{header.minor}.{header.revision}"
        return (
            f"the broker refuses our {self._header or 'protocol header'}: it "
            f"answers with its own, {header.name} {version}"
        )

    def _links_allow(self, frame: Frame) -> str:
        """Why the sender's sessions and links do not allow `frame` ("" if they
        do); records the sessions and links it begins, attaches and ends."""
        body = frame.payload
        if not isinstance(body, Body) or body.name not in (*OPERATION_FRAMES, "end"):
            return ""
        who, channel = frame.direction, frame.channel
        session = (who, channel)
        sender = who.sender
        if body.name == "begin":
            if session in self.sessions:
                return f"{sender} began a session on channel {channel} twice"
            self.sessions.add(session)
            return ""
        if session not in self.sessions:
            return (
                f"{sender} sent {body.name} on channel {channel}, where it has "
                "begun no session"
            )
        if body.name == "end":
            self.sessions.discard(session)
            self.links -= {k for k in self.links if k[:2] == session}
            return ""
        handle = body.fields.get("handle")
        if not isinstance(handle, int):
            return ""  # a session's flow or disposition: no link named
        link = (who, channel, handle)
        if body.name == "attach":
            if link in self.links:
                return f"{sender} attached handle {handle} twice"
            self.links.add(link)
            return ""
        if link not in self.links:
            return (
                f"{sender} sent {body.name} on handle {handle}, which it has "
                "not attached"
            )
        if body.name == "detach":
            self.links.discard(link)
        return ""

    def _settle(self, frame: Frame, after: Phase, note: str) -> tuple[Phase, str]:
        """Where a frame whose move is allowed really leaves the lifecycle.

        A failed SASL outcome ends it; the client's detach of its last link
        starts the close; a detach, end or close with an error says so.
        """
        body = frame.payload
        error = body.fields.get("error") if isinstance(body, Body) else None
        if isinstance(error, Described) and not note:
            condition = error.fields.get("condition")
            note = (
                f"the {frame.direction.sender}'s {frame.name} carries an error: "
                f"{condition}"
            )
        if frame.name == "sasl-outcome" and isinstance(body, Body):
            code = body.fields.get("code")
            if code != 0:
                word = SASL_CODES.get(code, "unknown") if isinstance(code, int) else ""
                return P.CLOSE, f"authentication failed: code {code} ({word})"
        last = not any(link[0] is C2B for link in self.links)
        if (frame.direction, frame.name) == (C2B, "detach") and last:
            return P.CLOSE, note
        return after, note


def _closes(phase: Phase, frame: Frame) -> bool:
    """Whether `frame` starts the close (the client's end) or goes on with it."""
    if phase in OPERATING:
        return (frame.direction, frame.name) == (C2B, "end")
    return phase is P.CLOSE and frame.name in CLOSING_FRAMES
