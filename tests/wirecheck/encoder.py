"""A hand-written AMQP 0-9-1 encoder: frames built byte by byte from the spec.

No client library and none of explorer.protocol: every frame is packed here
with struct, as the 0-9-1 spec lays it out (frame header, class and method
ids, arguments with consecutive bits packed low bit first, content header
with its property flags, body frames, frame-end 0xCE). Field tables take
every type tag: the 0-9-1 grammar's and RabbitMQ's ('t b B U u s I i L l f d
D S x A T F V'). Each frame comes with its intent: the Items it holds, named as
our byte map names them, which `compare.against_intent` checks our decoder
against.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from tests.wirecheck.items import (
    DECIMAL_TEXT,
    TABLE,
    TSHARK_TYPES,
    UNKNOWN,
    Item,
    child_path,
    decimal_text,
)

PROTOCOL_HEADER: Final = b"AMQP\x00\x00\x09\x01"
FRAME_METHOD, FRAME_HEADER, FRAME_BODY, FRAME_HEARTBEAT = 1, 2, 3, 8
FRAME_END: Final = 0xCE
BASIC: Final = 60
#: Each tag's fixed layout (struct format); absent: length-prefixed or void.
FIXED: Final[dict[str, str]] = {
    "t": ">B", "b": ">b", "B": ">B", "U": ">h", "u": ">H", "s": ">h",
    "I": ">i", "i": ">I", "L": ">q", "l": ">q", "f": ">f", "d": ">d", "T": ">Q",
}  # fmt: skip
#: The 0-9-1 Basic properties in flag order: bit 15 down to bit 2.
PROPERTIES: Final = (
    ("content_type", "shortstr"), ("content_encoding", "shortstr"),
    ("headers", "table"), ("delivery_mode", "octet"), ("priority", "octet"),
    ("correlation_id", "shortstr"), ("reply_to", "shortstr"),
    ("expiration", "shortstr"), ("message_id", "shortstr"),
    ("timestamp", "timestamp"), ("message_type", "shortstr"),
    ("user_id", "shortstr"), ("app_id", "shortstr"), ("cluster_id", "shortstr"),
)  # fmt: skip
INTEGERS: Final[dict[str, str]] = {
    "octet": ">B", "short": ">H", "long": ">I", "longlong": ">Q", "timestamp": ">Q",
}  # fmt: skip

#: One table entry: key, tag, value. An 'F' value is a list of entries, an
#: 'A' value a list of (tag, value), a 'D' value (scale, unsigned digits).
Entry = tuple[str, str, object]
#: One method argument or property: name, AMQP type, value.
Argument = tuple[str, str, object]

#: Every tag RabbitMQ accepts, edge values, nested tables and arrays, a UTF-8
#: key, a repeated key; 'L' last, since tshark stops reading a table there.
ALL_TYPES: Final[list[Entry]] = [
    ("true", "t", True),
    ("false", "t", False),
    ("int8", "b", -128),
    ("uint8", "B", 255),
    ("int16", "s", -32768),
    ("uint16", "u", 65535),
    ("int32", "I", -(2**31)),
    ("uint32", "i", 2**32 - 1),
    ("int64", "l", -(2**63)),
    ("float", "f", -1.5),
    ("double", "d", 3.141592653589793),
    ("decimal", "D", (2, 12345)),
    ("decimal-top-bit", "D", (1, 0xFFFFFFF1)),
    ("longstr", "S", "café ☕"),
    ("empty", "S", ""),
    ("bytes", "x", b"\x00\xff\x80"),
    ("no-bytes", "x", b""),
    ("timestamp", "T", 1_700_000_000),
    ("void", "V", None),
    ("array", "A", [("b", 1), ("S", "two"), ("V", None), ("F", [("in", "I", 7)]),
                    ("A", [("t", True)])]),
    ("table", "F", [("nested", "F", [("deep", "i", 1)]), ("n", "u", 2)]),
    ("clé", "S", "a UTF-8 key"),
    ("dup", "S", "first"),
    ("dup", "b", 2),
    ("int64-L", "L", -2),
]  # fmt: skip


@dataclass
class Written:
    """One frame as the hand encoder wrote it, and what it holds."""

    raw: bytes
    intent: list[Item] = field(default_factory=list)


def frame(kind: int, channel: int, payload: bytes) -> bytes:
    """A frame: type, channel, payload size, payload, frame-end."""
    return (
        struct.pack(">BHI", kind, channel, len(payload)) + payload + bytes([FRAME_END])
    )


def _framing(kind: int, channel: int, payload: bytes) -> list[Item]:
    return [
        Item("frame.type", kind),
        Item("frame.channel", channel),
        Item("frame.size", len(payload)),
        Item("frame.end", FRAME_END),
    ]


def shortstr(text: str) -> bytes:
    """A short string: one octet of length, then the UTF-8 bytes."""
    data = text.encode("utf-8")
    return bytes([len(data)]) + data


def longstr(data: str | bytes) -> bytes:
    """A long string: four octets of length, then the bytes."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return struct.pack(">I", len(raw)) + raw


def table(entries: Sequence[Entry]) -> bytes:
    """A field table: its length, then key (short string), tag, value."""
    data = b"".join(shortstr(k) + tag.encode() + value(tag, v) for k, tag, v in entries)
    return struct.pack(">I", len(data)) + data


def value(tag: str, content: object) -> bytes:
    """The bytes after a type tag."""
    if tag in FIXED:
        return struct.pack(FIXED[tag], content)
    if tag == "D":
        assert isinstance(content, tuple)
        return struct.pack(">BI", *content)
    if tag in "Sx":
        assert isinstance(content, str | bytes)
        return longstr(content)
    if tag == "F":
        assert isinstance(content, list)
        return table(content)
    if tag == "A":
        assert isinstance(content, list)
        data = b"".join(t.encode() + value(t, v) for t, v in content)
        return struct.pack(">I", len(data)) + data
    if tag == "V":
        return b""
    raise ValueError(f"no such tag {tag!r}")


