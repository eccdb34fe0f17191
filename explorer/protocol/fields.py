"""A frame's decoded fields as plain JSON values, secrets masked unless revealed.

Owns `fields_of(frame)` (what `trace --json` prints as "fields") and
`shown(frame, reveal)`: the frame with its secret bytes masked, decoded again,
so every view of it (fields, hex, byte map) hides the same bytes. Sans-I/O.
"""

from __future__ import annotations

import datetime
import decimal
from typing import Final

from pamqp import base, body, header

from explorer.protocol.decoder import FrameDecoder
from explorer.protocol.frames import Frame
from explorer.protocol.secrets import mask, secrets_in

JSON = None | bool | int | float | str | list["JSON"] | dict[str, "JSON"]
#: Body bytes shown in "fields"; the rest is summarised by its size.
BODY_PREVIEW: Final = 64


def shown(frame: Frame, reveal: bool = False) -> Frame:
    """The frame as it may be shown: secrets masked unless `reveal`."""
    secrets = [] if reveal else secrets_in(frame)
    if not secrets:
        return frame
    (masked,) = FrameDecoder(frame.direction).feed(mask(frame.raw, secrets), frame.t)
    assert isinstance(masked, Frame)
    return Frame(
        frame.direction,
        frame.offset,
        frame.channel,
        masked.raw,
        masked.payload,
        frame.t,
    )


def fields_of(frame: Frame) -> dict[str, JSON]:
    """The decoded fields of a frame (pass it through `shown` first)."""
    payload = frame.payload
    if isinstance(payload, base.Frame):
        return {name: to_json(value) for name, value in payload}
    if isinstance(payload, header.ContentHeader):
        properties = {
            name: to_json(value)
            for name, value in payload.properties
            if value is not None
        }
        return {"body_size": payload.body_size, "properties": properties}
    if isinstance(payload, body.ContentBody):
        value = payload.value or b""
        return {"size": len(value), "preview": to_json(value[:BODY_PREVIEW])}
    if isinstance(payload, header.ProtocolHeader):
        return {
            "protocol_id": frame.raw[4],
            "major": payload.major_version,
            "minor": payload.minor_version,
            "revision": payload.revision,
        }
    return {}


def to_json(value: object) -> JSON:
    """Turn a pamqp field value into a JSON value."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return "0x" + bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return repr(value)
