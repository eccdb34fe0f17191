"""The byte map at the limits a hostile peer can reach within frame_max.

Tables nested as deep as a frame can carry, every property-flag word a content
header can hold, and a header table of 13,100 entries: no recursion limit is
reached, the leaves still cover every byte exactly once, and tables are read
only as far as something looks.
"""

from __future__ import annotations

import pytest
from pamqp import commands, constants, header
from pamqp import frame as pamqp_frame

from explorer.protocol import ByteField, DecodeFailure, FieldKind, Frame, byte_map
from explorer.protocol.bytefield import Parts
from explorer.protocol.bytemap import MAX_NESTING
from explorer.protocol.decoder import FrameDecoder
from explorer.protocol.frames import Direction
from explorer.protocol.walker import Walker
from tests.conftest import content_header, nested, start_frame

B2C = Direction.BROKER_TO_CLIENT
FRAME_MAX = constants.FRAME_MAX_SIZE


def decode_one(raw: bytes) -> Frame:
    (frame,) = FrameDecoder(B2C).feed(raw)
    assert isinstance(frame, Frame), frame
    return frame


def unchecked(raw: bytes, payload: object) -> Frame:
    """A frame as the decoder would give it, for bytes pamqp cannot decode."""
    return Frame(B2C, 0, 0, raw, payload)  # type: ignore[arg-type]


def assert_covers_once(root: ByteField, size: int) -> list[ByteField]:
    leaves = list(root.leaves())
    assert [leaf.offset for leaf in leaves] == sorted(leaf.offset for leaf in leaves)
    assert sum(leaf.length for leaf in leaves) == size
    position = 0
    for leaf in leaves:
        assert leaf.offset == position, leaf
        position = leaf.end
    assert position == size
    return leaves


def too_deep(leaves: list[ByteField]) -> list[ByteField]:
    return [leaf for leaf in leaves if leaf.kind is FieldKind.MALFORMED]


@pytest.mark.parametrize("tag", [b"F", b"A"], ids=["tables", "arrays"])
@pytest.mark.parametrize("depth", [MAX_NESTING - 1, MAX_NESTING, 300])
def test_nesting_that_pamqp_decodes_is_mapped_to_the_cap(
    depth: int, tag: bytes
) -> None:
    frame = decode_one(start_frame(nested(depth, tag)))
    root = byte_map(frame)
    leaves = assert_covers_once(root, frame.size)
    deepest = root.path_to(frame.size - 20)  # inside the innermost table
    if depth + 1 <= MAX_NESTING:  # the server_properties table is level 1
        assert too_deep(leaves) == []
        return
    (cut,) = too_deep(leaves)
    assert cut.type in ("table", "array")
    assert str(cut.value).startswith("nested too deep: the byte map reads tables")
    assert f"is level {MAX_NESTING + 1}" in str(cut.value)
    assert deepest[-1] is cut


def test_a_frame_max_of_nesting_is_mapped_without_recursion() -> None:
    """About 26,000 levels: more than pamqp can decode, none too many for the map."""
    depth = (FRAME_MAX - 64) // 8  # each level: key, tag and length
    raw = start_frame(nested(depth))
    assert len(raw) <= FRAME_MAX
    (failure,) = FrameDecoder(B2C).feed(raw)
    assert isinstance(failure, DecodeFailure)
    assert "nested too deep for pamqp" in failure.reason
    root = byte_map(unchecked(raw, commands.Connection.Start()))
    leaves = assert_covers_once(root, len(raw))
    assert len(too_deep(leaves)) == 1
    assert len(root.path_to(len(raw) - 20)) < 3 * MAX_NESTING
    assert root == byte_map(unchecked(raw, commands.Connection.Start()))
    assert repr(root)


