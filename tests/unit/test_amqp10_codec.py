"""The type system, checked against someone else's encoder: Qpid Proton's.

Hypothesis makes AMQP 1.0 values (every fixed-width type, binary, string,
symbol, list, map, array, described values, nested); Proton's codec
(`proton.Data`) encodes them; the reader must give back the same values and
types, with a byte map covering every byte once. Then whole performatives and
messages Proton encodes, inside frames, through the decoder.
"""

from __future__ import annotations

import string
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from explorer.protocol.amqp10.frames import Body
from explorer.protocol.amqp10.reader import Reader
from explorer.protocol.amqp10.values import Array, Described, Symbol
from tests.unit.test_amqp10_support import (
    assert_exact,
    assert_exact_cover,
    described,
    encoded,
    frame,
    only,
    proton,
)

#: (what Proton is given, what the reader must give back, the AMQP type).
Case = tuple[Any, object, str]
Data = proton.Data

TEXT = st.text(st.characters(codec="utf-8"), max_size=300)
SYMBOLS = st.text(string.printable, max_size=300)
INT64 = st.integers(-(2**63), 2**63 - 1)


def typed(
    make: Any, type_: str, values: st.SearchStrategy[Any]
) -> st.SearchStrategy[Case]:
    """Values given to Proton as `make(value)`, read back as the value."""
    return values.map(lambda v: (make(v), v, type_))


def same(type_: str, values: st.SearchStrategy[Any]) -> st.SearchStrategy[Case]:
    return values.map(lambda v: (v, v, type_))


#: Each scalar type: its Proton array element type, and a strategy for it.
SCALARS: dict[str, tuple[int, st.SearchStrategy[Case]]] = {
    "null": (Data.NULL, st.just((None, None, "null"))),
    "boolean": (Data.BOOL, same("boolean", st.booleans())),
    "ubyte": (Data.UBYTE, typed(proton.ubyte, "ubyte", st.integers(0, 2**8 - 1))),
    "ushort": (Data.USHORT, typed(proton.ushort, "ushort", st.integers(0, 2**16 - 1))),
    "uint": (Data.UINT, typed(proton.uint, "uint", st.integers(0, 2**32 - 1))),
    "ulong": (Data.ULONG, typed(proton.ulong, "ulong", st.integers(0, 2**64 - 1))),
    "byte": (Data.BYTE, typed(proton.byte, "byte", st.integers(-(2**7), 2**7 - 1))),
    "short": (
        Data.SHORT,
        typed(proton.short, "short", st.integers(-(2**15), 2**15 - 1)),
    ),
    "int": (Data.INT, typed(proton.int32, "int", st.integers(-(2**31), 2**31 - 1))),
    "long": (Data.LONG, same("long", INT64)),
    "float": (
        Data.FLOAT,
        typed(proton.float32, "float", st.floats(width=32, allow_nan=False)),
    ),
    "double": (Data.DOUBLE, same("double", st.floats(allow_nan=False))),
    "decimal32": (
        Data.DECIMAL32,
        typed(proton.decimal32, "decimal32", st.integers(0, 2**32 - 1)),
    ),
    "decimal64": (
        Data.DECIMAL64,
        typed(proton.decimal64, "decimal64", st.integers(0, 2**64 - 1)),
    ),
    "decimal128": (
        Data.DECIMAL128,
        st.binary(min_size=16, max_size=16).map(
            lambda b: (proton.decimal128(b), int.from_bytes(b, "big"), "decimal128")
        ),
    ),
    "char": (Data.CHAR, typed(proton.char, "char", st.characters(codec="utf-8"))),
    "timestamp": (Data.TIMESTAMP, typed(proton.timestamp, "timestamp", INT64)),
    "uuid": (Data.UUID, same("uuid", st.uuids())),
    "binary": (Data.BINARY, same("binary", st.binary(max_size=300))),
    "string": (Data.STRING, same("string", TEXT)),
    "symbol": (
        Data.SYMBOL,
        SYMBOLS.map(lambda s: (proton.symbol(s), Symbol(s), "symbol")),
    ),
}
SCALAR = st.one_of(*(strategy for _, strategy in SCALARS.values()))
#: Descriptors the spec does not define (those it does are tested with
#: their own fields below): large codes, and symbols outside amqp:.
DESCRIPTORS = st.one_of(
    st.integers(0x1000, 2**64 - 1).map(lambda c: (proton.ulong(c), c)),
    st.text(string.ascii_letters + ":-", min_size=1, max_size=40).map(
        lambda s: (proton.symbol(f"x-{s}"), Symbol(f"x-{s}"))
    ),
)


def lists(children: st.SearchStrategy[Case]) -> st.SearchStrategy[Case]:
    return st.lists(children, max_size=6).map(
        lambda cs: ([c[0] for c in cs], [c[1] for c in cs], "list")
    )


def maps(children: st.SearchStrategy[Case]) -> st.SearchStrategy[Case]:
    # Keys equal in Python (1, True, 1.0, ubyte(1)) are one key to a dict.
    entries = st.lists(
        st.tuples(SCALAR, children), max_size=5, unique_by=lambda e: e[0][1]
    )
    return entries.map(
        lambda es: ({k[0]: v[0] for k, v in es}, {k[1]: v[1] for k, v in es}, "map")
    )


def describeds(children: st.SearchStrategy[Case]) -> st.SearchStrategy[Case]:
    return st.tuples(DESCRIPTORS, children).map(
        lambda dv: (
            proton.Described(dv[0][0], dv[1][0]),
            Described(dv[0][1], dv[1][1]),
            "described",
        )
    )


