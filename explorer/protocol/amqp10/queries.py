"""What the explorer asks of AMQP 1.0 frames, by everyone who reads them.

Owns the readings of one 1.0 performative that the reports, the questions,
the lab and the engine share: its fields, the error it carries (condition and
description), the address an attach names, the mechanisms a sasl-mechanisms
offers, and a disposition's delivery state. The frame lookups that serve both
protocols (the first frame called X) are explorer.protocol.queries'.
Sans-I/O: frames in, facts out.
"""

from __future__ import annotations

from collections.abc import Iterable

from explorer.protocol.amqp10.frames import Body
from explorer.protocol.amqp10.values import Array, Described
from explorer.protocol.frames import Direction, Frame


def fields_of(frame: Frame | None) -> dict[str, object]:
    """A 1.0 frame's performative fields by the spec's names ({} for anything else)."""
    body = None if frame is None else frame.payload
    return body.fields if isinstance(body, Body) else {}


def error_of(frame: Frame | None) -> tuple[str, str] | None:
    """The condition and description of the error a close, end or detach carries.

    Returns:
        ``("amqp:not-found", "no queue ...")``, the description "" when the
        broker wrote none; None when the frame carries no error.
    """
    error = fields_of(frame).get("error")
    if not isinstance(error, Described):
        return None
    fields = error.fields
    return str(fields.get("condition") or ""), str(fields.get("description") or "")


def address_of(attach: Frame | None) -> str | None:
    """The address an attach names, None if it names none.

    The sending side names its target (where its messages go) and the
    receiving side its source (where they come from): that terminus first, the
    other when it has no address (RabbitMQ 4.0.5's attach answering a sender
    names only its target).
    """
    fields = fields_of(attach)
    # role false is the sender, true the receiver (part 2, section 2.8.1).
    ends = ("source", "target") if fields.get("role") is True else ("target", "source")
    for end in ends:
        terminus = fields.get(end)
        if isinstance(terminus, Described) and terminus.fields.get("address"):
            return str(terminus.fields["address"])
    return None


def mechanisms_of(frame: Frame | None) -> list[str]:
    """The SASL mechanisms a sasl-mechanisms offers, in its order ([] if none).

    A single mechanism may come as one symbol, without an array.
    """
    offered = fields_of(frame).get("sasl-server-mechanisms")
    if isinstance(offered, Array):
        return [str(name) for name in offered.items]
    return [] if offered is None else [str(offered)]


def state_of(frame: Frame | None) -> Described | None:
    """A disposition's delivery state (``accepted``, ``rejected`` ...), if any."""
    state = fields_of(frame).get("state")
    return state if isinstance(state, Described) else None


def last_state(frames: Iterable[Frame], direction: Direction) -> str | None:
    """The name of the delivery state of the last disposition `direction` sent."""
    sent = [f for f in frames if (f.direction, f.name) == (direction, "disposition")]
    state = state_of(sent[-1]) if sent else None
    return None if state is None else state.name
