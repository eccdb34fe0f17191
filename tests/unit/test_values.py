"""Field values as the spec reads them, and where pamqp's reading differs.

The explorer shows every value from the byte map (explorer.protocol.values).
pamqp, which the decoder uses, is an independent reading of the same bytes:
these tests hold the two side by side for every field of every frame (every
committed capture, generated field tables, generated content headers) and
allow only the differences the spec settles against pamqp.
"""

from __future__ import annotations

import datetime
import json
import math
import struct
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pamqp import base, body, commands, header

import explorer
from explorer.protocol import Direction, Frame, FrameDecoder
from explorer.protocol.fields import JSON, fields_of
from explorer.protocol.values import (
    FieldPath,
    Note,
    NoteKind,
    Values,
    frame_values,
    text_of,
    utc,
)
from explorer.recording.capture import load
from tests.conftest import (
    CAPTURE_FILES,
    MUTATED_STREAMS,
    entry,
    frame_of,
    longstr,
    start_with,
)

B2C = Direction.BROKER_TO_CLIENT
RECORDINGS = sorted((Path(explorer.__file__).parent / "recordings").glob("*.jsonl"))
ALL_CAPTURES = [*CAPTURE_FILES, *RECORDINGS]
PROPERTIES = commands.Basic.Properties
#: pamqp fails the whole frame on a timestamp past 9999-12-31 read as
#: milliseconds (datetime's "year is out of range"), so no Frame holds one.
PAMQP_LAST_TIMESTAMP = 253402300799999


# -- pamqp's reading against the explorer's ----------------------------------


def agrees(
    pamqp: object, spec: JSON, path: FieldPath, repeated: set[FieldPath]
) -> None:
    """pamqp's value and the spec's agree, but for the documented differences."""
    if isinstance(pamqp, dict):
        assert isinstance(spec, dict), path
        assert list(pamqp) == list(spec), path  # first-seen order in both
        for key, value in pamqp.items():
            if (*path, key) not in repeated:  # pamqp keeps the last, the spec the first
                agrees(value, spec[key], (*path, key), repeated)
    elif isinstance(pamqp, list):
        assert isinstance(spec, list), path
        assert len(pamqp) == len(spec), path
        for index, (value, shown) in enumerate(zip(pamqp, spec, strict=True)):
            agrees(value, shown, (*path, index), repeated)
    elif isinstance(pamqp, datetime.datetime):  # pamqp takes > 2^32 for milliseconds
        assert isinstance(spec, int), path
        guess = spec / 1000.0 if spec > 0xFFFFFFFF else spec
        assert pamqp == datetime.datetime.fromtimestamp(guess, tz=datetime.UTC), path
    elif isinstance(pamqp, Decimal):  # pamqp reads the mantissa signed
        assert isinstance(spec, str), path
        exponent = pamqp.as_tuple().exponent
        assert isinstance(exponent, int)
        unsigned = pamqp + Decimal(1 << 32).scaleb(exponent) if pamqp < 0 else pamqp
        assert Decimal(spec) == unsigned, path
    elif isinstance(pamqp, bool) or pamqp is None:
        assert spec is pamqp, path
    elif isinstance(pamqp, int):  # pamqp reads a longlong argument signed
        assert isinstance(spec, int), path
        assert spec == (pamqp + (1 << 64) if pamqp < 0 < spec else pamqp), path
    elif isinstance(pamqp, float):
        assert spec == (pamqp if math.isfinite(pamqp) else str(pamqp)), path
    elif isinstance(pamqp, bytes | bytearray):
        assert spec == text_of(pamqp), path
    else:
        assert spec == pamqp, path


