"""A frame's fields as plain JSON values, secrets masked unless revealed.

Owns `fields_of(frame)` (what `trace --json` prints as "fields", read from the
byte map as the spec says by `values.frame_values`, or for an AMQP 1.0 frame
by `amqp10.tojson`) and `values_of` (with their notes), `table_of` for one table
argument, `to_json` for the values pamqp decodes elsewhere, and
`shown(frame, reveal)`: the frame with its secret bytes masked, decoded again,
so every view of it (fields, hex, byte map) hides the same bytes. Sans-I/O.
"""

from __future__ import annotations

import datetime
import decimal

from explorer.protocol.amqp10 import tojson
from explorer.protocol.amqp10.decoder import Amqp10Decoder
from explorer.protocol.amqp10.frames import Body, Header
from explorer.protocol.decoder import FrameDecoder
from explorer.protocol.frames import Frame
from explorer.protocol.masking import mask
from explorer.protocol.secrets import secrets_in
from explorer.protocol.values import JSON, Values, frame_values, text_of

__all__ = ["JSON", "fields_of", "shown", "table_of", "to_json", "values_of"]


def shown(frame: Frame, reveal: bool = False) -> Frame:
    """The frame as it may be shown: secrets masked unless `reveal`."""
    secrets = [] if reveal else secrets_in(frame)
    if not secrets:
        return frame
    one_oh = isinstance(frame.payload, Header | Body)
    decoder = (Amqp10Decoder if one_oh else FrameDecoder)(frame.direction)
    (masked,) = decoder.feed(mask(frame.raw, secrets), frame.t)
    assert isinstance(masked, Frame)
    return Frame(
        frame.direction,
        frame.offset,
        frame.channel,
        masked.raw,
        masked.payload,
        frame.t,
    )


def values_of(frame: Frame) -> Values:
    """The fields of a frame of either protocol, with the notes beside them."""
    if isinstance(frame.payload, Header | Body):
        return tojson.frame_values(frame)
    return frame_values(frame)


def fields_of(frame: Frame) -> dict[str, JSON]:
    """The decoded fields of a frame (pass it through `shown` first)."""
    return values_of(frame).fields


def table_of(frame: Frame, argument: str) -> dict[str, JSON]:
    """A field-table argument of a method frame, as the spec reads it ({} if none)."""
    table = fields_of(frame).get(argument)
    return table if isinstance(table, dict) else {}


def to_json(value: object) -> JSON:
    """Turn a pamqp field value into a JSON value."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes | bytearray):
        return text_of(value)
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return repr(value)
