"""The sans-I/O protocol core: decoder, byte map and frame vocabulary.

Nothing in this package imports asyncio, socket, ssl or Textual.
"""

from __future__ import annotations

from explorer.protocol.bytemap import ByteField, FieldKind, byte_map
from explorer.protocol.decoder import Decoded, FrameDecoder
from explorer.protocol.frames import DecodeFailure, Direction, Frame

__all__ = [
    "ByteField",
    "DecodeFailure",
    "Decoded",
    "Direction",
    "FieldKind",
    "Frame",
    "FrameDecoder",
    "byte_map",
]