def assert_agrees_with_pamqp(frame: Frame) -> Values:
    """Every field the explorer shows agrees with pamqp's payload."""
    values = frame_values(frame)
    json.dumps(values.fields, allow_nan=False)  # trace --json prints valid JSON
    repeated = {n.path for n in values.notes if n.kind is NoteKind.REPEATED_KEY}
    payload, fields = frame.payload, values.fields
    if isinstance(payload, base.Frame):
        assert list(fields) == [name for name, _ in payload]
        for name, value in payload:
            agrees(value, fields[name], (name,), repeated)
    elif isinstance(payload, header.ContentHeader):
        assert fields["body_size"] == payload.body_size
        shown = fields["properties"]
        assert isinstance(shown, dict)
        (flags,) = struct.unpack_from(">H", frame.raw, 19)  # Basic needs one word
        flagged = [n for n in PROPERTIES.__slots__ if flags & PROPERTIES.flags[n]]
        assert list(shown) == flagged  # pamqp fills defaults for the others
        defaults = PROPERTIES()
        for name, value in payload.properties:
            if name in shown:
                agrees(value, shown[name], ("properties", name), repeated)
            else:
                assert value == getattr(defaults, name), name
    elif isinstance(payload, body.ContentBody):
        data = payload.value or b""
        assert fields == {"size": len(data), "preview": text_of(data[:64])}
    elif isinstance(payload, header.ProtocolHeader):
        assert fields == {
            "protocol_id": frame.raw[4],
            "major": payload.major_version,
            "minor": payload.minor_version,
            "revision": payload.revision,
        }
    else:
        assert fields == {}
    return values


@pytest.mark.parametrize("path", ALL_CAPTURES, ids=[p.stem for p in ALL_CAPTURES])
def test_every_field_of_every_capture_agrees_with_pamqp(path: Path) -> None:
    capture = load(path)
    for direction in Direction:
        for item in capture.decode(direction):
            assert isinstance(item, Frame)
            assert_agrees_with_pamqp(item)


# -- the cases, one line each -----------------------------------------


def server_properties(frame: Frame) -> tuple[JSON, dict[FieldPath, tuple[str, str]]]:
    values = assert_agrees_with_pamqp(frame)
    notes = {n.path[1:]: (n.kind.value, n.text) for n in values.notes}
    return values.fields["server_properties"], notes


SIGNED = "as a signed mantissa, which pika, py-amqp and pamqp (aiormq) write: "
SECONDS = " (UTC; the spec counts seconds)"
MILLIS = "; it looks like milliseconds, which pamqp (aiormq) assumes above 2^32: "
FIRST = "; the spec says a peer uses only the first, as RabbitMQ does; pika and pamqp (aiormq) keep the last"  # noqa: E501
CASES: dict[str, tuple[bytes, JSON, dict[FieldPath, tuple[str, str]]]] = {
    "decimal, high bit set": (entry("d", bytes.fromhex("44 01 ff ff ff f1")), {"d": "429496728.1"}, {("d",): ("signed decimal", SIGNED + "-1.5")}),  # noqa: E501
    "decimal, positive": (entry("d", bytes.fromhex("44 02 00 00 04 d2")), {"d": "12.34"}, {}),  # noqa: E501
    "decimal, scale 0": (entry("d", bytes.fromhex("44 00 80 00 00 00")), {"d": "2147483648"}, {("d",): ("signed decimal", SIGNED + "-2147483648")}),  # noqa: E501
    "timestamp, seconds": (entry("t", b"T" + struct.pack(">Q", 1700000000)), {"t": 1700000000}, {("t",): ("timestamp", "2023-11-14T22:13:20Z" + SECONDS)}),  # noqa: E501
    "timestamp, 2^32 - 1": (entry("t", b"T" + struct.pack(">Q", 2**32 - 1)), {"t": 2**32 - 1}, {("t",): ("timestamp", "2106-02-07T06:28:15Z" + SECONDS)}),  # noqa: E501
    "timestamp, milliseconds": (entry("t", b"T" + struct.pack(">Q", 1700000000123)), {"t": 1700000000123}, {("t",): ("timestamp", "55840-11-08T22:15:23Z" + SECONDS + MILLIS + "2023-11-14T22:13:20.123Z")}),  # noqa: E501
    "repeated key": (entry("k", b"S" + longstr(b"all")) + entry("k", b"S" + longstr(b"any")), {"k": "all"}, {("k",): ("repeated key", 'sent 2 times: "all", then "any"' + FIRST)}),  # noqa: E501
    "repeated key, signed decimal": (entry("k", b"V") + entry("k", bytes.fromhex("44 01 ff ff ff f1")), {"k": None}, {("k",): ("repeated key", f'sent 2 times: null, then "429496728.1" ({SIGNED}-1.5)' + FIRST)}),  # noqa: E501
    "array of decimals": (entry("a", b"A" + longstr(bytes.fromhex("44 02 ff ff ff ff") + b"V")), {"a": ["42949672.95", None]}, {("a", 0): ("signed decimal", SIGNED + "-0.01")}),  # noqa: E501
}  # fmt: skip


