"""The sans-I/O protocol core: decoder, byte map and frame vocabulary.

Nothing in this package imports asyncio, socket, ssl or Textual.
"""

from __future__ import annotations

from explorer.protocol.bytemap import ByteField, FieldKind, byte_map
from explorer.protocol.decoder import FrameDecoder
from explorer.protocol.frames import Decoded, DecodeFailure, Direction, Frame

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
