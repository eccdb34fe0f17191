"""Reading AMQP 1.0 typed values out of a frame's bytes, noting where each lies.

Owns Reader: one encoded value at an offset, read to a ByteField span whose
children cover its bytes exactly once: the constructor (a format code, or 0x00,
a descriptor and the constructor after it), the size and count of a variable
or compound encoding, and the value bytes or the elements, down to every list
element, map key and value, and array item. Unlike 0-9-1's spans, a group's
`value` is the Python value of everything it covers (explorer.protocol.amqp10.
values), so a composite's fields are read off the map. Bytes that cannot be
what they claim raise MalformedError (shared with the 0-9-1 walker) saying
which field and why. Sans-I/O.
"""

from __future__ import annotations

from typing import Final, NamedTuple

from explorer.protocol.amqp10.descriptors import composite
from explorer.protocol.amqp10.encodings import DESCRIBED, ENCODINGS, Encoding, Layout
from explorer.protocol.amqp10.values import Array, Described, Symbol
from explorer.protocol.bytefield import ByteField, FieldKind
from explorer.protocol.walker import MalformedError

#: Values nested inside one another (a descriptor, a described value, a list's
#: element each count one level) are read this deep. Real peers nest some six;
#: the bound keeps a hostile frame from exhausting the stack.
MAX_DEPTH: Final = 64
#: An array of zero-width items (null, true, uint0 ...) costs no bytes per item:
#: more of them than this is taken for a hostile count, not a value.
MAX_EMPTY_ITEMS: Final = 65536
_TAG, _LENGTH, _VALUE = FieldKind.TAG, FieldKind.LENGTH, FieldKind.VALUE
_GROUP, _KEY, _METHOD = FieldKind.GROUP, FieldKind.KEY, FieldKind.METHOD


class Constructor(NamedTuple):
    """An array's element constructor: what each item is, and where it lies."""

    encoding: Encoding
    #: The items' descriptor, when they are described.
    descriptor: object
    #: Its spans: the format code, or 0x00, the descriptor and the format code.
    node: ByteField