@pytest.mark.parametrize(("table", "shown", "notes"), CASES.values(), ids=CASES.keys())
def test_table_values_as_the_spec_reads_them(
    table: bytes, shown: JSON, notes: dict[FieldPath, tuple[str, str]]
) -> None:
    assert server_properties(start_with(longstr(table))) == (shown, notes)


def test_properties_are_exactly_those_whose_flag_bits_are_set() -> None:
    # delivery_mode only: pamqp also fills cluster_id="", a property never sent.
    frame = frame_of(2, 1, struct.pack(">HHQH", 60, 0, 5, 0x1000) + b"\x02")
    assert isinstance(frame.payload, header.ContentHeader)
    assert frame.payload.properties.cluster_id == ""
    assert fields_of(frame) == {"body_size": 5, "properties": {"delivery_mode": 2}}
    assert_agrees_with_pamqp(frame)


def test_a_timestamp_property_gets_its_date() -> None:
    frame = frame_of(2, 1, struct.pack(">HHQHQ", 60, 0, 0, 0x0040, 1700000000))
    values = assert_agrees_with_pamqp(frame)
    assert values.fields["properties"] == {"timestamp": 1700000000}
    date = "2023-11-14T22:13:20Z" + SECONDS
    assert values.notes == (
        Note(("properties", "timestamp"), NoteKind.TIMESTAMP, date),
    )


def test_a_longlong_argument_is_unsigned() -> None:
    ack = struct.pack(">HHQB", 60, 80, 2**63 + 1, 0)
    frame = frame_of(1, 1, ack)
    assert isinstance(frame.payload, commands.Basic.Ack)
    assert frame.payload.delivery_tag == -(2**63) + 1
    assert fields_of(frame) == {"delivery_tag": 2**63 + 1, "multiple": False}


def test_malformed_bytes_are_noted_not_guessed() -> None:
    # Channel.Open followed by two bytes no argument claims (pamqp ignores them).
    frame = frame_of(1, 1, bytes.fromhex("0014 000a 00 ffff"))
    values = frame_values(frame)
    assert values.fields == {"out_of_band": ""}
    assert values.notes == (
        Note((), NoteKind.MALFORMED, "2 bytes after the last field belong to no field"),
    )


def test_bytes_a_table_does_not_hold_are_noted_not_guessed() -> None:
    # The string claims 9 bytes, the table ends after 3: pamqp reads past it.
    start = start_with(longstr(entry("k", b"S" + struct.pack(">I", 9) + b"abc")))
    values = frame_values(start)
    assert not values.fields["server_properties"]  # no entry made up
    (note,) = values.notes
    assert (note.path, note.kind) == (("server_properties",), NoteKind.MALFORMED)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(MUTATED_STREAMS)
def test_values_of_mutated_captures_never_raise(data: bytes) -> None:
    for item in FrameDecoder(B2C).feed(data):
        if isinstance(item, Frame):
            json.dumps(frame_values(item).fields, allow_nan=False)


