"""Reading AMQP-typed fields out of a frame's bytes, noting where each lies.

Owns Walker: integers, short and long strings, field tables and arrays down to
each entry's key, type tag and value, as ByteField spans (explorer.bytemap puts
them together into a frame's map). A table's or array's entries are read only
when first looked at, and tables nested deeper than MAX_NESTING are one
MALFORMED span each. Sans-I/O: no asyncio, socket or Textual.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Final

from explorer.protocol.bytefield import ByteField, FieldKind, Parts

#: Tables and arrays nested inside one another are mapped this many levels deep
#: (an argument's own table is level 1). Real peers nest two or three; a deeper
#: one (a hostile peer's, say) becomes one MALFORMED span saying so, which keeps
#: every view of the map shallow: the field tree, the values, trace --json.
MAX_NESTING: Final = 32


class MalformedError(Exception):
    """A field claims bytes the frame does not have."""


_INTEGERS: Final[dict[str, struct.Struct]] = {
    "octet": struct.Struct(">B"),
    "short": struct.Struct(">H"),
    "long": struct.Struct(">I"),
    "longlong": struct.Struct(">Q"),
    "timestamp": struct.Struct(">Q"),
}

#: RabbitMQ's field-table type tags (the errata's, not the 0-9-1 spec's), as
#: pamqp decodes them, and the grammar's U that the errata dropped (see
#: explorer.protocol.decoder): tag -> (type name, fixed layout or None when
#: prefixed).
_TAG_TYPES: Final[dict[bytes, tuple[str, struct.Struct | None]]] = {
    b"U": ("int16", struct.Struct(">h")),
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
#: The same, keyed by the tag's octet, with the tag as its type-tag leaf shows it.
_TAGS: Final[dict[int, tuple[str, struct.Struct | None, str]]] = {
    tag[0]: (type_, layout, tag.decode("latin-1"))
    for tag, (type_, layout) in _TAG_TYPES.items()
}
#: The names of an array's first items, made once: a screenful of an array is
#: at most 1,024 of them.
_ITEM_NAMES: Final = tuple(f"[{index}]" for index in range(4096))
#: The tags of a void, by octet, as their type-tag leaf shows them.
_VOIDS: Final = {octet: info[2] for octet, info in _TAGS.items() if info[0] == "void"}
_LONG: Final = struct.Struct(">I")
#: Builds a ByteField from all eight of its fields in order, without the
#: Python-level __new__ NamedTuple gives ByteField(...): half the cost, on the
#: paths that read a table's entries (a screenful is some 2,000 spans).
_new: Final = tuple.__new__
_LENGTH, _KEY, _TAG = FieldKind.LENGTH, FieldKind.KEY, FieldKind.TAG
_VALUE, _GROUP = FieldKind.VALUE, FieldKind.GROUP
_DECIMAL: Final = struct.Struct(">BI")


class Walker:
    """Reads fields from a frame's bytes, recording where each one lies."""

    __slots__ = ("depth", "end", "raw")

    def __init__(self, raw: bytes, end: int, depth: int = 0) -> None:
        self.raw = raw
        #: The offset no field may pass: the frame-end octet, or the end of the
        #: table or array whose entries this walker reads.
        self.end = end
        #: How many tables and arrays enclose what this walker reads.
        self.depth = depth

    def need(self, pos: int, length: int, what: str) -> None:
        if pos + length > self.end:
            left = self.end - pos
            raise MalformedError(
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
        return self._sequence(pos, name, "table", Walker._table_entry)

    def array(self, pos: int, name: str) -> ByteField:
        return self._sequence(pos, name, "array", Walker._array_item)

    def _sequence(self, pos: int, name: str, type_: str, item: Entry) -> ByteField:
        """A table or array; its entries are read when first looked at."""
        self.need(pos, 4, name)
        size = _LONG.unpack_from(self.raw, pos)[0]
        self.need(pos + 4, size, f"{name} contents")
        if self.depth >= MAX_NESTING:
            reason = (
                f"nested too deep: the byte map reads tables and arrays "
                f"{MAX_NESTING} levels deep, and this {type_} is level "
                f"{self.depth + 1}; its {4 + size} bytes are not mapped"
            )
            return ByteField(pos, 4 + size, name, FieldKind.MALFORMED, type_, reason)
        inner = Walker(self.raw, pos + 4 + size, self.depth + 1)
        entries = Parts(inner._entries(pos, size, type_, item))
        return ByteField(pos, 4 + size, name, FieldKind.GROUP, type_, None, entries)

    def _entries(
        self, pos: int, size: int, type_: str, item: Entry
    ) -> Iterator[ByteField]:
        """The length prefix at `pos`, then each entry up to this walker's end."""
        yield ByteField(pos, 4, "length", FieldKind.LENGTH, "long", size)
        cursor, index, end = pos + 4, 0, self.end
        while cursor < end:
            try:
                entry = item(self, cursor, index)
            except MalformedError as problem:
                yield malformed(self, cursor, f"{type_} entry {index}", problem)
                return
            yield entry
            cursor, index = entry.offset + entry.length, index + 1

    def _table_entry(self, pos: int, _index: int) -> ByteField:
        # The checks are written out (`need` is only called to raise): reading
        # entries is most of what a screenful of a large table costs.
        raw, end = self.raw, self.end
        if pos >= end:
            self.need(pos, 1, "key length")
        size = raw[pos]
        at = pos + 1 + size
        if at > end:
            self.need(pos + 1, size, "key")
        key = raw[pos + 1 : at].decode("utf-8", errors="replace")
        tagged = self.tagged_value(at, key)
        last = tagged[-1]
        prefix = _new(ByteField, (pos, 1, "key length", _LENGTH, "octet", size, (), ()))
        if size:
            named = _new(
                ByteField, (pos + 1, size, "key", _KEY, "shortstr", key, (), ())
            )
            children: tuple[ByteField, ...] = (prefix, named, *tagged)
        else:
            children = (prefix, *tagged)
        length = last.offset + last.length - pos
        return _new(
            ByteField, (pos, length, key, _GROUP, tagged[0].type, None, children, ())
        )

    def _array_item(self, pos: int, index: int) -> ByteField:
        name = _ITEM_NAMES[index] if index < len(_ITEM_NAMES) else f"[{index}]"
        # A void is its tag alone: an array of them, an item a byte, is the
        # densest map a frame can hold (2 spans a byte), so it is read here
        # without the call to tagged_value, to keep a screenful under 1 ms.
        letter = _VOIDS.get(self.raw[pos]) if pos < self.end else None
        if letter is not None:
            tag = (pos, 1, "type tag", _TAG, "void", letter, (), ())
            tagged: tuple[ByteField, ...] = (_new(ByteField, tag),)
            return _new(ByteField, (pos, 1, name, _GROUP, "void", None, tagged, ()))
        tagged = self.tagged_value(pos, name)
        last = tagged[-1]
        length = last.offset + last.length - pos
        return _new(
            ByteField, (pos, length, name, _GROUP, tagged[0].type, None, tagged, ())
        )

    def tagged_value(self, pos: int, name: str) -> tuple[ByteField, ...]:
        """A type tag and the value it announces."""
        raw, end = self.raw, self.end
        if pos >= end:
            self.need(pos, 1, f"{name} type tag")
        found = _TAGS.get(raw[pos])
        if found is None:
            tag = raw[pos : pos + 1]
            raise MalformedError(f"{name}: {tag!r} is not a field-table type tag")
        type_, layout, letter = found
        tag_field = _new(ByteField, (pos, 1, "type tag", _TAG, type_, letter, (), ()))
        start = pos + 1
        if layout is not None:
            if start + layout.size > end:
                self.need(start, layout.size, name)
            value: object = layout.unpack_from(raw, start)[0]
            if type_ == "boolean":
                value = bool(value)
            size = layout.size
            value_field = (start, size, "value", _VALUE, type_, value, (), ())
            return (tag_field, _new(ByteField, value_field))
        if type_ == "void":
            return (tag_field,)
        if type_ == "decimal":
            self.need(start, 5, name)
            scale, digits = _DECIMAL.unpack_from(raw, start)
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
        raise MalformedError(f"{name}: the byte map does not know the type {type_!r}")


#: Reads one entry of a table or array: walker, offset, index -> the entry.
Entry = Callable[[Walker, int, int], ByteField]


def malformed(
    walker: Walker, pos: int, name: str, problem: MalformedError
) -> ByteField:
    """The rest of the payload, from a field that does not fit."""
    return ByteField(pos, walker.end - pos, name, FieldKind.MALFORMED, "", str(problem))