class Reader:
    """Reads encoded values between an offset and `end`."""

    __slots__ = ("end", "raw", "where")

    def __init__(self, raw: bytes, end: int, where: str = "the frame") -> None:
        self.raw = raw
        #: No value may pass this offset: the end of the frame, or of the list,
        #: map or array whose elements this reader reads.
        self.end = end
        #: What `end` is the end of, for the reasons a failure gives.
        self.where = where

    def need(self, pos: int, length: int, what: str) -> None:
        """Raise MalformedError unless `length` bytes from `pos` are there."""
        if pos + length > self.end:
            left = max(self.end - pos, 0)
            raise MalformedError(
                f"{what} needs {length} bytes, {left} remain in {self.where}"
            )

    def value(
        self,
        pos: int,
        name: str,
        depth: int = 0,
        kind: FieldKind = _VALUE,
        fields: tuple[str, ...] = (),
    ) -> ByteField:
        """The value whose constructor is at `pos`, as a span named `name`.

        Args:
            kind: The kind of its value bytes (KEY for a map key, METHOD for a
                descriptor, BODY for a data section's binary).
            fields: Names for a list's elements (a composite's fields).
        """
        _deep(depth, name)
        self.need(pos, 1, f"{name}'s constructor")
        code = self.raw[pos]
        if code == DESCRIBED:
            return self._described(pos, name, depth, kind)
        encoding = _encoding(code, name)
        tag = ByteField(pos, 1, "constructor", _TAG, encoding.name, code)
        return self._data(pos + 1, encoding, name, depth, kind, fields, (tag,))

    def _described(self, pos: int, name: str, depth: int, kind: FieldKind) -> ByteField:
        tag = ByteField(pos, 1, "constructor", _TAG, "described", DESCRIBED)
        descriptor = self.value(pos + 1, "descriptor", depth + 1, _METHOD)
        known = composite(descriptor.value)
        inner_kind = FieldKind.BODY if known and known.name == "data" else kind
        listed = known is not None and known.source == "list"
        inner = self.value(
            descriptor.end,
            "fields" if listed else "value",
            depth + 1,
            inner_kind,
            known.fields if known else (),
        )
        if known and known.source not in ("*", inner.type):
            raise MalformedError(
                f"{name}: {known.name} is described over a {known.source}, this "
                f"one over a {inner.type}"
            )
        head = ByteField(
            pos, descriptor.end - pos, "descriptor", _GROUP, descriptor.type,
            descriptor.value, (tag, descriptor),
        )  # fmt: skip
        return ByteField(
            pos, inner.end - pos, name, _GROUP, known.name if known else "described",
            Described(descriptor.value, inner.value), (head, inner),
        )  # fmt: skip

    def _data(
        self,
        pos: int,
        encoding: Encoding,
        name: str,
        depth: int,
        kind: FieldKind,
        fields: tuple[str, ...],
        lead: tuple[ByteField, ...],
    ) -> ByteField:
        """The bytes `encoding` lays out at `pos`, after the spans in `lead`."""
        start = lead[0].offset if lead else pos
        layout, width, type_ = encoding.layout, encoding.width, encoding.type
        if layout is Layout.FIXED:
            value = encoding.constant
            parts = lead
            if width:
                self.need(pos, width, f"{name} ({encoding.name})")
                assert encoding.read is not None
                try:
                    value = encoding.read(self.raw, pos)
                except ValueError as exc:
                    raise MalformedError(f"{name}: {exc}") from None
                parts += (ByteField(pos, width, "value", kind, type_, value),)
            return ByteField(
                start, pos + width - start, name, _GROUP, type_, value, parts
            )
        if layout is Layout.COMPOUND and not width:  # list0
            return ByteField(start, pos - start, name, _GROUP, type_, [], lead)
        size, length = self._count(pos, width, name, encoding, "size")
        self.need(pos + width, length, f"{name} ({encoding.name} of size {length})")
        if layout is Layout.VARIABLE:
            data = self.raw[pos + width : pos + width + length]
            text = _text(data, type_, name)
            parts = (*lead, size)
            if data:
                parts += (
                    ByteField(pos + width, len(data), "value", kind, type_, text),
                )
            end = pos + width + len(data)
            return ByteField(start, end - start, name, _GROUP, type_, text, parts)
        if length < width:
            raise MalformedError(
                f"{name}: a size of {length} cannot hold its {width}-byte count"
            )
        count, number = self._count(pos + width, width, name, encoding, "count")
        inner = Reader(self.raw, pos + width + length, f"{name} ({encoding.name})")
        if layout is Layout.ARRAY:
            items, value = inner._items(count.end, number, name, depth)
        elif type_ == "list":
            items, value = inner._list(count.end, number, depth, fields)
        else:
            items, value = inner._map(count.end, number, name, depth)
        parts = (*lead, size, count, *items)
        return ByteField(start, inner.end - start, name, _GROUP, type_, value, parts)

    def _count(
        self, pos: int, width: int, name: str, encoding: Encoding, what: str
    ) -> tuple[ByteField, int]:
        """A size or count prefix of `width` bytes, and the number it holds."""
        self.need(pos, width, f"{name}'s {what} ({encoding.name})")
        number = int.from_bytes(self.raw[pos : pos + width], "big")
        type_ = "ubyte" if width == 1 else "uint"
        return ByteField(pos, width, what, _LENGTH, type_, number), number

    def _list(
        self, cursor: int, count: int, depth: int, names: tuple[str, ...]
    ) -> tuple[list[ByteField], object]:
        """`count` elements, each with its constructor, filling this reader."""
        self._fits(cursor, count, 1, "elements")
        elements: list[ByteField] = []
        for index in range(count):
            name = names[index] if index < len(names) else f"[{index}]"
            elements.append(self.value(cursor, name, depth + 1))
            cursor = elements[-1].end
        self._filled(cursor, f"its {count} elements")
        return elements, [element.value for element in elements]

    def _map(
        self, cursor: int, count: int, name: str, depth: int
    ) -> tuple[list[ByteField], object]:
        """`count` keys and values, in turn, filling this reader."""
        if count % 2:
            raise MalformedError(
                f"{name}: a map holds keys and values, {count} is an odd count"
            )
        self._fits(cursor, count, 1, "keys and values")
        entries: list[ByteField] = []
        found: dict[object, object] = {}
        for _ in range(count // 2):
            key = self.value(cursor, "key", depth + 1, _KEY)
            value = self.value(key.end, "value", depth + 1)
            label = _label(key.value)
            entries.append(
                ByteField(
                    cursor,
                    value.end - cursor,
                    label,
                    _GROUP,
                    value.type,
                    value.value,
                    (key, value),
                )
            )
            found.setdefault(_hashable(key.value), value.value)
            cursor = value.end
        self._filled(cursor, f"its {count} keys and values")
        return entries, found

    def _items(
        self, cursor: int, count: int, name: str, depth: int
    ) -> tuple[list[ByteField], object]:
        """An array's element constructor, then its `count` items, filling this
        reader."""
        _deep(depth + 1, name)
        constructor = self._constructor(cursor, name, depth)
        encoding, cursor = constructor.encoding, constructor.node.end
        items: list[ByteField] = []
        if not encoding.width:  # null, true, uint0, list0 ...: no bytes per item
            if count > MAX_EMPTY_ITEMS:
                raise MalformedError(
                    f"{name}: {count} items of zero width ({encoding.name}); "
                    f"the byte map reads at most {MAX_EMPTY_ITEMS}"
                )
            values: tuple[object, ...] = tuple(
                [] if encoding.type == "list" else encoding.constant
                for _ in range(count)
            )
        else:
            self._fits(cursor, count, encoding.width, f"items of {encoding.name}")
            for index in range(count):
                items.append(
                    self._data(
                        cursor, encoding, f"[{index}]", depth + 1, _VALUE, (), ()
                    )
                )
                cursor = items[-1].end
            values = tuple(item.value for item in items)
        self._filled(cursor, f"its {count} items")
        return [constructor.node, *items], Array(
            encoding.type, values, constructor.descriptor
        )

    def _constructor(self, pos: int, name: str, depth: int) -> Constructor:
        """An array's element constructor: a format code, or one descriptor and one."""
        self.need(pos, 1, f"{name}'s element constructor")
        code = self.raw[pos]
        if code != DESCRIBED:
            encoding = _encoding(code, f"{name}'s element constructor")
            tag = ByteField(pos, 1, "element constructor", _TAG, encoding.name, code)
            return Constructor(encoding, None, tag)
        tag = ByteField(pos, 1, "constructor", _TAG, "described", DESCRIBED)
        descriptor = self.value(pos + 1, "descriptor", depth + 1, _METHOD)
        self.need(descriptor.end, 1, f"{name}'s element constructor")
        code = self.raw[descriptor.end]
        if code == DESCRIBED:
            raise MalformedError(
                f"{name}: its items' descriptor is followed by another; the byte "
                "map reads one descriptor for an array's items"
            )
        encoding = _encoding(code, f"{name}'s element constructor")
        inner = ByteField(descriptor.end, 1, "constructor", _TAG, encoding.name, code)
        node = ByteField(
            pos, inner.end - pos, "element constructor", _GROUP, encoding.type,
            descriptor.value, (tag, descriptor, inner),
        )  # fmt: skip
        return Constructor(encoding, descriptor.value, node)

    def _fits(self, start: int, count: int, least: int, what: str) -> None:
        """Raise MalformedError unless `count` values of `least` bytes at least
        each fit between `start` and `end` (so no count makes a long loop)."""
        if count * least > self.end - start:
            raise MalformedError(
                f"{self.where}: {count} {what} cannot fit in {self.end - start} bytes"
            )

    def _filled(self, cursor: int, what: str) -> None:
        """Raise MalformedError unless the elements end where the size says."""
        if cursor != self.end:
            raise MalformedError(
                f"{self.where}: {self.end - cursor} bytes after {what}, which "
                "the size says are part of it"
            )


def _deep(depth: int, name: str) -> None:
    if depth > MAX_DEPTH:
        raise MalformedError(
            f"{name}: values nested more than {MAX_DEPTH} deep; the byte map "
            "reads no deeper"
        )


def _encoding(code: int, name: str) -> Encoding:
    found = ENCODINGS.get(code)
    if found is None:
        raise MalformedError(
            f"{name}: 0x{code:02x} is not a format code of the AMQP 1.0 type system"
        )
    return found


def _text(data: bytes, type_: str, name: str) -> object:
    """A variable-width value: bytes, a str, or a Symbol."""
    if type_ == "binary":
        return bytes(data)
    try:
        if type_ == "symbol":
            return Symbol(data.decode("ascii"))
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        encoding = "ASCII" if type_ == "symbol" else "UTF-8"
        raise MalformedError(
            f"{name}: a {type_} is {encoding}, byte {exc.start} of this one is "
            f"0x{data[exc.start]:02x}"
        ) from None


def _label(key: object) -> str:
    """A map entry's name: its key as text."""
    return key if isinstance(key, str) else repr(key)


def _hashable(value: object) -> object:
    """A map key as a dict can hold it: lists (legal keys in AMQP) as tuples."""
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple((k, _hashable(v)) for k, v in value.items())
    if isinstance(value, Described):
        return Described(value.descriptor, _hashable(value.value))
    if isinstance(value, Array):
        return Array(
            value.type, tuple(_hashable(v) for v in value.items), value.descriptor
        )
    return value
