"""Where the secrets are in a frame: the password inside a SASL response.

Owns finding the bytes that must be masked in Connection.StartOk, SecureOk and
UpdateSecret, for every mechanism: PLAIN's text after the second NUL,
AMQPLAIN's PASSWORD value, and the whole response of anything else; an AMQP
1.0 frame's are found by explorer.protocol.amqp10.secrets. Sans-I/O.
"""

from __future__ import annotations

import struct
from typing import Final

from pamqp import commands

from explorer.protocol.amqp10 import secrets as amqp10
from explorer.protocol.amqp10.frames import Body, Header
from explorer.protocol.bytemap import ByteField, byte_map
from explorer.protocol.frames import Frame
from explorer.protocol.masking import Secret

_AMQPLAIN_PASSWORD: Final = b"\x08PASSWORDS"


def secrets_in(frame: Frame) -> list[Secret]:
    """The spans of `frame` that hold secrets (none for most frames).

    Args:
        frame: Any decoded frame, 0-9-1 or 1.0.

    Returns:
        Spans to mask, in byte order.
    """
    payload = frame.payload
    if isinstance(payload, Header | Body):
        return amqp10.secrets_in(frame)
    if isinstance(payload, commands.Connection.StartOk):
        return _response_secrets(frame, "response", payload.mechanism.upper())
    if isinstance(payload, commands.Connection.SecureOk):
        return _response_secrets(frame, "response", "")
    if isinstance(payload, commands.Connection.UpdateSecret):
        return _whole(_text_of(frame, "new_secret"), "secret")
    return []


def _response_secrets(frame: Frame, field: str, mechanism: str) -> list[Secret]:
    text = _text_of(frame, field)
    if text is None or mechanism == "EXTERNAL":
        return []  # EXTERNAL sends no password: the certificate is the credential
    data = frame.raw[text.offset : text.end]
    if mechanism == "PLAIN":
        first = data.find(b"\0")
        second = data.find(b"\0", first + 1) if first >= 0 else -1
        if second >= 0:
            return _span(text.offset + second + 1, len(data) - second - 1)
    if mechanism == "AMQPLAIN" and (at := data.find(_AMQPLAIN_PASSWORD)) >= 0:
        start = at + len(_AMQPLAIN_PASSWORD)
        if start + 4 <= len(data):
            (length,) = struct.unpack_from(">I", data, start)
            value_start = start + 4
            return _span(
                text.offset + value_start, min(length, len(data) - value_start)
            )
    return _whole(text, "password")


def _text_of(frame: Frame, field: str) -> ByteField | None:
    """The text leaf of a string argument, if it has any bytes."""
    for child in byte_map(frame).children:
        if child.name == field:
            leaves = [leaf for leaf in child.leaves() if leaf.name == "text"]
            return leaves[0] if leaves else None
    return None


def _whole(text: ByteField | None, what: str) -> list[Secret]:
    return [] if text is None else [Secret(text.offset, text.length, what)]


def _span(offset: int, length: int) -> list[Secret]:
    return [Secret(offset, length, "password")] if length > 0 else []
