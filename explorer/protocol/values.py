"""Field values as the spec reads them: JSON values and the notes beside them.

Owns turning a frame's byte map into the values every view shows (trace's
"fields", lesson placeholders, reports, questions, the field tree's notes):
a decimal's mantissa and a longlong unsigned, a timestamp in whole seconds,
exactly the content properties whose flag bits are set, and the first entry of
a repeated table key, as the spec says a peer must read it. Notes say what a
value means (a timestamp's date) or where clients read the bytes otherwise.
Read from the byte map when shown (one value by `value_at`, reading the map
only that far), never by the decoder. Sans-I/O.
"""

from __future__ import annotations

import datetime
import enum
import itertools
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from pamqp import base, body, commands, header

from explorer.protocol.bytemap import ByteField, FieldKind, byte_map
from explorer.protocol.frames import Frame

JSON = None | bool | int | float | str | list["JSON"] | dict[str, "JSON"]
#: Where a value sits in a frame's fields: argument, table keys, array indexes.
FieldPath = tuple[str | int, ...]

#: Body bytes shown in "fields"; the rest is summarised by its size.
BODY_PREVIEW: Final = 64
_PROTOCOL_HEADER: Final = {
    "protocol id": "protocol_id",
    "major version": "major",
    "minor version": "minor",
    "revision": "revision",
}
_PROPERTIES: Final = frozenset(commands.Basic.Properties.__slots__)
_STRINGS: Final = frozenset({"shortstr", "longstr", "bytes"})
#: A decimal's mantissa is an unsigned long; its top bit set means a client
#: that writes it signed meant a negative number.
_SIGN_BIT: Final = 1 << 31
#: Above this many seconds a timestamp is after 2106-02-07: pamqp then takes it
#: for milliseconds, and so does this note while the milliseconds stay below it.
_SECONDS_32: Final = 0xFFFFFFFF
_DAYS_IN_400_YEARS: Final = 146097
_EPOCH: Final = datetime.datetime(1970, 1, 1)


class NoteKind(enum.Enum):
    """What a note says about the value it stands beside."""

    #: A timestamp's date (UTC, seconds), and whether it looks like milliseconds.
    TIMESTAMP = "timestamp"
    #: A decimal whose mantissa has its top bit set: negative to a client that
    #: writes it signed.
    SIGNED_DECIMAL = "signed decimal"
    #: A field-table key sent more than once; the value shown is the first.
    REPEATED_KEY = "repeated key"
    #: Bytes that do not parse as the field they should hold.
    MALFORMED = "malformed"


@dataclass(frozen=True, slots=True)
class Note:
    """A remark beside one value of a frame's fields."""

    #: Where the value is; () for the frame as a whole.
    path: FieldPath
    #: What kind of remark it is.
    kind: NoteKind
    #: The remark, for a learner.
    text: str

    def to_json(self) -> dict[str, JSON]:
        """The note as trace --json prints it."""
        field: list[JSON] = [*self.path]
        return {"field": field, "kind": self.kind.value, "note": self.text}


@dataclass(frozen=True, slots=True)
class Values:
    """A frame's fields as the spec reads its bytes, with the notes beside them."""

    #: Argument (or property) name to value, in wire order.
    fields: dict[str, JSON]
    #: Remarks about some of the values, in the order they were found.
    notes: tuple[Note, ...] = ()


def frame_values(frame: Frame) -> Values:
    """Read a frame's fields from its byte map, as the spec says to read them.

    Args:
        frame: A frame from the decoder (through `fields.shown` to mask secrets).

    Returns:
        The fields: a method's arguments; a content header's body_size and the
        properties its flags announce; a body's size and a preview; a protocol
        header's four numbers.
    """
    root, payload, reading = byte_map(frame), frame.payload, _Reading()
    fields: dict[str, JSON]
    if isinstance(payload, base.Frame):
        fields = reading.arguments(root.children, frozenset(payload.__slots__), ())
    elif isinstance(payload, header.ContentHeader):
        properties = reading.arguments(root.children, _PROPERTIES, ("properties",))
        fields = {
            "body_size": _scalar(_child(root, "body size")),
            "properties": properties,
        }
    elif isinstance(payload, body.ContentBody):
        data = _child(root, "body")  # absent from an empty body frame
        data = data if isinstance(data, bytes) else b""
        fields = {"size": len(data), "preview": text_of(data[:BODY_PREVIEW])}
    elif isinstance(payload, header.ProtocolHeader):
        fields = {
            _PROTOCOL_HEADER[c.name]: c.value
            for c in root.children
            if c.name in _PROTOCOL_HEADER and isinstance(c.value, int)
        }
    else:  # a heartbeat carries nothing
        fields = {}
    return Values(fields, tuple(reading.notes))


