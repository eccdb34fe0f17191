"""The `hexdump -C` layout of the hex pane: where each byte's columns are.

Owns the columns of one dump line (offset, two groups of 8 hex bytes, the
ASCII between bars), at 16 bytes a line or, in a narrow pane, 8, and mapping
a column back to the byte it shows.
"""

from __future__ import annotations

from typing import Final

#: Bytes per line when the pane is wide enough for `hexdump -C`, else half.
WIDE: Final = 16
NARROW: Final = 8
#: Column of the first hex digit: 8 offset digits and two spaces.
HEX_START: Final = 10
#: Printable ASCII stays; everything else shows as a dot, as hexdump -C does.
_ASCII: Final = bytes(c if 0x20 <= c < 0x7F else ord(".") for c in range(256))


def hex_column(index: int) -> int:
    """Column of the first hex digit of byte `index` of a line."""
    return HEX_START + 3 * index + index // 8


def ascii_start(per_line: int) -> int:
    """Column of the first ASCII character, after the hex bytes and ``  |``."""
    return hex_column(per_line - 1) + 2 + 3


def line_width(per_line: int) -> int:
    """Columns one dump line takes."""
    return ascii_start(per_line) + per_line + 1


def byte_at_column(column: int, per_line: int = WIDE) -> int | None:
    """Which byte of a line a column shows, hex or ASCII; None for none."""
    first_ascii = ascii_start(per_line)
    if first_ascii <= column < first_ascii + per_line:
        return column - first_ascii
    for index in range(per_line):
        if hex_column(index) <= column < hex_column(index) + 2:
            return index
    return None


def dump_line(offset: int, chunk: bytes, per_line: int = WIDE) -> str:
    """One `hexdump -C` line: offset, groups of 8 hex bytes, ASCII."""
    groups = [chunk[i : i + 8].hex(" ").ljust(23) for i in range(0, per_line, 8)]
    text = chunk.translate(_ASCII).decode("ascii")
    return f"{offset:08x}  {'  '.join(groups)}  |{text}|"
