"""The byte map: every byte of every frame belongs to exactly one field."""

from __future__ import annotations

import decimal
import struct
from collections.abc import Callable

import pytest
from pamqp import base, commands, constants, header
from pamqp import frame as pamqp_frame

from explorer.protocol import ByteField, FieldKind, Frame, FrameDecoder, byte_map
from explorer.protocol.frames import Direction
from explorer.protocol.walker import Walker
from explorer.recording.capture import Capture

B2C = Direction.BROKER_TO_CLIENT


def decode_one(raw: bytes) -> Frame:
    (frame,) = FrameDecoder(B2C).feed(raw)
    assert isinstance(frame, Frame)
    return frame


def assert_exact_cover(node: ByteField) -> None:
    """Children tile their parent with no gap or overlap, all the way down."""
    if not node.children:
        return
    position = node.offset
    for child in node.children:
        assert child.offset == position, (node.name, child.name)
        position = child.end
        assert_exact_cover(child)
    assert position == node.end, node.name


def leaf_names(frame: Frame) -> list[tuple[str, int, int, object]]:
    return [(f.name, f.offset, f.length, f.value) for f in byte_map(frame).leaves()]


def test_every_frame_of_every_capture_is_covered_exactly_once(
    capture: Capture, direction: Direction
) -> None:
    for item in capture.decode(direction):
        assert isinstance(item, Frame)
        root = byte_map(item)
        assert (root.offset, root.length, root.name) == (0, item.size, item.name)
        assert_exact_cover(root)
        covered = [0] * item.size
        for leaf in root.leaves():
            assert leaf.kind is not FieldKind.GROUP
            assert leaf.kind is not FieldKind.MALFORMED, (item.name, leaf.name)
            for i in range(leaf.offset, leaf.end):
                covered[i] += 1
        assert set(covered) == {1}, item.name


def test_tune_fields_sit_at_their_offsets() -> None:
    raw = bytes.fromhex("0100000000000c000a001e07ff00020000003cce")
    assert leaf_names(decode_one(raw)) == [
        ("frame type", 0, 1, 1),
        ("channel", 1, 2, 0),
        ("size", 3, 4, 12),
        ("class id", 7, 2, 10),
        ("method id", 9, 2, 30),
        ("channel_max", 11, 2, 2047),
        ("frame_max", 13, 4, 131072),
        ("heartbeat", 17, 2, 60),
        ("frame end", 19, 1, 0xCE),
    ]


def test_protocol_header_fields() -> None:
    (frame,) = FrameDecoder(B2C).feed(b"AMQP\x03\x01\x00\x00")
    assert isinstance(frame, Frame)
    assert leaf_names(frame) == [
        ("protocol name", 0, 4, "AMQP"),
        ("protocol id", 4, 1, 3),
        ("major version", 5, 1, 1),
        ("minor version", 6, 1, 0),
        ("revision", 7, 1, 0),
    ]


def test_table_entries_split_into_key_tag_and_value() -> None:
    start = commands.Connection.Start(
        server_properties={"capabilities": {"basic.nack": True}, "product": "RabbitMQ"}
    )
    root = byte_map(decode_one(pamqp_frame.marshal(start, 0)))
    table = next(c for c in root.children if c.name == "server_properties")
    assert table.type == "table"
    assert [c.name for c in table.children] == ["length", "capabilities", "product"]
    product = table.children[2]
    assert [(c.name, c.kind, c.value) for c in product.children] == [
        ("key length", FieldKind.LENGTH, 7),
        ("key", FieldKind.KEY, "product"),
        ("type tag", FieldKind.TAG, "S"),
        ("value", FieldKind.GROUP, None),
    ]
    assert [leaf.value for leaf in product.children[3].leaves()] == [8, "RabbitMQ"]
    nested = table.children[1].children[3]
    assert nested.type == "table"
    assert [leaf.value for leaf in nested.leaves()] == [13, 10, "basic.nack", "t", True]


def test_packed_bits_name_each_bit() -> None:
    consume = commands.Basic.Consume(queue="q", no_ack=True, exclusive=True)
    root = byte_map(decode_one(pamqp_frame.marshal(consume, 1)))
    (bits,) = [c for c in root.children if c.kind is FieldKind.BITS]
    assert bits.length == 1
    assert bits.bits == (
        ("no_local", False),
        ("no_ack", True),
        ("exclusive", True),
        ("nowait", False),
    )