@st.composite
def arrays(draw: st.DrawFn) -> Case:
    """An array of one scalar type, described or not."""
    name = draw(st.sampled_from(sorted(SCALARS)))
    element, strategy = SCALARS[name]
    items = draw(st.lists(strategy, max_size=8))
    descriptor = draw(st.none() | DESCRIPTORS)
    given_descriptor = proton.UNDESCRIBED if descriptor is None else descriptor[0]
    expected = None if descriptor is None else descriptor[1]
    made = proton.Array(given_descriptor, element, *(i[0] for i in items))
    return made, Array(name, tuple(i[1] for i in items), expected), "array"


@st.composite
def list_arrays(draw: st.DrawFn, children: st.SearchStrategy[Case]) -> Case:
    """An array whose items are lists (each with its own elements' constructors)."""
    items = draw(st.lists(lists(children), max_size=4))
    made = proton.Array(proton.UNDESCRIBED, Data.LIST, *(i[0] for i in items))
    return made, Array("list", tuple(i[1] for i in items)), "array"


VALUES = st.recursive(
    SCALAR | arrays(),
    lambda children: st.one_of(
        lists(children), maps(children), describeds(children), list_arrays(children)
    ),
    max_leaves=24,
)


# Hypothesis warns that the recursive strategy's repr is large: it is.
@pytest.mark.filterwarnings("ignore:Generating overly large repr")
@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(VALUES)
def test_values_proton_encodes_read_back_the_same(case: Case) -> None:
    given_, expected, type_ = case
    data = encoded(given_)
    node = Reader(data, len(data)).value(0, "value")
    assert node.end == len(data)
    assert node.value == expected
    assert node.type == type_
    assert_exact_cover(node)


@settings(max_examples=200)
@given(st.sampled_from(sorted(SCALARS)).flatmap(lambda n: SCALARS[n][1]))
def test_every_scalar_type_keeps_its_type(case: Case) -> None:
    given_, expected, type_ = case
    data = encoded(given_)
    node = Reader(data, len(data)).value(0, "value")
    assert (node.type, node.value) == (type_, expected)
    constructor = node.children[0]
    assert constructor.name == "constructor"
    assert constructor.value == data[0]


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    container=TEXT,
    hostname=st.none() | TEXT,
    max_frame=st.integers(512, 2**32 - 1),
    channel_max=st.integers(0, 2**16 - 1),
    idle=st.none() | st.integers(0, 2**32 - 1),
    properties=st.dictionaries(SYMBOLS, SCALAR, max_size=5),
    channel=st.integers(0, 2**16 - 1),
    extended=st.binary(max_size=3).map(lambda b: b * 4),
)
def test_an_open_proton_encodes_decodes_to_its_fields(
    container: str,
    hostname: str | None,
    max_frame: int,
    channel_max: int,
    idle: int | None,
    properties: dict[str, Case],
    channel: int,
    extended: bytes,
) -> None:
    body = described(
        0x10, container, hostname, proton.uint(max_frame), proton.ushort(channel_max),
        None if idle is None else proton.uint(idle), None, None, None, None,
        {proton.symbol(k): v[0] for k, v in properties.items()},
    )  # fmt: skip
    item = only(frame(body, 0, channel, extended))
    assert (item.name, item.channel) == ("open", channel)
    assert isinstance(item.payload, Body)
    fields = item.payload.fields
    assert fields["container-id"] == container
    assert fields["hostname"] == hostname
    assert (fields["max-frame-size"], fields["channel-max"]) == (max_frame, channel_max)
    assert fields["idle-time-out"] == idle
    assert fields["properties"] == {Symbol(k): v[1] for k, v in properties.items()}
    root = assert_exact(item)
    if extended:
        assert root.children[4].name == "extended header"


MESSAGES = st.fixed_dictionaries(
    {
        "body": st.one_of(TEXT, st.binary(max_size=200), st.lists(st.integers(-5, 5))),
        # Proton's C engine takes a subject as a C string: it ends at a NUL.
        "subject": st.none()
        | st.text(st.characters(codec="utf-8", exclude_characters="\0")),
        "id": st.none() | st.uuids() | st.integers(0, 2**63),
        "durable": st.booleans(),
        "priority": st.integers(0, 9),
        "properties": st.dictionaries(
            st.text(string.ascii_letters, min_size=1, max_size=8),
            st.integers(-9, 9),
            max_size=4,
        ),
    }
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(MESSAGES, st.integers(0, 2**32 - 1), st.binary(min_size=1, max_size=32))
def test_a_message_proton_encodes_comes_out_of_its_transfer(
    parts: dict[str, Any], delivery: int, tag: bytes
) -> None:
    message = proton.Message(**{k: v for k, v in parts.items() if k != "id"})
    if parts["id"] is not None:
        message.id = parts["id"]
    payload = bytes(message.encode())
    transfer = described(
        0x14, proton.uint(0), proton.uint(delivery), tag, proton.uint(0)
    )
    item = only(frame(transfer + payload, 0, 1))
    body = item.payload
    assert isinstance(body, Body)
    assert body.payload == payload
    assert body.fields["delivery-tag"] == tag
    assert body.message is not None
    sections = {s.name: s for s in body.message}
    assert sections["amqp-value"].value == parts["body"]
    if parts["properties"]:
        assert sections["application-properties"].value == parts["properties"]
    header = sections["header"].fields
    assert bool(header["durable"]) is parts["durable"]
    assert header["priority"] in (
        parts["priority"],
        None,
    )  # 4, the default, is left out
    if parts["id"] is not None:
        assert sections["properties"].fields["message-id"] == parts["id"]
    if parts["subject"] is not None:
        assert sections["properties"].fields["subject"] == parts["subject"]
    assert_exact(item)
