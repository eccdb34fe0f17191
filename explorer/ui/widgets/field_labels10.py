"""How the field pane labels AMQP 1.0's values, beside 0-9-1's.

Owns what a 1.0 field's label says that a 0-9-1 one does not: whether a leaf
holds a code (a constructor's format code, a descriptor's numeric code: shown
in hex), a binary that reads as text (sasl-init's PLAIN response), and a
constructed value's gist (a list's, map's or array's count; a zero-width
encoding's constant). The label itself is explorer.ui.widgets.field_tree's.
"""

from __future__ import annotations

from explorer.protocol.bytemap import ByteField, FieldKind


def coded(field: ByteField) -> bool:
    """Whether a leaf holds an AMQP 1.0 code: a constructor's format code (a
    0-9-1 type tag is a letter), or a descriptor's numeric code."""
    if field.kind is FieldKind.TAG:
        return isinstance(field.value, int)
    return field.kind is FieldKind.METHOD and field.type == "ulong"


def binary_text(field: ByteField) -> str | None:
    """A 1.0 binary's bytes as text, if they read as UTF-8 with something
    printable (NULs aside, as in PLAIN's response); else None."""
    data = field.value
    if field.type != "binary" or not isinstance(data, bytes):
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    printable = text.replace("\0", "")
    return text if printable and printable.isprintable() else None


def constructed(field: ByteField) -> bool:
    """Whether a group is an AMQP 1.0 value: its constructor comes first."""
    first = field.children[0]
    return first.kind is FieldKind.TAG and isinstance(first.value, int)


def gist(field: ByteField) -> str | None:
    """A constructed 1.0 value's gist: a list's, map's or array's count, a
    zero-width encoding's constant (null, true, false, 0); None when its last
    part says it (the label reads that part's gist)."""
    value, children = field.value, field.children
    if field.type == "list" and isinstance(value, list):
        noun = "field" if field.name == "fields" else "item"
        return _counted(len(value), noun, f"{noun}s")
    count = next((c.value for c in children if c.name == "count"), None)
    if field.type == "map" and isinstance(count, int):
        return _counted(count // 2, "entry", "entries")  # keys and values count
    if field.type == "array" and isinstance(count, int):
        return _counted(count, "element", "elements")
    if len(children) == 1:  # the constructor alone: the value costs no bytes
        return "null" if value is None else str(value).lower()
    return None


def _counted(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"