@given(st.integers(0, 253402300799))
def test_dates_agree_with_datetime_where_it_reaches(seconds: int) -> None:
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)
    assert utc(seconds) == moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@given(st.integers(0, 2**64 - 1), st.integers(1, 10**6))
def test_dates_past_9999_keep_the_calendar(seconds: int, cycles: int) -> None:
    later = utc(seconds + cycles * 146097 * 86400)  # 400 Gregorian years
    year, rest = utc(seconds).split("-", 1)
    assert later == f"{int(year) + 400 * cycles:04d}-{rest}"


# -- generated field tables and content headers -------------------------------


@dataclass(frozen=True)
class Wire:
    """A generated value: its bytes (type tag first) and how the spec reads them."""

    data: bytes
    spec: JSON
    #: The notes expected beside it, by path below the value and kind.
    notes: tuple[tuple[FieldPath, NoteKind], ...] = ()

    def under(self, step: str | int) -> tuple[tuple[FieldPath, NoteKind], ...]:
        return tuple(((step, *path), kind) for path, kind in self.notes)


def fixed(
    tag: bytes, layout: str, values: st.SearchStrategy[int]
) -> st.SearchStrategy[Wire]:
    return values.map(lambda v: Wire(tag + struct.pack(layout, v), v))


def decimal_wire(scale: int, mantissa: int) -> Wire:
    notes = (((), NoteKind.SIGNED_DECIMAL),) if mantissa >= 1 << 31 else ()
    spec = str(Decimal(mantissa).scaleb(-scale))  # mantissa / 10^scale, unsigned
    return Wire(b"D" + struct.pack(">BI", scale, mantissa), spec, notes)


def float_wire(tag: bytes, layout: str, value: float) -> Wire:
    shown = value if math.isfinite(value) else str(value)
    return Wire(tag + struct.pack(layout, value), shown)


def table_wire(entries: list[tuple[str, Wire]]) -> Wire:
    """A table: the first entry of a key is its value, later ones a note."""
    spec: dict[str, JSON] = {}
    notes: list[tuple[FieldPath, NoteKind]] = []
    repeated: list[str] = []
    for key, wire in entries:
        if key in spec:
            if key not in repeated:
                repeated.append(key)
            continue
        spec[key] = wire.spec
        notes += wire.under(key)
    notes += [((key,), NoteKind.REPEATED_KEY) for key in repeated]
    data = longstr(b"".join(entry(key, wire.data) for key, wire in entries))
    return Wire(b"F" + data, spec, tuple(notes))


def timestamp_wire(seconds: int) -> Wire:
    return Wire(b"T" + struct.pack(">Q", seconds), seconds, (((), NoteKind.TIMESTAMP),))


def untagged(wire: Wire) -> Wire:
    """The value as a property or argument holds it: without the type tag."""
    return Wire(wire.data[1:], wire.spec, wire.notes)


def array_wire(items: list[Wire]) -> Wire:
    notes = tuple(
        note for index, item in enumerate(items) for note in item.under(index)
    )
    data = b"A" + longstr(b"".join(item.data for item in items))
    return Wire(data, [item.spec for item in items], notes)


