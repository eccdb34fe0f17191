"""The answer readers of the AMQP 1.0 questions, read from the learner's 1.0 frames.

Owns reading each 1.0 question's right answer (an explorer.course.answers
Answer) from the performatives of the learner's own connection: a field of a
performative, the SASL header's protocol id, the mechanisms offered, the
constructor a performative's fields were written with, an empty frame's bytes,
and what the broker answered the three 1.0 failures with, with the choices of
the multiple-choice one. Sans-I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from explorer.course.answers import Answer, AnswerFrom
from explorer.protocol.amqp10.bytemap import byte_map
from explorer.protocol.amqp10.encodings import ENCODINGS
from explorer.protocol.amqp10.frames import HEARTBEAT, Body, Header
from explorer.protocol.amqp10.lifecycle import SASL_CODES
from explorer.protocol.amqp10.queries import (
    address_of,
    error_of,
    fields_of,
    mechanisms_of,
    state_of,
)
from explorer.protocol.frames import B2C, C2B, Direction, Frame
from explorer.protocol.queries import first_named

#: Who sent a frame, as an explanation names them.
_SIDE: Final = {C2B: "client", B2C: "broker"}


def _after(frames: Sequence[Frame], frame: Frame) -> list[Frame]:
    """The broker's frames after `frame`: performatives, no headers or empty frames."""
    index = next((i for i, f in enumerate(frames) if f is frame), len(frames))
    return [
        f
        for f in frames[index + 1 :]
        if f.direction is B2C and isinstance(f.payload, Body) and f.name != HEARTBEAT
    ]


def field(
    direction: Direction, performative: str, name: str, *, ms: bool = False
) -> AnswerFrom:
    """The value of the field `name` in the first `performative` `direction` sent.

    Args:
        direction: Who sent it.
        performative: The spec's name of the frame (``open``, ``flow`` ...).
        name: The spec's name of the field (``max-frame-size`` ...).
        ms: The value is milliseconds: said in another time unit it is
            accepted too ("30 s" for 30000), compared by explorer.course.grading.
    """

    def answer(frames: Sequence[Frame]) -> Answer | None:
        frame = first_named(frames, direction, performative)
        value = fields_of(frame).get(name)
        if frame is None or value is None:
            return None
        shown = str(value)
        said = repr(shown) if isinstance(value, str) else shown + " ms" * ms
        return Answer(
            (shown, said) if ms else (shown,),
            f"your {_SIDE[direction]}'s {performative} carried {name}={said}",
        )

    return answer


def protocol_id(frames: Sequence[Frame]) -> Answer | None:
    """The protocol id of the broker's first header (3 for SASL)."""
    frame = first_named(frames, B2C, "sasl-header")
    header = None if frame is None else frame.payload
    if frame is None or not isinstance(header, Header):
        return None
    code = header.protocol_id
    return Answer(
        (str(code), f"0x{code:02x}"),
        f"your broker's {frame.name} was {frame.raw.hex(' ')}: 'AMQP', then "
        f"protocol id {code} ({frame.name.removesuffix('-header').upper()}), "
        f"then version {header.major}.{header.minor}.{header.revision}",
    )


def mechanisms(frames: Sequence[Frame]) -> Answer | None:
    """The SASL mechanisms the broker's sasl-mechanisms offered."""
    shown = " ".join(mechanisms_of(first_named(frames, B2C, "sasl-mechanisms")))
    if not shown:
        return None
    return Answer(
        (shown,),
        f"your broker's sasl-mechanisms carried sasl-server-mechanisms {shown}",
    )


def list_constructor(direction: Direction, performative: str) -> AnswerFrom:
    """The format code the first `performative` `direction` sent wrote its fields with.

    A performative is a described list: the descriptor, then the list's
    constructor (list0, list8 or list32), read here from the frame's bytes.
    """

    def answer(frames: Sequence[Frame]) -> Answer | None:
        frame = first_named(frames, direction, performative)
        if frame is None or not isinstance(frame.payload, Body):
            return None
        spans = [s for s in byte_map(frame).children if s.name == "performative"]
        if not spans or len(spans[0].children) != 2:
            return None
        fields = spans[0].children[1]
        code = frame.raw[fields.offset]
        encoding = ENCODINGS[code].name
        width = ENCODINGS[code].width
        how = (
            f"its size and count take {width} byte{'s' * (width > 1)} each"
            if width
            else "an empty list: no size, no count, no field written"
        )
        return Answer(
            (f"0x{code:02x}", f"{code:02x}", encoding, f"0x{code:02x} {encoding}"),
            f"your {_SIDE[direction]}'s {performative} wrote its fields with "
            f"constructor 0x{code:02x} at offset {fields.offset} ({encoding}: "
            f"{how}; {fields.length} byte{'s' * (fields.length > 1)} in all)",
        )

    return answer