def test_content_header_flags_and_properties() -> None:
    properties = commands.Basic.Properties(
        content_type="text/plain", delivery_mode=2, headers={"x": 1}
    )
    raw = pamqp_frame.marshal(header.ContentHeader(0, 42, properties), 1)
    root = byte_map(decode_one(raw))
    names = [c.name for c in root.children]
    assert names == [
        "frame type", "channel", "size", "class id", "weight", "body size",
        "property flags", "content_type", "headers", "delivery_mode", "frame end",
    ]  # fmt: skip
    flags = root.children[6]
    present = [name for name, on in flags.bits if on]
    assert present == ["content_type", "headers", "delivery_mode"]
    assert root.children[5].value == 42


def test_body_bytes_are_one_field() -> None:
    raw = b"\x03\x00\x01\x00\x00\x00\x05hello\xce"
    assert leaf_names(decode_one(raw))[3] == ("body", 7, 5, b"hello")


def test_path_to_a_byte_names_its_field_chain() -> None:
    start = commands.Connection.Start(server_properties={"product": "RabbitMQ"})
    root = byte_map(decode_one(pamqp_frame.marshal(start, 0)))
    table = next(c for c in root.children if c.name == "server_properties")
    text_offset = table.end - 1  # last byte of "RabbitMQ"
    assert [f.name for f in root.path_to(text_offset)] == [
        "Connection.Start", "server_properties", "product", "value", "text",
    ]  # fmt: skip
    assert root.path_to(len(root.children) + 10_000) == []


# pamqp accepts these frames; the byte map says what is wrong with them.
LENIENT = {
    # Basic.Deliver whose routing key claims 10 bytes but only 3 follow.
    "string runs past the frame": (
        "01 0001 00000015 003c 003c 01 63 0000000000000001 00 01 65 0a 616263 ce",
        "routing_key",
        "routing_key text needs 10 bytes, 3 remain in the frame",
    ),
    # Channel.Open followed by two bytes no argument claims.
    "trailing bytes": (
        "01 0001 00000007 0014 000a 00 ffff ce",
        "trailing bytes",
        "2 bytes after the last field belong to no field",
    ),
}


@pytest.mark.parametrize(
    ("hexdump", "name", "reason"), LENIENT.values(), ids=LENIENT.keys()
)
def test_what_pamqp_tolerates_is_marked_malformed(
    hexdump: str, name: str, reason: str
) -> None:
    frame = decode_one(bytes.fromhex(hexdump.replace(" ", "")))
    root = byte_map(frame)
    assert_exact_cover(root)
    bad = [leaf for leaf in root.leaves() if leaf.kind is FieldKind.MALFORMED]
    assert [(b.name, b.value) for b in bad] == [(name, reason)]
    assert root.children[-1].name == "frame end"


SAMPLES: dict[str, object] = {
    "bit": True,
    "octet": 7,
    "short": 258,
    "long": 65539,
    "longlong": 2**40 + 5,
    "shortstr": "name",
    "longstr": "long string",
    "table": {"key": "value", "n": 1},
}


METHOD_CLASSES: list[type[base.Frame]] = sorted(
    commands.INDEX_MAPPING.values(), key=lambda c: c.index
)


@pytest.mark.filterwarnings("ignore:This command is deprecated:DeprecationWarning")
@pytest.mark.parametrize("method_class", METHOD_CLASSES, ids=lambda c: c.name)
def test_every_method_maps_its_arguments_to_pamqp_values(
    method_class: type[base.Frame],
) -> None:
    defaults = method_class()  # reserved fields keep the defaults pamqp insists on
    method = method_class()
    for name in method_class.__slots__:
        if getattr(defaults, name) is None:
            setattr(method, name, SAMPLES[method_class.amqp_type(name)])
    frame = decode_one(pamqp_frame.marshal(method, 1))
    payload = frame.payload
    assert isinstance(payload, method_class)
    root = byte_map(frame)
    assert_exact_cover(root)
    for child in root.children:
        if child.name in payload.__slots__ and child.kind is FieldKind.VALUE:
            assert child.value == getattr(payload, child.name), child.name
        if child.name in payload.__slots__ and child.type in ("shortstr", "longstr"):
            text = "".join(
                str(leaf.value) for leaf in child.leaves() if leaf.name == "text"
            )
            assert text == getattr(payload, child.name), child.name
        for name, on in child.bits:
            assert on == getattr(payload, name), name


Node = tuple[int, int, str, FieldKind, str, object, tuple[tuple[str, bool], ...]]


def node_key(node: ByteField) -> Node:
    return (node.offset, node.length, node.name, node.kind, node.type, node.value,
            node.bits)  # fmt: skip


