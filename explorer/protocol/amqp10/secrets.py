"""Where the secrets are in an AMQP 1.0 frame: the password in a SASL exchange.

Owns finding the bytes to mask in sasl-init's initial-response (PLAIN's text
after the second NUL; nothing for EXTERNAL or ANONYMOUS, whose responses hold
no credential; the whole response of any other mechanism) and in a
sasl-response's response (all of it), as Secret spans: explorer.protocol's
`secrets_in` and `shown` use them for a 1.0 frame. Sans-I/O.
"""

from __future__ import annotations

from typing import Final

from explorer.protocol.amqp10.bytemap import byte_map
from explorer.protocol.amqp10.frames import Body
from explorer.protocol.bytefield import ByteField
from explorer.protocol.frames import Frame
from explorer.protocol.masking import Secret

#: Mechanisms whose initial response carries no credential.
_NO_SECRET: Final = frozenset({"EXTERNAL", "ANONYMOUS"})


def secrets_in(frame: Frame) -> list[Secret]:
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


def _value_leaf(root: ByteField, field: str) -> ByteField | None:
    """The value bytes of a SASL body's binary field, if it has any."""
    node = root
    for name in ("performative", "fields", field, "value"):
        found = next((c for c in node.children if c.name == name), None)
        if found is None:
            return None
        node = found
    return node
