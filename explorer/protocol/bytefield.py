"""Byte-map nodes: named spans of a frame's bytes, their parts read when used.

Owns FieldKind, ByteField and Parts, and the spans of a protocol header
(the same 8-byte layout in 0-9-1 and 1.0). A span's children may be a Parts: read
from the frame one by one as something looks at them, so mapping a frame costs
its arguments, not the entries of its tables, and walking the tree (`leaves`,
`path_to`) reads only the spans it passes through; `path_to` finds each
step by bisection over what is read. No method here recurses, so
no depth of nesting can exhaust the stack. Sans-I/O: no asyncio, socket or
Textual.
"""

from __future__ import annotations

import enum
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from typing import NamedTuple, overload


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
    #: Bytes that do not parse as what they claim to be, or that the byte map
    #: does not map (a table nested too deep).
    MALFORMED = "malformed"


class Parts(Sequence["ByteField"]):
    """A span's children, read from the frame as they are first used.

    Iterating reads only as far as the loop goes, `count_upto` only as far as
    its limit; `len`, a negative index or a slice read them all. What is read
    is kept, so each is read once, and `child_at` finds one among those read
    by bisection.
    """

    __slots__ = ("_read", "_unread")

    def __init__(self, unread: Iterator[ByteField]) -> None:
        """Read children from `unread`, in byte order, when they are needed."""
        self._read: list[ByteField] = []
        self._unread: Iterator[ByteField] | None = unread

    def __iter__(self) -> Iterator[ByteField]:
        """The children in byte order, reading each the first time it is reached."""
        read, index = self._read, 0
        while True:
            while index < len(read):
                yield read[index]
                index += 1
            if self._unread is None:
                return
            # A `for` over the unread is cheaper than a next() per child (a
            # screenful is some 2,000 spans); it stops to catch up when another
            # loop read on while this one waited.
            for child in self._unread:
                read.append(child)
                index += 1
                yield child
                if index != len(read):
                    break
            else:
                self._unread = None
                return

    def __len__(self) -> int:
        """How many children there are (reads them all)."""
        return len(self._all())

    def count_upto(self, limit: int) -> int | None:
        """How many children there are, if at most `limit`; None if more.

        Reads at most `limit` + 1 of them, so a view can say how many entries a
        table has when that is cheap, and that it has more than it shows when
        it is not.
        """
        while len(self._read) <= limit and self._read_one():
            pass
        return len(self._read) if len(self._read) <= limit else None

    def __bool__(self) -> bool:
        """Whether there is a child (reads at most the first)."""
        return bool(self._read) or self._read_one()

    @overload
    def __getitem__(self, index: int) -> ByteField: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[ByteField, ...]: ...

    def __getitem__(self, index: int | slice) -> ByteField | tuple[ByteField, ...]:
        """A child by position, or a tuple of them for a slice."""
        if isinstance(index, int) and index >= 0:
            while index >= len(self._read) and self._read_one():
                pass
            return self._read[index]
        return self._all()[index]

    def __eq__(self, other: object) -> bool:
        """Equal to the same children, as a Parts or as a tuple."""
        if isinstance(other, Parts | tuple):
            return self._all() == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        """Hashed as the tuple of its children."""
        return hash(self._all())

    def __repr__(self) -> str:
        """The children, as a tuple would show them (reads them all)."""
        return repr(self._all())

    def child_at(self, offset: int) -> ByteField | None:
        """The child holding the byte at `offset`, reading on only to reach it.

        None when no child holds it (the offset is outside these children).
        """
        read = self._read
        while not read or read[-1].offset + read[-1].length <= offset:
            if not self._read_one():
                break
        index = bisect_right(read, offset, key=_offset) - 1
        if index < 0 or read[index].offset + read[index].length <= offset:
            return None
        return read[index]

    def _read_one(self) -> bool:
        """Read the next child; False when there are no more."""
        if self._unread is None:
            return False
        child = next(self._unread, None)
        if child is None:
            self._unread = None
            return False
        self._read.append(child)
        return True

    def _all(self) -> tuple[ByteField, ...]:
        while self._read_one():
            pass
        return tuple(self._read)


def _offset(field: ByteField) -> int:
    return field.offset


class ByteField(NamedTuple):
    """One named span of a frame's bytes, possibly split into smaller spans.

    A NamedTuple rather than the house's frozen dataclass: as immutable, and
    made some three times faster, which is most of what reading a screenful of
    a table's entries costs (see bench/decode.py).
    """

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
    #: Smaller spans that together cover this one, in byte order: a tuple, or
    #: for a table or array a Parts, read when first used.
    children: Sequence[ByteField] = ()
    #: For packed bits: each bit's name and value, lowest bit first.
    bits: tuple[tuple[str, bool], ...] = ()

    @property
    def end(self) -> int:
        """Offset one past the last byte."""
        return self.offset + self.length

    def leaves(self, start: int = 0, end: int | None = None) -> Iterator[ByteField]:
        """The spans with no children, in byte order.

        Args:
            start: Only leaves holding a byte at or after this offset ...
            end: ... and before this one (None: to the end of this span).
        """
        stop = self.offset + self.length if end is None else end
        levels: list[Iterator[ByteField]] = [iter((self,))]
        while levels:
            # Each level's iterator resumes where it was left: a `for` over it
            # is cheaper than a next() per span, and a screenful is 2,000 spans.
            for node in levels[-1]:
                if node.offset >= stop:  # spans come in byte order
                    levels.pop()
                    break
                if node.offset + node.length <= start:
                    continue
                kids = node.children
                if not kids:
                    yield node
                    continue
                if type(kids) is tuple:
                    for kid in kids:
                        if kid.children:
                            break
                    else:  # leaves only (an entry's parts): no level of their own
                        for kid in kids:
                            if kid.offset < stop and kid.offset + kid.length > start:
                                yield kid
                        continue
                levels.append(iter(kids))
                break
            else:
                levels.pop()

    def path_to(self, offset: int) -> list[ByteField]:
        """The chain of spans from this one down to the leaf holding `offset`."""
        path: list[ByteField] = []
        node: ByteField | None = self
        while node is not None and node.offset <= offset < node.end:
            path.append(node)
            children = node.children
            if isinstance(children, Parts):
                node = children.child_at(offset)
            else:
                node = next((c for c in children if c.end > offset), None)
        return path


def protocol_header(raw: bytes) -> list[ByteField]:
    """The spans of an 8-byte protocol header, 0-9-1's or 1.0's alike."""
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
