"""The byte map: which bytes of a frame hold which field, down to table entries.

Owns `byte_map(frame)`, a tree of ByteField entries whose leaves cover each byte
of the frame exactly once: frame header, class and method ids, every argument
(packed bits included), field tables to each entry's key, type tag and value,
content-header property flags and properties, body bytes and the frame end.
It is strict where pamqp is lenient: a length that runs past the frame, or bytes
no argument claims, become a MALFORMED entry. The fields themselves are read by
explorer.protocol.walker, lazily below the arguments, so mapping any frame costs
its arguments, not its tables' entries, and nothing recurses. Sans-I/O: no
asyncio, socket or Textual.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from functools import partial
from typing import Final

from pamqp import base, body, commands, header, heartbeat

from explorer.protocol.amqp10 import bytemap as amqp10
from explorer.protocol.amqp10.frames import Body, Header
from explorer.protocol.bytefield import ByteField, FieldKind, Parts, protocol_header
from explorer.protocol.frames import Frame
from explorer.protocol.walker import MAX_NESTING, MalformedError, Walker, malformed

__all__ = ["MAX_NESTING", "ByteField", "FieldKind", "byte_map"]

_FLAG_WORD: Final = struct.Struct(">H")
#: Where a content header's first property-flags word is.
_FLAGS_AT: Final = 19
#: Maps each octet to its bit 0: whether a flag word whose low octet it is
#: says another word follows.
_CONTINUES: Final = bytes(octet & 1 for octet in range(256))


def byte_map(frame: Frame) -> ByteField:
    """Map every byte of a decoded frame to the field it belongs to.

    Args:
        frame: A frame from the decoder (an AMQP 1.0 frame is mapped by
            explorer.protocol.amqp10.bytemap).

    Returns:
        The root span: the whole frame, its children in byte order.
    """
    raw, payload = frame.raw, frame.payload
    if isinstance(payload, Header | Body):
        return amqp10.byte_map(frame)
    if isinstance(payload, header.ProtocolHeader):
        children = protocol_header(raw)
    else:
        walker = Walker(raw, len(raw) - 1)
        inner: list[ByteField]
        if isinstance(payload, base.Frame):
            inner = _method(walker, payload)
        elif isinstance(payload, header.ContentHeader):
            inner = _content_header(walker)
        elif isinstance(payload, body.ContentBody):
            inner = _body(raw)
        else:
            assert isinstance(payload, heartbeat.Heartbeat)
            inner = []
        children = [*_frame_header(raw), *inner, _frame_end(raw)]
    return ByteField(
        0, len(raw), frame.name, FieldKind.GROUP, "frame", None, tuple(children)
    )


def _frame_header(raw: bytes) -> list[ByteField]:
    frame_type, channel, size = struct.unpack_from(">BHI", raw, 0)
    return [
        ByteField(0, 1, "frame type", FieldKind.FRAMING, "octet", frame_type),
        ByteField(1, 2, "channel", FieldKind.FRAMING, "short", channel),
        ByteField(3, 4, "size", FieldKind.FRAMING, "long", size),
    ]


def _frame_end(raw: bytes) -> ByteField:
    return ByteField(len(raw) - 1, 1, "frame end", FieldKind.FRAMING, "octet", raw[-1])


def _body(raw: bytes) -> list[ByteField]:
    size = len(raw) - 8
    if not size:
        return []
    return [ByteField(7, size, "body", FieldKind.BODY, "bytes", raw[7:-1])]


def _method(walker: Walker, method: base.Frame) -> list[ByteField]:
    ids = [
        walker.integer(7, "class id", "short", FieldKind.METHOD),
        walker.integer(9, "method id", "short", FieldKind.METHOD),
    ]
    steps: list[tuple[str, Reader]] = []
    slots = list(type(method).__slots__)
    index = 0
    while index < len(slots):
        type_ = method.amqp_type(slots[index])
        if type_ == "bit":
            names = _bit_run(method, slots, index)
            steps.append((names[0], partial(_bits, walker, names=names)))
            index += len(names)
        else:
            steps.append(
                (slots[index], partial(walker.argument, name=slots[index], type_=type_))
            )
            index += 1
    return ids + _read_all(walker, 11, steps)


def _bit_run(method: base.Frame, slots: list[str], start: int) -> list[str]:
    """Names of the consecutive bit arguments packed into one octet (at most 8)."""
    names: list[str] = []
    for name in slots[start:]:
        if method.amqp_type(name) != "bit" or len(names) == 8:
            break
        names.append(name)
    return names


def _bits(walker: Walker, pos: int, names: list[str]) -> ByteField:
    walker.need(pos, 1, names[0])
    octet = walker.raw[pos]
    bits = tuple((n, bool(octet >> i & 1)) for i, n in enumerate(names))
    return ByteField(pos, 1, " ".join(names), FieldKind.BITS, "bit", octet, bits=bits)


def _content_header(walker: Walker) -> list[ByteField]:
    fields: list[ByteField] = []
    try:
        fields.append(walker.integer(7, "class id", "short", FieldKind.METHOD))
        fields.append(walker.integer(9, "weight", "short"))
        fields.append(walker.integer(11, "body size", "longlong"))
        words = _flag_words(walker, _FLAGS_AT)
    except MalformedError as problem:
        start = fields[-1].end if fields else 7
        return [*fields, malformed(walker, start, "content header", problem)]
    # Basic's 14 properties are all flagged in the first word; pamqp ORs the
    # others in 16 bits higher, where no property is.
    flags = _FLAG_WORD.unpack_from(walker.raw, _FLAGS_AT)[0]
    fields.append(_flag_word(_FLAGS_AT, flags, flags))
    if words > 1:
        more = Parts(_more_flag_words(walker.raw, _FLAGS_AT + 2, words - 1))
        length = 2 * (words - 1)
        fields.append(
            ByteField(
                _FLAGS_AT + 2, length, "more property flags", FieldKind.GROUP,
                "short", None, more,
            )
        )  # fmt: skip
    properties = commands.Basic.Properties
    steps: list[tuple[str, Reader]] = [
        (name, partial(walker.argument, name=name, type_=properties.amqp_type(name)))
        for name in properties.__slots__
        if flags & properties.flags[name]
    ]
    return fields + _read_all(walker, _FLAGS_AT + 2 * words, steps)


def _flag_words(walker: Walker, pos: int) -> int:
    """How many property-flag words start at `pos`, read as pamqp reads them.

    Each word's bit 0 says another word follows; the first word with it clear
    is the last. Found without a loop in Python: a frame_max-sized header can
    hold some 65,000 words.

    Raises:
        MalformedError: the frame ends before a word with bit 0 clear.
    """
    lows = walker.raw[pos + 1 : walker.end : 2]  # the low byte of each whole word
    last = lows.translate(_CONTINUES).find(0)
    if last >= 0:
        return last + 1
    if not lows:
        raise MalformedError("property flags need 2 bytes")
    raise MalformedError(
        f"property flags: all {len(lows)} words say another word follows "
        "(bit 0 set), and the frame ends"
    )


def _more_flag_words(raw: bytes, pos: int, count: int) -> Iterator[ByteField]:
    """The flag words after the first: no property of Basic is flagged there."""
    new, bits = tuple.__new__, FieldKind.BITS  # as walker's _new: a screen is 512
    for at in range(pos, pos + 2 * count, 2):
        word = raw[at] << 8 | raw[at + 1]
        yield new(ByteField, (at, 2, "property flags", bits, "short", word, (), ()))


def _flag_word(pos: int, word: int, flags: int) -> ByteField:
    """A property-flags word, naming which properties it says are present."""
    properties = commands.Basic.Properties
    bits = tuple((n, bool(flags & properties.flags[n])) for n in properties.__slots__)
    return ByteField(pos, 2, "property flags", FieldKind.BITS, "short", word, bits=bits)


Reader = Callable[[int], ByteField]


def _read_all(
    walker: Walker, pos: int, steps: list[tuple[str, Reader]]
) -> list[ByteField]:
    """Read fields one after another; the first that does not fit ends the map."""
    fields: list[ByteField] = []
    for name, read in steps:
        try:
            entry = read(pos)
        except MalformedError as problem:
            return [*fields, malformed(walker, pos, name, problem)]
        fields.append(entry)
        pos = entry.end
    if pos < walker.end:
        left = walker.end - pos
        reason = f"{left} bytes after the last field belong to no field"
        fields.append(
            ByteField(pos, left, "trailing bytes", FieldKind.MALFORMED, "", reason)
        )
    return fields