SHORT_TEXT = st.text(max_size=20).filter(lambda t: len(t.encode()) <= 255)
#: Keys from a small set as well, so that keys repeat.
KEYS = st.one_of(st.sampled_from(["a", "x-match", ""]), SHORT_TEXT)
TIMESTAMPS = st.one_of(
    st.integers(0, 2**32 - 1),
    st.integers(2**32, 2**32 * 1000),  # looks like milliseconds
    st.integers(0, PAMQP_LAST_TIMESTAMP),
)
#: Every type tag RabbitMQ's parser knows (rabbit_binary_parser): the 0-9-1
#: spec's, as its errata has them, and the Qpid extensions.
SCALARS = st.one_of(
    st.integers(0, 255).map(lambda v: Wire(b"t" + bytes([v]), v != 0)),
    fixed(b"b", ">b", st.integers(-(2**7), 2**7 - 1)),
    fixed(b"B", ">B", st.integers(0, 2**8 - 1)),
    fixed(b"s", ">h", st.integers(-(2**15), 2**15 - 1)),
    fixed(b"u", ">H", st.integers(0, 2**16 - 1)),
    fixed(b"I", ">i", st.integers(-(2**31), 2**31 - 1)),
    fixed(b"i", ">I", st.integers(0, 2**32 - 1)),
    fixed(b"l", ">q", st.integers(-(2**63), 2**63 - 1)),
    fixed(b"L", ">q", st.integers(-(2**63), 2**63 - 1)),
    st.floats(width=32, allow_nan=False).map(lambda v: float_wire(b"f", ">f", v)),
    st.floats(allow_nan=False).map(lambda v: float_wire(b"d", ">d", v)),
    st.builds(
        decimal_wire,
        st.integers(0, 255),
        st.one_of(st.integers(0, 2**31 - 1), st.integers(2**31, 2**32 - 1)),
    ),
    TIMESTAMPS.map(timestamp_wire),
    st.text().map(lambda v: Wire(b"S" + longstr(v.encode()), v)),
    st.binary().map(lambda v: Wire(b"S" + longstr(v), text_of(v))),
    st.binary().map(lambda v: Wire(b"x" + longstr(v), text_of(v))),
    st.just(Wire(b"V", None)),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5).map(array_wire),
        st.lists(st.tuples(KEYS, inner), max_size=5).map(table_wire),
    ),
    max_leaves=25,
)
TABLES = st.lists(st.tuples(KEYS, VALUES), max_size=8)


def shown_notes(values: Values) -> Counter[tuple[FieldPath, NoteKind]]:
    return Counter((note.path, note.kind) for note in values.notes)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(TABLES)
def test_generated_tables_read_as_the_spec_says(
    entries: list[tuple[str, Wire]],
) -> None:
    table = table_wire(entries)
    frame = start_with(untagged(table).data)
    values = assert_agrees_with_pamqp(frame)
    assert values.fields["server_properties"] == table.spec
    assert shown_notes(values) == Counter(table.under("server_properties"))


PROPERTY_VALUES: dict[str, st.SearchStrategy[Wire]] = {
    "shortstr": SHORT_TEXT.map(
        lambda v: Wire(bytes([len(v.encode())]) + v.encode(), v)
    ),
    "octet": fixed(b"", ">B", st.integers(0, 255)),
    "timestamp": TIMESTAMPS.map(lambda v: untagged(timestamp_wire(v))),
    "table": TABLES.map(lambda entries: untagged(table_wire(entries))),
}


@st.composite
def properties(draw: st.DrawFn) -> dict[str, Wire]:
    """Some of Basic's properties, in flag order, with values of their types."""
    present = draw(st.sets(st.sampled_from(PROPERTIES.__slots__)))
    return {
        name: draw(PROPERTY_VALUES[PROPERTIES.amqp_type(name)])
        for name in PROPERTIES.__slots__
        if name in present
    }


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(properties(), st.integers(0, 2**64 - 1))
def test_generated_content_headers_show_exactly_their_flagged_properties(
    sent: dict[str, Wire], body_size: int
) -> None:
    flags = sum(PROPERTIES.flags[name] for name in sent)
    data = b"".join(wire.data for wire in sent.values())
    frame = frame_of(2, 1, struct.pack(">HHQH", 60, 0, body_size, flags) + data)
    values = assert_agrees_with_pamqp(frame)
    assert values.fields == {
        "body_size": body_size,
        "properties": {name: wire.spec for name, wire in sent.items()},
    }
    expected = [
        (("properties", *path), kind)
        for name, wire in sent.items()
        for path, kind in wire.under(name)
    ]
    assert shown_notes(values) == Counter(expected)
