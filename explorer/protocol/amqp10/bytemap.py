"""The AMQP 1.0 byte map: which bytes of a frame hold which field, down to the
type system.

Owns `byte_map(frame)`, a tree of ByteField spans whose leaves cover each byte
of the frame exactly once: the frame header (size, doff, type, channel or the
SASL frame's type-specific bytes), the extended header, the performative (its
descriptor's constructor and value, then its list: constructor, size, count,
and every field's constructor, size and value, down to each element), and a
transfer's message sections. Also the readers the decoder checks a frame with,
so that the frames it yields and their maps are read by the same code. Values
are read by explorer.protocol.amqp10.reader. Sans-I/O.
"""

from __future__ import annotations

import struct
from typing import Final

from explorer.protocol.amqp10.descriptors import Role, composite
from explorer.protocol.amqp10.encodings import DESCRIBED, ENCODINGS
from explorer.protocol.amqp10.frames import Body, FrameType, Header
from explorer.protocol.amqp10.reader import Reader
from explorer.protocol.amqp10.values import Described
from explorer.protocol.bytefield import ByteField, FieldKind, protocol_header
from explorer.protocol.frames import Frame
from explorer.protocol.walker import MalformedError

#: Frame header: size (uint), doff (ubyte), type (ubyte), then two bytes the
#: type defines (an AMQP frame's channel).
FRAME_HEADER: Final = struct.Struct(">IBBH")
#: doff counts 4-byte words; the frame header is 2 of them.
WORD: Final = 4
_FRAMING: Final = FieldKind.FRAMING
#: What each frame type's body holds, for the failures that say it does not.
_HOLDS: Final = {
    FrameType.AMQP: (Role.PERFORMATIVE, "a performative (open ... close)"),
    FrameType.SASL: (Role.SASL, "a SASL frame body (sasl-mechanisms ... sasl-outcome)"),
}


def byte_map(frame: Frame) -> ByteField:
    """Map every byte of a decoded frame to the field it belongs to.

    Args:
        frame: A frame from Amqp10Decoder.

    Returns:
        The root span: the whole frame, its children in byte order. Bytes that
        do not read as what they claim (only in a frame the decoder did not
        make) are one MALFORMED span.
    """
    raw, payload = frame.raw, frame.payload
    if isinstance(payload, Header):
        children = protocol_header(raw)
    else:
        assert isinstance(payload, Body), "a frame of Amqp10Decoder's"
        children = frame_header(raw)
        start = children[-1].end
        try:
            performative = read_performative(raw, payload.frame_type)
            if performative is not None:
                children += [performative, *_message(raw, performative)]
        except MalformedError as problem:
            rest = len(raw) - start
            children.append(
                ByteField(start, rest, "body", FieldKind.MALFORMED, "", str(problem))
            )
    return ByteField(
        0, len(raw), frame.name, FieldKind.GROUP, "frame", None, tuple(children)
    )


def frame_header(raw: bytes) -> list[ByteField]:
    """The frame header's spans, and the extended header's if there is one."""
    size, doff, frame_type, specific = FRAME_HEADER.unpack_from(raw, 0)
    kind = "channel" if frame_type == FrameType.AMQP else "type-specific"
    spans = [
        ByteField(0, 4, "size", _FRAMING, "uint", size),
        ByteField(4, 1, "doff", _FRAMING, "ubyte", doff),
        ByteField(5, 1, "frame type", _FRAMING, "ubyte", frame_type),
        ByteField(6, 2, kind, _FRAMING, "ushort", specific),
    ]
    body = doff * WORD
    if body > FRAME_HEADER.size:
        extended = raw[FRAME_HEADER.size : body]
        length = body - FRAME_HEADER.size
        spans.append(
            ByteField(8, length, "extended header", _FRAMING, "binary", extended)
        )
    return spans


def read_performative(raw: bytes, frame_type: FrameType) -> ByteField | None:
    """The frame's performative (None for an empty frame), checked against the
    frame's type.

    Raises:
        MalformedError: the body is not one described value of the spec's that
            this frame type carries, or (but in a transfer) bytes follow it.
    """
    start = raw[4] * WORD
    if start == len(raw):
        if frame_type == FrameType.SASL:
            raise MalformedError("a SASL frame carries a body, this one is empty")
        return None
    role, holds = _HOLDS[frame_type]
    code = raw[start]
    if code != DESCRIBED:
        encoding = ENCODINGS.get(code)
        what = f"0x{code:02x}" + (f" ({encoding.name})" if encoding else "")
        raise MalformedError(
            f"its body is {holds}, a described value (constructor 0x00); this "
            f"one starts with {what}"
        )
    reader = Reader(raw, len(raw))
    descriptor = reader.value(start + 1, "descriptor")
    known = composite(descriptor.value)
    if known is None or known.role is not role:
        what = f"the spec's {known.name}" if known else "no type the spec defines"
        raise MalformedError(
            f"its body is {holds}; the descriptor {_shown(descriptor.value)} "
            f"names {what}"
        )
    performative = reader.value(start, "performative")
    if performative.end < len(raw) and known.name != "transfer":
        left = len(raw) - performative.end
        raise MalformedError(
            f"{left} bytes follow the {known.name}: only a transfer carries a payload"
        )
    return performative


def read_sections(raw: bytes, start: int, end: int) -> list[ByteField]:
    """The message sections between `start` and `end`, one span each.

    Raises:
        MalformedError: a value there is not a section of the spec's.
    """
    reader, cursor = Reader(raw, end, "the message"), start
    sections: list[ByteField] = []
    while cursor < end:
        section = reader.value(cursor, f"section {len(sections)}")
        value = section.value
        known = composite(value.descriptor) if isinstance(value, Described) else None
        if known is None or known.role is not Role.SECTION:
            raise MalformedError(
                f"{section.name} of the message is {section.type}, not a message "
                "section (header ... footer)"
            )
        sections.append(section._replace(name=known.name))
        cursor = section.end
    return sections


def _message(raw: bytes, performative: ByteField) -> list[ByteField]:
    """A transfer's payload: its sections, or one span when it holds a part of
    a message split across transfers that does not read alone."""
    start = performative.end
    if start == len(raw):
        return []
    try:
        sections = read_sections(raw, start, len(raw))
    except MalformedError:
        part = raw[start:]
        return [
            ByteField(start, len(part), "message part", FieldKind.BODY, "binary", part)
        ]
    message = tuple(section.value for section in sections)
    return [
        ByteField(
            start, len(raw) - start, "message", FieldKind.GROUP, "message",
            message, tuple(sections),
        )
    ]  # fmt: skip


def _shown(descriptor: object) -> str:
    """A descriptor as the spec writes it: a code in hex, a symbol quoted."""
    if isinstance(descriptor, int) and not isinstance(descriptor, bool):
        return f"0x{descriptor:02x}"
    return repr(str(descriptor)) if isinstance(descriptor, str) else repr(descriptor)