def value_at(frame: Frame, keys: Sequence[str]) -> JSON:
    """`frame_values(frame).fields[keys[0]][keys[1]]...`, reading only what it needs.

    Tables are read up to the (first) entry with the key, so one field of a
    large frame costs that field, not the frame's whole map.

    Raises:
        KeyError: where that lookup fails, or would index what is not a table.
    """
    payload, path = frame.payload, tuple(keys)
    if isinstance(payload, base.Frame) and path:
        root, names = byte_map(frame), frozenset(payload.__slots__)
    elif isinstance(payload, header.ContentHeader) and path == ("body_size",):
        return _scalar(_child(byte_map(frame), "body size"))
    elif isinstance(payload, header.ContentHeader) and path[:1] == ("properties",):
        root, names, path = byte_map(frame), _PROPERTIES, path[1:]
        if not path:
            return _Reading().arguments(root.children, names, ("properties",))
    else:  # the whole fields, a body's or a protocol header's: nothing to spare
        found: JSON = frame_values(frame).fields
        for key in path:
            if not isinstance(found, dict):
                raise KeyError(key)
            found = found[key]
        return found
    argument = _argument(root.children, names, path[0])
    if isinstance(argument, bool):  # a packed bit
        if len(path) > 1:
            raise KeyError(path[1])
        return argument
    node: ByteField | None = argument
    for key in path[1:]:
        if node is None or node.kind is FieldKind.MALFORMED or node.type != "table":
            raise KeyError(key)
        node = _tagged(_entry(node, key))
    return _Reading().value(node, ())


def _argument(
    children: Iterable[ByteField], names: frozenset[str], name: str
) -> ByteField | bool:
    """The node (or bit) `_Reading.arguments` would take the value `name` from."""
    found: ByteField | bool | None = None
    for child in children:
        if child.kind is FieldKind.MALFORMED and child.name not in names:
            continue
        if child.kind is FieldKind.BITS and child.type == "bit":
            found = next((on for n, on in child.bits if n == name), found)
        elif child.name == name:
            found = child
    if found is None or name not in names:
        raise KeyError(name)
    return found


def _entry(table: ByteField, key: str) -> ByteField:
    """The first entry of a table with `key`, reading the entries only that far."""
    for entry in itertools.islice(table.children, 1, None):
        if entry.kind is FieldKind.MALFORMED:  # the last: reading stops there
            break
        if entry.name == key:
            return entry
    raise KeyError(key)


def text_of(data: bytes | bytearray) -> str:
    """Bytes as text when they are UTF-8, else as ``0x`` and their hex digits."""
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        return "0x" + bytes(data).hex()


def leaf_note(field: ByteField) -> str:
    """The note beside one value leaf of a byte map ("" when it needs none)."""
    found = _leaf_note(field)
    return found[1] if found else ""


def repeated_entries(table: ByteField) -> dict[int, str]:
    """Entries of a field table whose key an earlier entry already has.

    Args:
        table: A table's byte map: its length, then one group per entry. (A
            table-typed entry's own parts hold one group, so none repeats.)

    Returns:
        Each repeating entry's index among `table.children` (entry n is child
        n) mapped to a note naming the first entry with its key.
    """
    first: dict[str, int] = {}
    repeats: dict[int, str] = {}
    for index, entry in enumerate(table.children):
        if entry.kind is not FieldKind.GROUP:  # the length; an entry's own parts
            continue
        original = first.setdefault(entry.name, index)
        if original != index:
            repeats[index] = (
                f"repeats the key of entry {original}: the spec says a peer uses "
                "only the first, as RabbitMQ does; pika and pamqp (aiormq) keep "
                "the last"
            )
    return repeats


