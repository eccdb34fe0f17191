"""The byte map: which bytes of a frame hold which field, down to table entries.

Owns `byte_map(frame)`, a tree of ByteField entries whose leaves cover each byte
of the frame exactly once: frame header, class and method ids, every argument
(packed bits included), field tables to each entry's key, type tag and value,
content-header property flags and properties, body bytes and the frame end.
It is strict where pamqp is lenient: a length that runs past the frame, or bytes
no argument claims, become a MALFORMED entry. Sans-I/O: no asyncio, socket or
Textual.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Final

from pamqp import base, body, commands, header, heartbeat

from explorer.protocol.frames import Frame


class FieldKind(enum.Enum):
    """What role a span of bytes plays; the hex view colours by it."""

    #: Frame type, channel, size and the frame-end octet.
    FRAMING = "framing"
    #: Class id and method id of a method frame.
    METHOD = "method"
    #: A length prefix of a string, table or array.
    LENGTH = "length"
    #: The name of a field-table entry.
    KEY = "key"
    #: The one-letter type tag before a table or array value.
    TAG = "tag"
    #: A decoded value: a number, a string, a boolean.
    VALUE = "value"
    #: An octet holding several packed bit arguments or property flags.
    BITS = "bits"
    #: Message body bytes.
    BODY = "body"
    #: A group of entries (an argument, a table, an entry); never a leaf.
    GROUP = "group"
    #: Bytes that do not parse as what they claim to be.
    MALFORMED = "malformed"


@dataclass(frozen=True, slots=True)
class ByteField:
    """One named span of a frame's bytes, possibly split into smaller spans."""

    #: Offset of the first byte, counted from the start of the frame.
    offset: int
    #: Number of bytes.
    length: int
    #: Field name: ``frame type``, ``mechanisms``, a table key ...
    name: str
    #: The role of these bytes.
    kind: FieldKind
    #: AMQP type of the field: ``octet``, ``shortstr``, ``table`` ...
    type: str = ""
    #: The decoded value of a leaf (None for groups).
    value: object = None
    #: Smaller spans that together cover this one, in byte order.
    children: tuple[ByteField, ...] = ()
    #: For packed bits: each bit's name and value, lowest bit first.
    bits: tuple[tuple[str, bool], ...] = ()

    @property
    def end(self) -> int:
        """Offset one past the last byte."""
        return self.offset + self.length

    def leaves(self) -> Iterator[ByteField]:
        """The spans with no children, in byte order."""
        if not self.children:
            yield self
            return
        for child in self.children:
            yield from child.leaves()

    def path_to(self, offset: int) -> list[ByteField]:
        """The chain of spans from this one down to the leaf holding `offset`."""
        path: list[ByteField] = []
        node: ByteField | None = self
        while node is not None and node.offset <= offset < node.end:
            path.append(node)
            node = next((c for c in node.children if c.offset <= offset < c.end), None)
        return path


class _MalformedError(Exception):
    """A field claims bytes the frame does not have."""


_INTEGERS: Final[dict[str, struct.Struct]] = {
    "octet": struct.Struct(">B"),
    "short": struct.Struct(">H"),
    "long": struct.Struct(">I"),
    "longlong": struct.Struct(">Q"),
    "timestamp": struct.Struct(">Q"),
}

#: RabbitMQ's field-table type tags (the errata's, not the 0-9-1 spec's), as
#: pamqp decodes them: tag -> (type name, fixed layout or None when prefixed).
_TAGS: Final[dict[bytes, tuple[str, struct.Struct | None]]] = {
    b"t": ("boolean", struct.Struct(">B")),
    b"b": ("int8", struct.Struct(">b")),
    b"B": ("uint8", struct.Struct(">B")),
    b"s": ("int16", struct.Struct(">h")),
    b"u": ("uint16", struct.Struct(">H")),
    b"I": ("int32", struct.Struct(">i")),
    b"i": ("uint32", struct.Struct(">I")),
    b"l": ("int64", struct.Struct(">q")),
    b"L": ("int64", struct.Struct(">q")),
    b"f": ("float", struct.Struct(">f")),
    b"d": ("double", struct.Struct(">d")),
    b"T": ("timestamp", struct.Struct(">Q")),
    b"D": ("decimal", None),
    b"S": ("longstr", None),
    b"x": ("bytes", None),
    b"A": ("array", None),
    b"F": ("table", None),
    b"V": ("void", None),
    b"\x00": ("void", None),
}
_LONG: Final = struct.Struct(">I")
_DECIMAL: Final = struct.Struct(">BI")
_FLAG_WORD: Final = struct.Struct(">H")


