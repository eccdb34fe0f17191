"""Where the secrets are in an AMQP 1.0 frame: the password in a SASL exchange.

Owns finding the bytes to mask in sasl-init's initial-response (PLAIN's text
after the second NUL; nothing for EXTERNAL or ANONYMOUS, whose responses hold
no credential; the whole response of any other mechanism) and in a
sasl-response's response (all of it), as 0-9-1's Secret spans, masked by
0-9-1's `mask`; and `shown(frame, reveal)`, the frame with them masked and
decoded again, so every view of it hides the same bytes. Sans-I/O.
"""

from __future__ import annotations

from typing import Final

from explorer.protocol.amqp10.bytemap import byte_map
from explorer.protocol.amqp10.decoder import Amqp10Decoder
from explorer.protocol.amqp10.frames import Amqp10Frame, Body
from explorer.protocol.bytefield import ByteField
from explorer.protocol.secrets import Secret, mask

#: Mechanisms whose initial response carries no credential.
_NO_SECRET: Final = frozenset({"EXTERNAL", "ANONYMOUS"})


def secrets_in(frame: Amqp10Frame) -> list[Secret]:
    """The spans of `frame` that hold secrets (none for most frames).

    Returns:
        Spans to mask, in byte order, offsets from the frame's start.
    """
    body = frame.payload
    if not isinstance(body, Body) or body.name not in ("sasl-init", "sasl-response"):
        return []
    field = "initial-response" if body.name == "sasl-init" else "response"
    value = _value_leaf(byte_map(frame), field)
    if value is None:
        return []
    mechanism = str(body.fields.get("mechanism") or "").upper()
    if body.name == "sasl-init" and mechanism in _NO_SECRET:
        return []
    if body.name == "sasl-init" and mechanism == "PLAIN":
        data = frame.raw[value.offset : value.end]
        first = data.find(b"\0")
        second = data.find(b"\0", first + 1) if first >= 0 else -1
        if second >= 0:
            length = len(data) - second - 1
            start = value.offset + second + 1
            return [Secret(start, length, "password")] if length else []
    return [Secret(value.offset, value.length, "password")]


def shown(frame: Amqp10Frame, reveal: bool = False) -> Amqp10Frame:
    """The frame as it may be shown: its secrets masked unless `reveal`."""
    secrets = [] if reveal else secrets_in(frame)
    if not secrets:
        return frame
    (masked,) = Amqp10Decoder(frame.direction).feed(mask(frame.raw, secrets), frame.t)
    assert isinstance(masked, Amqp10Frame)
    return masked._replace(offset=frame.offset, channel=frame.channel)


def _value_leaf(root: ByteField, field: str) -> ByteField | None:
    """The value bytes of a SASL body's binary field, if it has any."""
    node = root
    for name in ("performative", "fields", field, "value"):
        found = next((c for c in node.children if c.name == name), None)
        if found is None:
            return None
        node = found
    return node