class _Reading:
    """Reads values out of byte-map nodes, collecting the notes it finds."""

    def __init__(self) -> None:
        self.notes: list[Note] = []

    def arguments(
        self, children: Iterable[ByteField], names: frozenset[str], path: FieldPath
    ) -> dict[str, JSON]:
        """The values of the children named in `names` (packed bits unpacked)."""
        values: dict[str, JSON] = {}
        for child in children:
            if child.kind is FieldKind.MALFORMED and child.name not in names:
                self._malformed(child, ())  # trailing bytes, say: the frame's
            elif child.kind is FieldKind.BITS and child.type == "bit":
                values.update((name, on) for name, on in child.bits if name in names)
            elif child.name in names:
                values[child.name] = self.value(child, (*path, child.name))
        return values

    def value(self, node: ByteField | None, path: FieldPath) -> JSON:
        """The value a node holds (None for a void, or bytes that do not parse).

        Recurses once per level of nesting (plain loops: a comprehension is a
        frame of its own on Python 3.11); pamqp's decoder twice, so whatever
        depth pamqp decodes (it fails the frame past its recursion limit), this
        reads too.
        """
        if node is None:
            return None
        if node.kind is FieldKind.MALFORMED:
            self._malformed(node, path)
            return None
        if node.type == "array":
            items: list[JSON] = []
            for index, item in enumerate(node.children[1:]):
                if item.kind is FieldKind.MALFORMED:  # the last: reading stops there
                    self._malformed(item, path)
                else:
                    items.append(self.value(_tagged(item), (*path, index)))
            return items
        if node.type == "table":
            table: dict[str, JSON] = {}
            repeats = repeated_entries(node)
            for index, entry in enumerate(node.children[1:], 1):
                if entry.kind is FieldKind.MALFORMED:
                    self._malformed(entry, path)
                elif index not in repeats:  # the spec: a peer uses only the first
                    table[entry.name] = self.value(_tagged(entry), (*path, entry.name))
            self._note_repeats(node, repeats, table, path)
            return table
        if node.type in _STRINGS:
            text = [leaf.value for leaf in node.leaves() if leaf.name == "text"]
            return _scalar(text[0] if text else "")
        if found := _leaf_note(node):
            self.notes.append(Note(path, *found))
        return _scalar(node.value)

    def _malformed(self, node: ByteField, path: FieldPath) -> None:
        """Note bytes that do not parse; they have no value."""
        self.notes.append(Note(path, NoteKind.MALFORMED, str(node.value)))

    def _note_repeats(
        self,
        node: ByteField,
        repeats: dict[int, str],
        table: dict[str, JSON],
        path: FieldPath,
    ) -> None:
        """One note per repeated key: the value shown first, then the others."""
        later: dict[str, list[str]] = {}
        for index in repeats:
            entry = node.children[index]
            aside = _Reading()
            shown = json.dumps(aside.value(_tagged(entry), (*path, entry.name)))
            asides = "; ".join(note.text for note in aside.notes)
            later.setdefault(entry.name, []).append(
                f"{shown} ({asides})" if asides else shown
            )
        for key, values in later.items():
            first = json.dumps(table[key])
            self.notes.append(
                Note((*path, key), NoteKind.REPEATED_KEY, _repeated_note(first, values))
            )


def _child(node: ByteField, name: str) -> object:
    """The value of `node`'s child called `name` (None if it has none)."""
    return next((child.value for child in node.children if child.name == name), None)


def _tagged(entry: ByteField) -> ByteField | None:
    """The value node after a table entry's or array item's type tag, if any."""
    after_tag = False
    for child in entry.children:
        if after_tag:
            return child
        after_tag = child.kind is FieldKind.TAG
    return None


def _leaf_note(field: ByteField) -> tuple[NoteKind, str] | None:
    if field.kind is not FieldKind.VALUE:
        return None
    if field.type == "timestamp" and isinstance(field.value, int):
        return NoteKind.TIMESTAMP, _timestamp_note(field.value)
    if field.type == "decimal" and isinstance(field.value, Decimal):
        note = _decimal_note(field.value)
        return (NoteKind.SIGNED_DECIMAL, note) if note else None
    return None


def _scalar(value: object) -> JSON:
    """A leaf's value as JSON: decimals as exact text, floats that JSON lacks too."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, bytes):
        return text_of(value)
    return str(value)


def _repeated_note(first: str, later: list[str]) -> str:
    return (
        f"sent {len(later) + 1} times: {first}, then {', '.join(later)}; the spec "
        "says a peer uses only the first, as RabbitMQ does; pika and pamqp "
        "(aiormq) keep the last"
    )


def _decimal_note(number: Decimal) -> str:
    sign, digits, exponent = number.as_tuple()
    mantissa = int("".join(map(str, digits)))
    if sign or mantissa < _SIGN_BIT or not isinstance(exponent, int):
        return ""
    signed = Decimal(mantissa - (1 << 32)).scaleb(exponent)
    return (
        f"as a signed mantissa, which pika, py-amqp and pamqp (aiormq) write: {signed}"
    )


def _timestamp_note(seconds: int) -> str:
    note = f"{utc(seconds)} (UTC; the spec counts seconds)"
    if _SECONDS_32 < seconds <= _SECONDS_32 * 1000:
        milliseconds = utc(seconds // 1000, f".{seconds % 1000:03d}")
        note += (
            "; it looks like milliseconds, which pamqp (aiormq) assumes above "
            f"2^32: {milliseconds}"
        )
    return note


def utc(seconds: int, fraction: str = "") -> str:
    """A count of seconds since 1970 as an ISO 8601 UTC date, for any year.

    datetime stops at 9999; whole 400-year cycles (always 146097 days) are
    counted aside, so a 64-bit timestamp still gets its exact date.
    """
    days, second = divmod(seconds, 86400)
    cycles, days = divmod(days, _DAYS_IN_400_YEARS)
    moment = _EPOCH + datetime.timedelta(days=days, seconds=second)
    year = moment.year + 400 * cycles
    return f"{year:04d}-{moment:%m-%dT%H:%M:%S}{fraction}Z"