class _Walker:
    """Reads fields from a frame's bytes, recording where each one lies."""

    def __init__(self, raw: bytes, end: int) -> None:
        self.raw = raw
        #: The offset no field may pass: the frame-end octet.
        self.end = end

    def need(self, pos: int, length: int, what: str) -> None:
        if pos + length > self.end:
            left = self.end - pos
            raise _MalformedError(
                f"{what} needs {length} bytes, {left} remain in the frame"
            )

    def integer(
        self, pos: int, name: str, type_: str, kind: FieldKind = FieldKind.VALUE
    ) -> ByteField:
        layout = _INTEGERS[type_]
        self.need(pos, layout.size, name)
        value = int(layout.unpack_from(self.raw, pos)[0])
        return ByteField(pos, layout.size, name, kind, type_, value)

    def short_string(self, pos: int, name: str) -> ByteField:
        self.need(pos, 1, name)
        size = self.raw[pos]
        prefix = ByteField(pos, 1, "length", FieldKind.LENGTH, "octet", size)
        return self._string(pos, 1, size, name, "shortstr", prefix)

    def long_string(self, pos: int, name: str, type_: str = "longstr") -> ByteField:
        self.need(pos, 4, name)
        size = _LONG.unpack_from(self.raw, pos)[0]
        prefix = ByteField(pos, 4, "length", FieldKind.LENGTH, "long", size)
        return self._string(pos, 4, size, name, type_, prefix)

    def _string(
        self, pos: int, width: int, size: int, name: str, type_: str, prefix: ByteField
    ) -> ByteField:
        self.need(pos + width, size, f"{name} text")
        data = self.raw[pos + width : pos + width + size]
        value: str | bytes = data
        if type_ != "bytes":
            try:
                value = data.decode("utf-8")
            except UnicodeDecodeError:
                value = data
        children: tuple[ByteField, ...] = (prefix,)
        if size:
            children += (
                ByteField(pos + width, size, "text", FieldKind.VALUE, type_, value),
            )
        return ByteField(
            pos, width + size, name, FieldKind.GROUP, type_, None, children
        )

    def table(self, pos: int, name: str) -> ByteField:
        return self._sequence(pos, name, "table", self._table_entry)

    def array(self, pos: int, name: str) -> ByteField:
        return self._sequence(pos, name, "array", self._array_item)

    def _sequence(
        self,
        pos: int,
        name: str,
        type_: str,
        item: Callable[[int, int], ByteField],
    ) -> ByteField:
        self.need(pos, 4, name)
        size = _LONG.unpack_from(self.raw, pos)[0]
        self.need(pos + 4, size, f"{name} contents")
        children = [ByteField(pos, 4, "length", FieldKind.LENGTH, "long", size)]
        cursor, stop = pos + 4, pos + 4 + size
        outer_end, self.end = self.end, stop  # entries may not run past the table
        try:
            while cursor < stop:
                entry = item(cursor, len(children) - 1)
                children.append(entry)
                cursor = entry.end
        finally:
            self.end = outer_end
        return ByteField(
            pos, 4 + size, name, FieldKind.GROUP, type_, None, tuple(children)
        )

    def _table_entry(self, pos: int, _index: int) -> ByteField:
        self.need(pos, 1, "key length")
        size = self.raw[pos]
        self.need(pos + 1, size, "key")
        key = self.raw[pos + 1 : pos + 1 + size].decode("utf-8", errors="replace")
        parts = [ByteField(pos, 1, "key length", FieldKind.LENGTH, "octet", size)]
        if size:
            parts.append(
                ByteField(pos + 1, size, "key", FieldKind.KEY, "shortstr", key)
            )
        tagged = self.tagged_value(pos + 1 + size, key)
        children = (*parts, *tagged)
        length = children[-1].end - pos
        return ByteField(
            pos, length, key, FieldKind.GROUP, tagged[0].type, None, children
        )

    def _array_item(self, pos: int, index: int) -> ByteField:
        name = f"[{index}]"
        tagged = self.tagged_value(pos, name)
        length = tagged[-1].end - pos
        return ByteField(
            pos, length, name, FieldKind.GROUP, tagged[0].type, None, tagged
        )

    def tagged_value(self, pos: int, name: str) -> tuple[ByteField, ...]:
        """A type tag and the value it announces."""
        self.need(pos, 1, f"{name} type tag")
        tag = self.raw[pos : pos + 1]
        if tag not in _TAGS:
            raise _MalformedError(f"{name}: {tag!r} is not a field-table type tag")
        type_, layout = _TAGS[tag]
        tag_field = ByteField(
            pos, 1, "type tag", FieldKind.TAG, type_, tag.decode("latin-1")
        )
        start = pos + 1
        if layout is not None:
            self.need(start, layout.size, name)
            value: object = layout.unpack_from(self.raw, start)[0]
            if type_ == "boolean":
                value = bool(value)
            return (
                tag_field,
                ByteField(start, layout.size, "value", FieldKind.VALUE, type_, value),
            )
        if type_ == "void":
            return (tag_field,)
        if type_ == "decimal":
            self.need(start, 5, name)
            scale, digits = _DECIMAL.unpack_from(self.raw, start)
            number = Decimal(digits).scaleb(-scale)
            return (
                tag_field,
                ByteField(start, 5, "value", FieldKind.VALUE, type_, number),
            )
        if type_ == "table":
            return (tag_field, self.table(start, "value"))
        if type_ == "array":
            return (tag_field, self.array(start, "value"))
        return (tag_field, self.long_string(start, "value", type_))

    def argument(self, pos: int, name: str, type_: str) -> ByteField:
        """One method argument or content property of the given AMQP type."""
        if type_ in _INTEGERS:
            return self.integer(pos, name, type_)
        if type_ == "shortstr":
            return self.short_string(pos, name)
        if type_ == "longstr":
            return self.long_string(pos, name)
        if type_ == "table":
            return self.table(pos, name)
        raise _MalformedError(f"{name}: the byte map does not know the type {type_!r}")


