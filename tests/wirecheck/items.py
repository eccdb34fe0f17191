"""What both sides of the comparison are reduced to: one Item per field.

An Item is one frame field, method argument, content property or field-table
entry: a path ("arguments.frame_max", "properties.headers.kA[0]"), a value in
a form both sides can produce, the bytes it covers and, for a table entry,
what its type tag means. Values are compared as: int, bool, str (text), bytes
(binary), None (void, or a container whose entries follow as their own Items)
and, for float, double and decimal, the text C's "%f" gives, which is all
tshark shows of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

#: What tshark 4.0 calls each field-table type tag (RabbitMQ's tags, the
#: errata's: 's' is a signed short, not the 0-9-1 grammar's short string).
#: 'L' and 'U' are missing: tshark does not know them (see gaps.TSHARK_GAPS).
TSHARK_TYPES: Final[dict[str, str]] = {
    "t": "boolean",
    "b": "byte",
    "B": "unsigned byte",
    "s": "short int",
    "u": "short uint",
    "I": "integer",
    "i": "unsigned integer",
    "l": "long int",
    "f": "float",
    "d": "double",
    "D": "decimal",
    "S": "string",
    "x": "byte array",
    "T": "timestamp",
    "F": "field table",
    "A": "array",
    "V": "void",
}
#: The type of an entry whose tag tshark does not know, or of a container.
UNKNOWN: Final = "unknown"
TABLE: Final = "table"
#: Tags whose values tshark (and this comparison) shows as "%f" text.
DECIMAL_TEXT: Final = frozenset("fdD")


@dataclass(frozen=True, slots=True)
class Item:
    """One field of one frame, as one side of the comparison reads it."""

    #: Where it is: "frame.size", "arguments.queue", "properties.headers.k".
    path: str
    #: Its value (see the module docstring for the forms).
    value: object
    #: Bytes it covers, from the frame's first byte: (start, end). For a
    #: string, table or byte array only its data, after the length prefix.
    span: tuple[int, int] | None = None
    #: For a string or table: the span with its length prefix.
    whole: tuple[int, int] | None = None
    #: For a table entry or array item: what its tag means (TSHARK_TYPES).
    type: str = ""
    #: For a table entry or array item: the tag itself.
    tag: str = ""
    #: For a table entry or array item: the path of its table or array.
    parent: str = ""

    def describe(self) -> str:
        """The item in a failure message (a SASL response is never printed)."""
        kind = f" ({self.type})" if self.type else ""
        return f"{shown(self.path, self.value)}{kind} at {self.span}"


def shown(path: str, value: object) -> str:
    """A value for a failure message: a SASL response (a password) only by size,
    a long body by its size and first bytes."""
    if path.endswith("response") and isinstance(value, bytes | str):
        return f"<a SASL response of {len(value)} bytes>"
    if isinstance(value, bytes) and len(value) > 48:
        return f"<{len(value)} bytes {value[:16].hex()}...>"
    return repr(value)


def child_path(prefix: str, key: str) -> str:
    """The path of a table entry (``prefix.key``) or array item (``prefix[0]``)."""
    return f"{prefix}{key}" if key.startswith("[") else f"{prefix}.{key}"


def decimal_text(value: object) -> str:
    """A float, double or decimal as C's "%f" writes it (as tshark shows it)."""
    return f"{float(str(value)):f}"


def same(ours: object, theirs: object) -> bool:
    """Whether two canonical values are equal; text and bytes meet as UTF-8."""
    if isinstance(ours, str) and isinstance(theirs, bytes):
        return ours.encode("utf-8") == theirs
    if isinstance(ours, bytes) and isinstance(theirs, str):
        return ours == theirs.encode("utf-8")
    return type(ours) is type(theirs) and ours == theirs