def entry_items(entries: Sequence[Entry], prefix: str) -> list[Item]:
    """The Items a table holds, nested ones after their container."""
    items: list[Item] = []
    for key, tag, content in entries:
        path = child_path(prefix, key)
        items.append(_entry_item(path, tag, content, prefix))
        items += _nested(path, tag, content)
    return items


def _nested(path: str, tag: str, content: object) -> list[Item]:
    if tag == "F":
        assert isinstance(content, list)
        return entry_items(content, path)
    if tag == "A":
        assert isinstance(content, list)
        items: list[Item] = []
        for index, (inner, one) in enumerate(content):
            where = f"{path}[{index}]"
            items.append(_entry_item(where, inner, one, path))
            items += _nested(where, inner, one)
        return items
    return []


def _entry_item(path: str, tag: str, content: object, parent: str) -> Item:
    canonical: object = content
    if tag == "D":
        canonical = _decimal(content)
    elif tag in DECIMAL_TEXT:
        canonical = decimal_text(content)
    elif tag in "FAV":
        canonical = None
    kind = TSHARK_TYPES.get(tag, UNKNOWN)
    return Item(path, canonical, type=kind, tag=tag, parent=parent)


def _decimal(content: object) -> str:
    """A decimal's value as "%f" text, the digits read unsigned (the grammar's)."""
    assert isinstance(content, tuple)
    scale, digits = content
    return decimal_text(f"{digits}e-{scale}")


def arguments(args: Sequence[Argument], prefix: str) -> tuple[bytes, list[Item]]:
    """Arguments packed in order (consecutive bits share octets), with Items."""
    data, items = bytearray(), []
    bits: list[bool] = []
    for name, kind, content in args:
        if kind != "bit" and bits:
            data += _bits(bits)
            bits = []
        path = f"{prefix}.{name}"
        if kind == "bit":
            if len(bits) == 8:
                data += _bits(bits)
                bits = []
            bits.append(bool(content))
            items.append(Item(path, bool(content)))
        elif kind in INTEGERS:
            data += struct.pack(INTEGERS[kind], content)
            items.append(Item(path, content))
        elif kind == "shortstr":
            assert isinstance(content, str)
            data += shortstr(content)
            items.append(Item(path, content))
        elif kind == "longstr":
            assert isinstance(content, str | bytes)
            data += longstr(content)
            items.append(Item(path, content))
        elif kind == TABLE:
            assert isinstance(content, list)
            data += table(content)
            items += [Item(path, None, type=TABLE), *entry_items(content, path)]
        else:
            raise ValueError(f"no such argument type {kind!r}")
    if bits:
        data += _bits(bits)
    return bytes(data), items


def _bits(bits: list[bool]) -> bytes:
    return bytes([sum(1 << i for i, on in enumerate(bits) if on)])


def method(channel: int, class_id: int, method_id: int, *args: Argument) -> Written:
    """A method frame."""
    packed, items = arguments(args, "arguments")
    payload = struct.pack(">HH", class_id, method_id) + packed
    ids = [Item("method.class_id", class_id), Item("method.method_id", method_id)]
    return Written(frame(FRAME_METHOD, channel, payload), [
        *_framing(FRAME_METHOD, channel, payload), *ids, *items,
    ])  # fmt: skip


def content_header(
    channel: int,
    body_size: int,
    properties: Sequence[Argument],
    more_words: int = 0,
) -> Written:
    """A Basic content header: the properties given, in flag order.

    Args:
        channel: The channel.
        body_size: The body's length.
        properties: (name, type, value) of the properties present.
        more_words: Property-flags words after the first (continuation bit
            set in each word but the last); they carry no flags, as Basic has
            only 14 properties.
    """
    present = {name for name, _, _ in properties}
    order = [name for name, _ in PROPERTIES]
    flags = sum(1 << (15 - order.index(name)) for name in present)
    words = [flags | (1 if more_words else 0)]
    words += [1] * (more_words - 1) + [0] * bool(more_words)
    ordered = sorted(properties, key=lambda p: order.index(p[0]))
    packed, items = arguments(ordered, "properties")
    payload = (
        struct.pack(">HHQ", BASIC, 0, body_size)
        + b"".join(struct.pack(">H", w) for w in words)
        + packed
    )
    fixed = [
        Item("header.class_id", BASIC),
        Item("header.weight", 0),
        Item("header.body_size", body_size),
        *(
            Item(f"header.property_flags{f'[{i}]' if i else ''}", word)
            for i, word in enumerate(words)
        ),
    ]
    return Written(frame(FRAME_HEADER, channel, payload), [
        *_framing(FRAME_HEADER, channel, payload), *fixed, *items,
    ])  # fmt: skip


def bodies(channel: int, data: bytes, frame_max: int) -> list[Written]:
    """The body split into frames of at most frame_max bytes (8 of framing)."""
    step = frame_max - 8
    out = []
    for start in range(0, len(data), step):
        piece = data[start : start + step]
        out.append(Written(frame(FRAME_BODY, channel, piece), [
            *_framing(FRAME_BODY, channel, piece), Item("body", piece),
        ]))  # fmt: skip
    return out


def heartbeat() -> Written:
    """A heartbeat frame: type 8, channel 0, no payload."""
    return Written(frame(FRAME_HEARTBEAT, 0, b""), _framing(FRAME_HEARTBEAT, 0, b""))
