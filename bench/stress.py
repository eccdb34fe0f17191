"""The frames that stress the byte map: each as large as frame_max allows.

Owns the benchmark's stress cases (a body, a header table of 13,100 entries,
tables nested some 16,000 levels, a header of property-flag words) and
`decoded`, the frames of a stream that must decode cleanly.
"""

from __future__ import annotations

import struct
from typing import Final

from pamqp import body, commands, constants, header
from pamqp import frame as pamqp_frame

from explorer.protocol.decoder import FrameDecoder
from explorer.protocol.frames import Direction, Frame

#: RabbitMQ's default frame_max: the largest frame on the wire, header included.
FRAME_MAX: Final = constants.FRAME_MAX_SIZE


def decoded(raw: bytes) -> list[Frame]:
    """The frames of a stream, decoded in one feed."""
    items = FrameDecoder(Direction.BROKER_TO_CLIENT).feed(raw)
    frames = [item for item in items if isinstance(item, Frame)]
    assert len(frames) == len(items), "the benchmark stream must decode cleanly"
    return frames


def frame_max_body() -> Frame:
    """A ContentBody frame of exactly frame_max bytes on the wire."""
    payload = body.ContentBody(bytes(FRAME_MAX - 8))
    (frame,) = decoded(pamqp_frame.marshal(payload, 1))
    assert frame.size == FRAME_MAX
    return frame


def frame_max_headers() -> Frame:
    """A stress case for the byte map: a ContentHeader filling frame_max.

    Its headers table holds small integers, so every 10 bytes make an entry of
    four leaves: about as many fields as a frame of that size can hold.
    """
    count = (FRAME_MAX - 64) // 10
    while True:
        headers = {f"h{i:06d}": i % 100 for i in range(count)}
        properties = commands.Basic.Properties(headers=headers)  # type: ignore[arg-type]
        raw = pamqp_frame.marshal(header.ContentHeader(0, 0, properties), 1)
        if len(raw) <= FRAME_MAX:
            (frame,) = decoded(raw)
            return frame
        count -= 1


def nested_start() -> Frame:
    """A stress case: Connection.Start with tables nested as deep as frame_max allows.

    Some 16,000 levels: pamqp cannot decode it (it recurses per level), so the
    frame is made as the decoder would make it, for the byte map alone.
    """
    value = b"F\x00\x00\x00\x00"
    for _ in range((FRAME_MAX - 64) // 8 - 1):
        value = b"F" + struct.pack(">I", len(value) + 2) + b"\x01k" + value
    table = b"\x01k" + value
    payload = (
        struct.pack(">HHBBI", 10, 10, 0, 9, len(table))
        + table
        + struct.pack(">I", 5) + b"PLAIN"
        + struct.pack(">I", 5) + b"en_US"
    )  # fmt: skip
    raw = struct.pack(">BHI", 1, 0, len(payload)) + payload + b"\xce"
    return Frame(Direction.BROKER_TO_CLIENT, 0, 0, raw, commands.Connection.Start())


def flag_words_header() -> Frame:
    """A stress case: a ContentHeader of property-flag words filling frame_max.

    pamqp reads them (copying the rest of the frame once per word, so slowly);
    the frame is made as the decoder would make it, for the byte map alone.
    """
    count = (FRAME_MAX - 20) // 2
    words = b"\x00\x01" * (count - 1) + b"\x00\x00"
    payload = struct.pack(">HHQ", 60, 0, 0) + words
    raw = struct.pack(">BHI", 2, 1, len(payload)) + payload + b"\xce"
    return Frame(Direction.BROKER_TO_CLIENT, 0, 1, raw, header.ContentHeader())