def empty_frame(frames: Sequence[Frame]) -> Answer | None:
    """The size of the broker's first empty frame (its heartbeat)."""
    frame = first_named(frames, B2C, HEARTBEAT)
    if frame is None:
        return None
    raw = frame.raw
    return Answer(
        (str(frame.size),),
        f"your broker's empty frame was {frame.size} bytes, {raw.hex(' ')}: "
        f"size {int.from_bytes(raw[:4])}, doff {raw[4]} (the header is {raw[4]} "
        f"words of 4 bytes), type {raw[5]} (AMQP), channel "
        f"{int.from_bytes(raw[6:8])}, and no body",
    )


def outcome(frames: Sequence[Frame]) -> Answer | None:
    """The delivery state of the broker's first disposition (accepted ...)."""
    frame = first_named(frames, B2C, "disposition")
    state = state_of(frame)
    if state is None:
        return None
    code = state.descriptor
    codes = (f"0x{code:02x}", str(code)) if isinstance(code, int) else (str(code),)
    return Answer(
        (state.name, *codes),
        f"your broker's disposition carried state {state.name} "
        f"(descriptor {codes[0]}) for delivery {fields_of(frame).get('first')}",
    )


def refused_login(frames: Sequence[Frame]) -> Answer | None:
    """The code of a sasl-outcome refusing the client's sasl-init (None if 0, ok)."""
    init = first_named(frames, C2B, "sasl-init")
    if init is None:
        return None
    for reply in _after(frames, init):
        code = fields_of(reply).get("code")
        if reply.name == "sasl-outcome" and isinstance(code, int) and code != 0:
            return Answer(
                (str(code), SASL_CODES.get(code, str(code))),
                f"your broker answered sasl-init with sasl-outcome code={code} "
                f"({SASL_CODES.get(code, 'unknown')})",
            )
    return None


#: The choices of the unknown-vhost experiment, each read from what came back.
OPEN_THEN_CLOSE: Final = "its open, then a close carrying an error"
CLOSE_ONLY: Final = "a close carrying an error, and no open"
NOTHING: Final = "nothing after its AMQP header: it drops the TCP connection"


def _client_open(frames: Sequence[Frame]) -> tuple[Frame, str] | None:
    """The client's open, and a line naming its hostname (RabbitMQ's ``vhost:NAME``)."""
    sent = first_named(frames, C2B, "open")
    if sent is None:
        return None
    return (
        sent,
        f"your client's open carried hostname={fields_of(sent).get('hostname')!r}",
    )


def vhost_answer(frames: Sequence[Frame]) -> Answer | None:
    """What the broker answered an open with: a close carrying an error, or not."""
    found = _client_open(frames)
    if found is None:
        return None
    sent, premise = found
    opened = False
    for reply in _after(frames, sent):
        opened = opened or reply.name == "open"
        error = error_of(reply) if reply.name == "close" else None
        if error is not None:
            condition, description = error
            return Answer(
                (OPEN_THEN_CLOSE if opened else CLOSE_ONLY,),
                f"{premise}; your broker sent {'open, then ' * opened}close "
                f"with {condition}" + (f" ({description})" if description else ""),
            )
    return None  # its open and no error: the vhost exists


def vhost_silence(frames: Sequence[Frame]) -> Answer | None:
    """Once over: no performative at all from the broker after the client's open."""
    found = _client_open(frames)
    if found is None or _after(frames, found[0]):
        return None
    return Answer(
        (NOTHING,),
        f"{found[1]}; your broker sent no open and no close after it, only the "
        "TCP connection ended",
    )


def attach_error(frames: Sequence[Frame]) -> Answer | None:
    """The error condition the broker answered the client's first attach with."""
    attach = first_named(frames, C2B, "attach")
    if attach is None:
        return None
    address = address_of(attach)
    for reply in _after(frames, attach):
        error = error_of(reply)
        if error is not None:
            condition, description = error
            short = condition.removeprefix("amqp:")
            return Answer(
                (condition, short, short.replace("-", " ")),
                f"your client attached a link to {address}; your broker sent "
                f"{reply.name} with {condition}"
                + (f" ({description})" if description else ""),
            )
    return None
