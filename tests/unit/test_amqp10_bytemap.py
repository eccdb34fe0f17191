"""The AMQP 1.0 byte map, span by span: frame header to the type system's leaves."""

from __future__ import annotations

import ast
from pathlib import Path

from explorer.protocol.amqp10.bytemap import byte_map
from explorer.protocol.amqp10.frames import Body, FrameType
from explorer.protocol.amqp10.values import Array, Described, Symbol
from explorer.protocol.bytefield import FieldKind
from explorer.protocol.frames import B2C, Frame
from tests.unit.test_amqp10_support import (
    AMQP_HEADER,
    assert_exact,
    described,
    encoded,
    find,
    frame,
    only,
    proton,
)

TAG, LENGTH, VALUE = FieldKind.TAG, FieldKind.LENGTH, FieldKind.VALUE


def leaves(item: Frame) -> list[tuple[str, int, int, FieldKind, object]]:
    return [
        (f.name, f.offset, f.length, f.kind, f.value) for f in byte_map(item).leaves()
    ]


def test_an_open_down_to_each_leaf() -> None:
    body = (
        b"\x00\x53\x10"
        + b"\xc0\x08\x03"
        + b"\xa1\x02me"
        + b"\x40"
        + b"\x70\x00\x00\x80\x00"
    )
    body = body[:4] + bytes([len(body) - 5]) + body[5:]
    item = only(frame(body, 0, 5))
    assert item.channel == 5
    assert leaves(item) == [
        ("size", 0, 4, FieldKind.FRAMING, 8 + len(body)),
        ("doff", 4, 1, FieldKind.FRAMING, 2),
        ("frame type", 5, 1, FieldKind.FRAMING, 0),
        ("channel", 6, 2, FieldKind.FRAMING, 5),
        ("constructor", 8, 1, TAG, 0x00),
        ("constructor", 9, 1, TAG, 0x53),
        ("value", 10, 1, FieldKind.METHOD, 0x10),
        ("constructor", 11, 1, TAG, 0xC0),
        ("size", 12, 1, LENGTH, len(body) - 5),
        ("count", 13, 1, LENGTH, 3),
        ("constructor", 14, 1, TAG, 0xA1),
        ("size", 15, 1, LENGTH, 2),
        ("value", 16, 2, VALUE, "me"),
        ("constructor", 18, 1, TAG, 0x40),
        ("constructor", 19, 1, TAG, 0x70),
        ("value", 20, 4, VALUE, 32768),
    ]
    root = assert_exact(item)
    performative = find(root, "performative")
    assert (performative.type, performative.value) == (
        "open",
        Described(0x10, ["me", None, 32768]),
    )
    fields = find(performative, "fields")
    assert [(c.name, c.type) for c in fields.children[3:]] == [
        ("container-id", "string"), ("hostname", "null"), ("max-frame-size", "uint"),
    ]  # fmt: skip
    constructors = [c.type for c in root.leaves() if c.kind is TAG]
    assert constructors == [
        "described",
        "smallulong",
        "list8",
        "str8-utf8",
        "null",
        "uint",
    ]


def test_sasl_mechanisms_array_shares_one_constructor() -> None:
    mechanisms = proton.Array(
        proton.UNDESCRIBED,
        proton.Data.SYMBOL,
        proton.symbol("PLAIN"),
        proton.symbol("ANONYMOUS"),
    )
    item = only(frame(described(0x40, mechanisms), 1), B2C)
    assert item.name == "sasl-mechanisms"
    assert isinstance(item.payload, Body)
    assert item.payload.frame_type is FrameType.SASL
    assert item.payload.fields == {
        "sasl-server-mechanisms": Array(
            "symbol", (Symbol("PLAIN"), Symbol("ANONYMOUS"))
        )
    }
    root = assert_exact(item)
    array = find(root, "performative", "fields", "sasl-server-mechanisms")
    assert [(c.name, c.kind) for c in array.children] == [
        ("constructor", TAG), ("size", LENGTH), ("count", LENGTH),
        ("element constructor", TAG), ("[0]", FieldKind.GROUP),
        ("[1]", FieldKind.GROUP),
    ]  # fmt: skip
    first = find(array, "[0]")
    assert [(c.name, c.value) for c in first.children] == [
        ("size", 5),
        ("value", "PLAIN"),
    ]


