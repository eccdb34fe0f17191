"""Helpers the AMQP 1.0 tests share (this module holds no tests of its own).

Frames are built from bodies Qpid Proton's codec (`proton.Data`) encodes, so
the bytes decoded are someone else's; the committed capture is a real Proton
client's lifecycle against RabbitMQ 4.0.5.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, Final

import proton as proton_module

from explorer.protocol.amqp10.bytemap import byte_map
from explorer.protocol.amqp10.decoder import Amqp10Decoder
from explorer.protocol.bytefield import ByteField, FieldKind
from explorer.protocol.frames import Decoded, DecodeFailure, Direction, Frame
from explorer.recording.capture import Capture, load

#: Proton, typed loosely: its annotations are narrower than the values these
#: tests build on purpose (arrays of described values, None).
proton: Any = proton_module
FIXTURE: Final = (
    Path(__file__).resolve().parents[1] / "captures" / "amqp10" / "lifecycle.jsonl"
)
SASL_HEADER: Final = b"AMQP\x03\x01\x00\x00"
AMQP_HEADER: Final = b"AMQP\x00\x01\x00\x00"


def committed() -> Capture:
    """The committed capture of a Proton client's lifecycle on RabbitMQ 4.0.5."""
    return load(FIXTURE)


def encoded(value: object) -> bytes:
    """`value` as Proton's codec writes it."""
    data = proton.Data()
    data.put_object(value)
    return bytes(data.encode())


def described(code: int, *fields: object) -> bytes:
    """A composite (a performative, say) as Proton writes it: its descriptor
    code and its list of fields."""
    return encoded(proton.Described(proton.ulong(code), list(fields)))


def frame(
    body: bytes, frame_type: int = 0, channel: int = 0, extended: bytes = b""
) -> bytes:
    """A frame around `body`: size, doff, type, channel, extended header."""
    assert len(extended) % 4 == 0
    doff = 2 + len(extended) // 4
    size = 8 + len(extended) + len(body)
    return struct.pack(">IBBH", size, doff, frame_type, channel) + extended + body


def decode_all(direction: Direction, pieces: list[bytes]) -> list[Decoded]:
    """What a decoder yields fed `pieces` one after another, then closed."""
    decoder = Amqp10Decoder(direction)
    out: list[Decoded] = []
    for piece in pieces:
        out += decoder.feed(piece)
    if (end := decoder.close()) is not None:
        out.append(end)
    return out


def only(data: bytes, direction: Direction = Direction.CLIENT_TO_BROKER) -> Frame:
    """The one frame `data` holds."""
    (decoded,) = decode_all(direction, [data])
    assert isinstance(decoded, Frame), decoded
    return decoded


def failure(
    data: bytes, direction: Direction = Direction.CLIENT_TO_BROKER
) -> DecodeFailure:
    """The failure `data` ends with (every item before it is a frame)."""
    items = decode_all(direction, [data])
    assert [type(i) for i in items[:-1]] == [Frame] * (len(items) - 1)
    last = items[-1]
    assert isinstance(last, DecodeFailure), items
    return last


def assert_exact_cover(node: ByteField) -> None:
    """Children tile their parent with no gap or overlap, all the way down,
    and no leaf is a group or malformed."""
    if not node.children:
        assert node.kind not in (FieldKind.GROUP, FieldKind.MALFORMED), node
        assert node.length > 0, node
        return
    position = node.offset
    for child in node.children:
        assert child.offset == position, (node.name, child.name)
        position = child.end
        assert_exact_cover(child)
    assert position == node.end, node.name


def assert_exact(item: Frame) -> ByteField:
    """The frame's byte map covers every byte exactly once; returns the map."""
    root = byte_map(item)
    assert (root.offset, root.length, root.name) == (0, item.size, item.name)
    assert_exact_cover(root)
    covered = [0] * item.size
    for leaf in root.leaves():
        for at in range(leaf.offset, leaf.end):
            covered[at] += 1
    assert set(covered) == {1}, item.name
    return root


def find(root: ByteField, *path: str) -> ByteField:
    """The span reached by following child names from `root`."""
    node = root
    for name in path:
        node = next(c for c in node.children if c.name == name)
    return node