def full_walk(root: ByteField) -> list[tuple[Node, bool]]:
    """Every span of the map in pre-order, each Parts read from its start, and
    whether the span is a leaf."""
    out: list[tuple[Node, bool]] = []
    stack = [root]
    while stack:
        node = stack.pop()
        children = list(node.children)
        out.append((node_key(node), not children))
        stack.extend(reversed(children))
    return out


def nested_start() -> Frame:
    """Connection.Start: tables in tables, an array of tables, a decimal."""
    properties = {
        "capabilities": {"basic.nack": True, "deep": {"level": 3, "list": [1, "a"]}},
        "cluster": [{"node": "rabbit@a", "up": True}, {"node": "rabbit@b"}, 7],
        "product": "RabbitMQ",
        "ratio": decimal.Decimal("1.25"),
    }
    start = commands.Connection.Start(server_properties=properties)  # type: ignore[arg-type]
    return decode_one(pamqp_frame.marshal(start, 0))


def stress_header() -> Frame:
    """bench/stress.py's ContentHeader: a headers table of 13,100 small integers."""
    headers = {f"h{i:06d}": i % 100 for i in range(13_100)}
    properties = commands.Basic.Properties(headers=headers)  # type: ignore[arg-type]
    frame = decode_one(pamqp_frame.marshal(header.ContentHeader(0, 0, properties), 1))
    assert frame.size <= constants.FRAME_MAX_SIZE
    return frame


def voids() -> Frame:
    """The densest map: an array of voids (one byte an item), among other items."""
    items = b"V" * 3000 + b"b\x07" + b"\x00" + b"t\x01" + b"V"
    table = b"\x01aA" + struct.pack(">I", len(items)) + items
    payload = struct.pack(">HHBBI", 10, 10, 0, 9, len(table)) + table
    payload += struct.pack(">I", 5) + b"PLAIN" + struct.pack(">I", 5) + b"en_US"
    return decode_one(struct.pack(">BHI", 1, 0, len(payload)) + payload + b"\xce")


def test_array_items_read_as_tagged_values() -> None:
    frame = voids()
    table = next(c for c in byte_map(frame).children if c.name == "server_properties")
    array = table.children[1].children[-1]
    assert array.type == "array"
    items = array.children[1:]
    assert len(items) == 3004
    walker = Walker(frame.raw, len(frame.raw) - 1, 1)
    for index, item in enumerate(items):
        tagged = walker.tagged_value(item.offset, item.name)
        assert item.name == f"[{index}]"
        assert item.children == tagged
        assert (item.kind, item.type, item.length) == (
            FieldKind.GROUP, tagged[0].type, tagged[-1].end - item.offset,
        )  # fmt: skip


def deliver() -> Frame:
    method = commands.Basic.Deliver("ctag", 9, True, "amq.direct", "rk")
    return decode_one(pamqp_frame.marshal(method, 1))


@pytest.mark.parametrize("make", [nested_start, stress_header, voids, deliver])
def test_the_lazy_map_reads_as_a_full_walk(make: Callable[[], Frame]) -> None:
    """Whatever is looked at first (the first screen, the byte at an offset,
    the end before the start), the map gives the fields, offsets and values
    a walk of the whole map gives."""
    frame = make()
    walked = full_walk(byte_map(frame))
    spans = [node for node, _ in walked]
    leaves = [node for node, leaf in walked if leaf]
    assert [node_key(leaf) for leaf in byte_map(frame).leaves()] == leaves
    screen = [node_key(leaf) for leaf in byte_map(frame).leaves(0, 1024)]
    assert screen == [leaf for leaf in leaves if leaf[0] < 1024]
    size = frame.size
    every = range(0, size, max(97, size // 12))
    offsets = sorted(
        {0, 7, 11, 1023, size // 2, size - 2, size - 1, *every} & {*range(size)}
    )
    for offset in offsets:  # each on a map nothing else has read
        chain = [node_key(node) for node in byte_map(frame).path_to(offset)]
        assert chain == [n for n in spans if n[0] <= offset < n[0] + n[1]], offset
    backwards = byte_map(frame)
    for offset in reversed(offsets):
        assert backwards.path_to(offset)[-1].offset <= offset
    assert full_walk(backwards) == walked
    windows = byte_map(frame)
    pieces = [node_key(leaf) for at in range(0, frame.size, 500)
              for leaf in windows.leaves(at, at + 500)]  # fmt: skip
    assert list(dict.fromkeys(pieces)) == leaves
