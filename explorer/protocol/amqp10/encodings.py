"""AMQP 1.0's primitive encodings: what each constructor's format code means.

Owns the table of format codes (OASIS AMQP 1.0, part 1, section 1.6): each
code's encoding name (``smalluint``, ``str8-utf8`` ...), the type it encodes
(``uint``, ``string`` ...), how its bytes are laid out after the code (a fixed
width, a size then bytes, a size and count then values, or an array's shared
element constructor) and, for the fixed widths, how the value is read. The code
0x00 is no encoding: it starts a described type's descriptor. Sans-I/O.
"""

from __future__ import annotations

import enum
import struct
import uuid
from collections.abc import Callable
from typing import Final, NamedTuple

#: The format code that starts a descriptor: the value after it describes the
#: value after that (part 1, section 1.2).
DESCRIBED: Final = 0x00


class Layout(enum.Enum):
    """How an encoding's bytes follow its format code."""

    #: `width` bytes of value (0 for null, true, false, uint0, ulong0).
    FIXED = "fixed"
    #: A size of `width` bytes, then that many bytes: binary, string, symbol.
    VARIABLE = "variable"
    #: A size and a count of `width` bytes each, then that many values, each
    #: with its own constructor: list and map (list0 has width 0: no size,
    #: no count, no values).
    COMPOUND = "compound"
    #: A size and a count of `width` bytes each, one element constructor, then
    #: that many values written without one.
    ARRAY = "array"


Read = Callable[[bytes, int], object]


class Encoding(NamedTuple):
    """One format code of the type system."""

    code: int
    #: The spec's encoding name: ``smalluint``, ``vbin8``, ``list32`` ...
    name: str
    #: The type it encodes: ``uint``, ``binary``, ``list`` ...
    type: str
    layout: Layout
    #: FIXED: bytes of value; otherwise bytes of the size (and of the count).
    width: int
    #: FIXED only: reads the value at an offset (None: the value is `constant`).
    read: Read | None = None
    #: The value of a zero-width encoding (null, true, false, uint0, ulong0, list0).
    constant: object = None


def _unpack(layout: str) -> Read:
    unpack = struct.Struct(layout).unpack_from

    def read(raw: bytes, pos: int) -> object:
        return unpack(raw, pos)[0]

    return read


def _boolean(raw: bytes, pos: int) -> object:
    octet = raw[pos]
    if octet > 1:
        raise ValueError(f"a boolean octet is 0x00 or 0x01, this one is 0x{octet:02x}")
    return octet == 1


def _char(raw: bytes, pos: int) -> object:
    point = int.from_bytes(raw[pos : pos + 4], "big")
    if point > 0x10FFFF or 0xD800 <= point <= 0xDFFF:
        raise ValueError(f"a char is a Unicode code point, 0x{point:x} is none")
    return chr(point)


def _big(width: int) -> Read:
    def read(raw: bytes, pos: int) -> object:
        return int.from_bytes(raw[pos : pos + width], "big")

    return read


def _uuid(raw: bytes, pos: int) -> object:
    return uuid.UUID(bytes=bytes(raw[pos : pos + 16]))


_F, _V, _C, _A = Layout.FIXED, Layout.VARIABLE, Layout.COMPOUND, Layout.ARRAY
#: Every format code the spec defines. Decimals are kept as their bits (an
#: int): Python has no IEEE 754 decimal reader, and the bits are what crossed.
ENCODINGS: Final[dict[int, Encoding]] = {
    e.code: e
    for e in (
        Encoding(0x40, "null", "null", _F, 0),
        Encoding(0x41, "true", "boolean", _F, 0, None, True),
        Encoding(0x42, "false", "boolean", _F, 0, None, False),
        Encoding(0x56, "boolean", "boolean", _F, 1, _boolean),
        Encoding(0x50, "ubyte", "ubyte", _F, 1, _unpack(">B")),
        Encoding(0x60, "ushort", "ushort", _F, 2, _unpack(">H")),
        Encoding(0x70, "uint", "uint", _F, 4, _unpack(">I")),
        Encoding(0x52, "smalluint", "uint", _F, 1, _unpack(">B")),
        Encoding(0x43, "uint0", "uint", _F, 0, None, 0),
        Encoding(0x80, "ulong", "ulong", _F, 8, _unpack(">Q")),
        Encoding(0x53, "smallulong", "ulong", _F, 1, _unpack(">B")),
        Encoding(0x44, "ulong0", "ulong", _F, 0, None, 0),
        Encoding(0x51, "byte", "byte", _F, 1, _unpack(">b")),
        Encoding(0x61, "short", "short", _F, 2, _unpack(">h")),
        Encoding(0x71, "int", "int", _F, 4, _unpack(">i")),
        Encoding(0x54, "smallint", "int", _F, 1, _unpack(">b")),
        Encoding(0x81, "long", "long", _F, 8, _unpack(">q")),
        Encoding(0x55, "smalllong", "long", _F, 1, _unpack(">b")),
        Encoding(0x72, "ieee-754 float", "float", _F, 4, _unpack(">f")),
        Encoding(0x82, "ieee-754 double", "double", _F, 8, _unpack(">d")),
        Encoding(0x74, "ieee-754 decimal32", "decimal32", _F, 4, _big(4)),
        Encoding(0x84, "ieee-754 decimal64", "decimal64", _F, 8, _big(8)),
        Encoding(0x94, "ieee-754 decimal128", "decimal128", _F, 16, _big(16)),
        Encoding(0x73, "utf32", "char", _F, 4, _char),
        Encoding(0x83, "ms64", "timestamp", _F, 8, _unpack(">q")),
        Encoding(0x98, "uuid", "uuid", _F, 16, _uuid),
        Encoding(0xA0, "vbin8", "binary", _V, 1),
        Encoding(0xB0, "vbin32", "binary", _V, 4),
        Encoding(0xA1, "str8-utf8", "string", _V, 1),
        Encoding(0xB1, "str32-utf8", "string", _V, 4),
        Encoding(0xA3, "sym8", "symbol", _V, 1),
        Encoding(0xB3, "sym32", "symbol", _V, 4),
        Encoding(0x45, "list0", "list", _C, 0),
        Encoding(0xC0, "list8", "list", _C, 1),
        Encoding(0xD0, "list32", "list", _C, 4),
        Encoding(0xC1, "map8", "map", _C, 1),
        Encoding(0xD1, "map32", "map", _C, 4),
        Encoding(0xE0, "array8", "array", _A, 1),
        Encoding(0xF0, "array32", "array", _A, 4),
    )
}
