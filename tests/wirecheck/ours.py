"""Our side: what explorer.protocol's decoder and byte map give, as Items.

Each direction of a connection is fed to a FrameDecoder segment by segment,
as the pcap brought it. Every frame's byte map (explorer.protocol.byte_map) is
walked into Items named as tshark names them: frame header, class and method
ids, each argument (packed bits one by one), content-header fields, each
property-flags word, each property, each table entry and array item (its tag's
meaning, its value, its bytes) and the body. Length prefixes and keys are not
Items of their own: they are in the spans.
"""

from __future__ import annotations

from typing import Final

from pamqp import base, header

from explorer.protocol import (
    ByteField,
    Decoded,
    Direction,
    FieldKind,
    Frame,
    FrameDecoder,
    byte_map,
)
from tests.wirecheck.items import (
    DECIMAL_TEXT,
    TABLE,
    TSHARK_TYPES,
    UNKNOWN,
    Item,
    child_path,
    decimal_text,
)

#: Byte-map names of the fixed fields, as paths.
FRAMING: Final[dict[str, str]] = {
    "frame type": "frame.type",
    "channel": "frame.channel",
    "size": "frame.size",
    "frame end": "frame.end",
}
METHOD_IDS: Final[dict[str, str]] = {
    "class id": "method.class_id",
    "method id": "method.method_id",
}
HEADER_FIELDS: Final[dict[str, str]] = {
    "class id": "header.class_id",
    "weight": "header.weight",
    "body size": "header.body_size",
}
INTEGER_TYPES: Final = frozenset({"octet", "short", "long", "longlong", "timestamp"})
INTEGER_TAGS: Final = frozenset("bBUusIilL")
PREFIX_WIDTH: Final[dict[str, int]] = {"shortstr": 1, "longstr": 4, "table": 4}


def decode(chunks: list[bytes], direction: Direction) -> list[Decoded]:
    """Feed the chunks to a new decoder, then end the stream."""
    decoder = FrameDecoder(direction)
    out: list[Decoded] = []
    for chunk in chunks:
        out += decoder.feed(chunk)
    if (failure := decoder.close()) is not None:
        out.append(failure)
    return out


def items_of(frame: Frame) -> list[Item]:
    """The frame's fields as our byte map gives them."""
    payload = frame.payload
    prefix = "properties" if isinstance(payload, header.ContentHeader) else "arguments"
    ids = HEADER_FIELDS if isinstance(payload, header.ContentHeader) else METHOD_IDS
    items: list[Item] = []
    flag_words = 0
    for child in byte_map(frame).children:
        span = (child.offset, child.end)
        if child.name in FRAMING and child.kind is FieldKind.FRAMING:
            items.append(Item(FRAMING[child.name], child.value, span))
        elif child.name in ids and child.kind is not FieldKind.GROUP:
            items.append(Item(ids[child.name], child.value, span))
        elif child.kind is FieldKind.MALFORMED:
            items.append(Item(f"malformed:{child.name}", child.value, span))
        elif child.name == "property flags" or _flag_words(child):
            for word in child.children or (child,):
                suffix = f"[{flag_words}]" if flag_words else ""
                where = (word.offset, word.end)
                items.append(Item(f"header.property_flags{suffix}", word.value, where))
                flag_words += 1
        elif child.kind is FieldKind.BITS:
            items += [Item(f"{prefix}.{n}", on, span) for n, on in child.bits]
        elif child.kind is FieldKind.BODY:
            items.append(Item("body", child.value, span))
        elif isinstance(payload, base.Frame | header.ContentHeader):
            items += _argument(child, f"{prefix}.{child.name}")
        else:
            items.append(Item(f"unexpected:{child.name}", child.value, span))
    return items


def _flag_words(node: ByteField) -> bool:
    """Whether a node groups property-flags words (those after the first)."""
    words = node.children
    return bool(words) and all(w.name == "property flags" for w in words)


def _argument(node: ByteField, path: str) -> list[Item]:
    span = (node.offset, node.end)
    if node.type in INTEGER_TYPES:
        return [Item(path, node.value, span)]
    width = PREFIX_WIDTH.get(node.type)
    if width is None:
        return [Item(f"unexpected:{path}", node.value, span)]
    data = (node.offset + width, node.end)
    if node.type == TABLE:
        return [Item(path, None, data, whole=span, type=TABLE), *_entries(node, path)]
    return [Item(path, _text(node), data, whole=span)]


def _entries(table: ByteField, prefix: str) -> list[Item]:
    """A table's or array's entries (after its length), nested ones after each."""
    items: list[Item] = []
    for entry in table.children[1:]:
        parts = list(entry.children)
        tags = [i for i, p in enumerate(parts) if p.kind is FieldKind.TAG]
        if entry.kind is FieldKind.MALFORMED or not tags:
            where = child_path(prefix, entry.name)
            span = (entry.offset, entry.end)
            items.append(Item(f"malformed:{where}", entry.value, span, parent=prefix))
            continue
        tag_field = parts[tags[0]]
        tag = str(tag_field.value)
        value = parts[tags[0] + 1] if tags[0] + 1 < len(parts) else None
        path = child_path(prefix, entry.name)
        start, end = tag_field.offset, entry.end
        canonical: object = None
        if tag in INTEGER_TAGS:
            canonical = _leaf(value)
        elif tag == "t":
            canonical = bool(_leaf(value))
        elif tag in DECIMAL_TEXT:
            canonical = decimal_text(_leaf(value))
        elif tag == "T":
            canonical = _leaf(value)
        elif tag in "Sx" and value is not None:
            canonical = _text(value)
            if tag == "x":  # tshark's byte array covers the bytes only
                start = value.offset + 4
        kind = TSHARK_TYPES.get(tag, UNKNOWN)
        items.append(
            Item(path, canonical, (start, end), type=kind, tag=tag, parent=prefix)
        )
        if tag in "FA" and value is not None:
            items += _entries(value, path)
    return items


def _leaf(node: ByteField | None) -> object:
    return None if node is None else node.value


def _text(node: ByteField) -> object:
    """A string's text (str, or bytes when not UTF-8); b"" / "" when empty."""
    texts = [leaf.value for leaf in node.leaves() if leaf.name == "text"]
    if texts:
        return texts[0]
    return b"" if node.type == "bytes" else ""