def byte_map(frame: Frame) -> ByteField:
    """Map every byte of a decoded frame to the field it belongs to.

    Args:
        frame: A frame from the decoder.

    Returns:
        The root span: the whole frame, its children in byte order.
    """
    raw, payload = frame.raw, frame.payload
    if isinstance(payload, header.ProtocolHeader):
        children = _protocol_header(raw)
    else:
        walker = _Walker(raw, len(raw) - 1)
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


def _protocol_header(raw: bytes) -> list[ByteField]:
    names = ("protocol id", "major version", "minor version", "revision")
    return [
        ByteField(
            0, 4, "protocol name", FieldKind.FRAMING, "bytes", raw[:4].decode("latin-1")
        ),
        *(
            ByteField(4 + i, 1, n, FieldKind.VALUE, "octet", raw[4 + i])
            for i, n in enumerate(names)
        ),
    ]


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


def _method(walker: _Walker, method: base.Frame) -> list[ByteField]:
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


def _bits(walker: _Walker, pos: int, names: list[str]) -> ByteField:
    walker.need(pos, 1, names[0])
    octet = walker.raw[pos]
    bits = tuple((n, bool(octet >> i & 1)) for i, n in enumerate(names))
    return ByteField(pos, 1, " ".join(names), FieldKind.BITS, "bit", octet, bits=bits)


def _content_header(walker: _Walker) -> list[ByteField]:
    try:
        fields = [
            walker.integer(7, "class id", "short", FieldKind.METHOD),
            walker.integer(9, "weight", "short"),
            walker.integer(11, "body size", "longlong"),
        ]
        flags, pos = 0, 19
        for word in range(4):  # like pamqp: read flag words until bit 0 is clear
            value = (
                _FLAG_WORD.unpack_from(walker.raw, pos)[0]
                if pos + 2 <= walker.end
                else -1
            )
            if value < 0:
                raise _MalformedError("property flags need 2 bytes")
            flags |= value << (16 * word)
            fields.append(_flag_word(pos, value, flags))
            pos += 2
            if not value & 1:
                break
    except _MalformedError as problem:
        start = fields[-1].end if fields else 7
        return [*fields, _malformed(walker, start, "content header", problem)]
    properties = commands.Basic.Properties
    steps: list[tuple[str, Reader]] = [
        (name, partial(walker.argument, name=name, type_=properties.amqp_type(name)))
        for name in properties.__slots__
        if flags & properties.flags[name]
    ]
    return fields + _read_all(walker, pos, steps)


def _flag_word(pos: int, word: int, flags: int) -> ByteField:
    """A property-flags word, naming which properties it says are present."""
    properties = commands.Basic.Properties
    bits = tuple((n, bool(flags & properties.flags[n])) for n in properties.__slots__)
    return ByteField(pos, 2, "property flags", FieldKind.BITS, "short", word, bits=bits)


Reader = Callable[[int], ByteField]


def _read_all(
    walker: _Walker, pos: int, steps: list[tuple[str, Reader]]
) -> list[ByteField]:
    """Read fields one after another; the first that does not fit ends the map."""
    fields: list[ByteField] = []
    for name, read in steps:
        try:
            entry = read(pos)
        except _MalformedError as problem:
            return [*fields, _malformed(walker, pos, name, problem)]
        fields.append(entry)
        pos = entry.end
    if pos < walker.end:
        left = walker.end - pos
        reason = f"{left} bytes after the last field belong to no field"
        fields.append(
            ByteField(pos, left, "trailing bytes", FieldKind.MALFORMED, "", reason)
        )
    return fields


def _malformed(
    walker: _Walker, pos: int, name: str, problem: _MalformedError
) -> ByteField:
    """The rest of the payload, from a field that does not fit."""
    return ByteField(pos, walker.end - pos, name, FieldKind.MALFORMED, "", str(problem))