def test_map_keys_are_keys_and_data_is_body() -> None:
    properties = encoded(
        proton.Described(proton.ulong(0x74), {"colour": "blue", proton.symbol("n"): 1})
    )
    data = encoded(proton.Described(proton.ulong(0x75), b"\x01\x02\x03"))
    transfer = described(0x14, proton.uint(0), proton.uint(0), b"t")
    item = only(frame(transfer + properties + data))
    assert isinstance(item.payload, Body)
    assert item.payload.message == (
        Described(0x74, {"colour": "blue", Symbol("n"): 1}),
        Described(0x75, b"\x01\x02\x03"),
    )
    root = assert_exact(item)
    entry = find(root, "message", "application-properties", "value", "colour")
    assert [(f.name, f.kind, f.value) for f in entry.leaves()] == [
        ("constructor", TAG, 0xA1), ("size", LENGTH, 6),
        ("value", FieldKind.KEY, "colour"), ("constructor", TAG, 0xA1),
        ("size", LENGTH, 4), ("value", VALUE, "blue"),
    ]  # fmt: skip
    body = find(root, "message", "data", "value", "value")
    assert (body.kind, body.value) == (FieldKind.BODY, b"\x01\x02\x03")


def test_a_described_array_has_one_descriptor_for_its_items() -> None:
    outcomes = proton.Array(proton.ulong(0x24), proton.Data.LIST, [], [])
    data = encoded(outcomes)
    item = only(
        frame(described(0x10, "c", None, None, None, None, None, None, outcomes))
    )
    root = assert_exact(item)
    array = find(root, "performative", "fields", "offered-capabilities")
    assert array.value == Array("list", ([], []), 0x24)
    constructor = find(array, "element constructor")
    assert [(c.name, c.value) for c in constructor.leaves()] == [
        ("constructor", 0x00), ("constructor", 0x53), ("value", 0x24),
        ("constructor", 0xD0),
    ]  # fmt: skip
    assert data in item.raw


def test_headers_heartbeats_and_extended_headers() -> None:
    header = only(AMQP_HEADER)
    assert leaves(header) == [
        ("protocol name", 0, 4, FieldKind.FRAMING, "AMQP"),
        ("protocol id", 4, 1, VALUE, 0),
        ("major version", 5, 1, VALUE, 1),
        ("minor version", 6, 1, VALUE, 0),
        ("revision", 7, 1, VALUE, 0),
    ]
    beat = only(frame(b"", extended=b"\xab" * 4))
    assert beat.name == "heartbeat"
    assert [leaf[0] for leaf in leaves(beat)] == [
        "size", "doff", "frame type", "channel", "extended header",
    ]  # fmt: skip
    assert_exact(beat)


def test_a_frame_the_decoder_did_not_make_maps_its_bad_body_as_malformed() -> None:
    good = only(frame(described(0x17)))
    bad = good._replace(raw=good.raw[:8] + b"\x45" + good.raw[9:])
    root = byte_map(bad)
    assert [(c.name, c.kind) for c in root.children[4:]] == [
        ("body", FieldKind.MALFORMED)
    ]
    assert "starts with 0x45" in str(root.children[-1].value)


def test_the_amqp10_core_imports_no_io_and_no_proton() -> None:
    """Sans-I/O, like the 0-9-1 core: Proton is for the tests only."""
    forbidden = {
        "asyncio",
        "socket",
        "ssl",
        "selectors",
        "aiormq",
        "proton",
        "textual",
        "rich",
    }
    package = Path(__file__).resolve().parents[2] / "explorer" / "protocol" / "amqp10"
    for module in package.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in forbidden, (module.name, name)
                if name.startswith("explorer."):
                    assert name.startswith("explorer.protocol"), (module.name, name)