def test_five_flag_words_are_read_as_pamqp_reads_them() -> None:
    content_type = commands.Basic.Properties.flags["content_type"]
    words = [content_type | 1, 1, 1, 1, 0]
    raw = content_header(words, b"\x0atext/plain")
    frame = decode_one(raw)
    assert isinstance(frame.payload, header.ContentHeader)
    assert frame.payload.properties.content_type == "text/plain"
    root = byte_map(frame)
    leaves = assert_covers_once(root, len(raw))
    assert not [leaf for leaf in leaves if leaf.kind is FieldKind.MALFORMED]
    names = [child.name for child in root.children]
    assert names[6:9] == ["property flags", "more property flags", "content_type"]
    first, more = root.children[6], root.children[7]
    assert (first.offset, first.value) == (19, content_type | 1)
    assert [name for name, on in first.bits if on] == ["content_type"]
    assert [(w.offset, w.length, w.value) for w in more.children] == [
        (21, 2, 1), (23, 2, 1), (25, 2, 1), (27, 2, 0),
    ]  # fmt: skip
    assert root.children[8].children[1].value == "text/plain"


def test_flag_words_that_never_end_are_malformed_not_dropped() -> None:
    raw = content_header([1] * 6, b"")
    root = byte_map(unchecked(raw, header.ContentHeader()))
    leaves = assert_covers_once(root, len(raw))
    (bad,) = too_deep(leaves)
    assert (bad.offset, bad.length) == (19, 12)
    assert bad.value == (
        "property flags: all 6 words say another word follows (bit 0 set), and the "
        "frame ends"
    )


def test_a_frame_max_of_flag_words_maps_lazily() -> None:
    count = (FRAME_MAX - 8 - 12) // 2
    raw = content_header([1] * (count - 1) + [0], b"")
    root = byte_map(unchecked(raw, header.ContentHeader()))
    more = root.children[7]
    assert isinstance(more.children, Parts)
    assert (more.offset, more.length) == (21, 2 * (count - 1))
    assert len(assert_covers_once(root, len(raw))) == count + 7


def headers_frame(entries: int) -> Frame:
    headers = {f"h{i:06d}": i % 100 for i in range(entries)}
    properties = commands.Basic.Properties(headers=headers)  # type: ignore[arg-type]
    return decode_one(pamqp_frame.marshal(header.ContentHeader(0, 0, properties), 1))


def test_table_entries_are_read_only_as_far_as_something_looks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frame = headers_frame(13_100)
    assert frame.size <= FRAME_MAX
    read: list[int] = []
    entry = Walker._table_entry

    def counted(walker: Walker, pos: int, index: int) -> ByteField:
        read.append(index)
        return entry(walker, pos, index)

    monkeypatch.setattr(Walker, "_table_entry", counted)
    root = byte_map(frame)
    assert read == []
    first_line = list(root.leaves(0, 64))
    assert sum(leaf.length for leaf in first_line) >= 64
    assert len(read) < 16
    headers = next(child for child in root.children if child.name == "headers")
    assert isinstance(headers.children, Parts)
    assert headers.children.count_upto(200) is None  # more than 200 parts ...
    assert read == list(range(200)), "... found by reading 200 entries"
    assert headers.children.count_upto(20_000) == 13_101
    assert len(headers.children) == 13_101  # the length, then each entry
    assert read == list(range(13_100))
    assert root.path_to(frame.size - 2)[-1].name == "value"
    assert read == list(range(13_100)), "each entry is read once"


def test_parts_read_as_far_as_used_and_compare_as_tuples() -> None:
    fields = [ByteField(i, 1, f"f{i}", FieldKind.VALUE) for i in range(5)]
    taken: list[int] = []

    def unread() -> object:
        for field in fields:
            taken.append(field.offset)
            yield field

    parts = Parts(unread())  # type: ignore[arg-type]
    assert parts
    assert taken == [0]
    assert parts[2] is fields[2]
    assert taken == [0, 1, 2]
    assert next(iter(parts)) is fields[0]
    assert taken == [0, 1, 2]
    assert parts.count_upto(2) is None
    assert taken == [0, 1, 2]
    assert parts.count_upto(3) is None
    assert taken == [0, 1, 2, 3]
    assert parts.count_upto(5) == 5
    assert parts[1:3] == (fields[1], fields[2])
    assert len(parts) == 5
    assert parts == tuple(fields)
    assert not Parts(iter(()))
