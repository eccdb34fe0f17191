"""AMQP 1.0 beside 0-9-1: a sans-I/O decoder and byte map for OASIS AMQP 1.0.

Fed one direction's bytes in any chunking, Amqp10Decoder yields the protocol
headers, the SASL frames and the AMQP frames, each named by the spec's
performative, with its fields decoded; `byte_map` maps every byte of one to
the field it belongs to, down to the type system's constructors; `secrets_in`
and `shown` find and mask the password of a SASL exchange. It shares 0-9-1's
ByteField, FieldKind, DecodeFailure, Direction and Secret. Nothing here
imports asyncio, socket, ssl or Textual.
"""

from __future__ import annotations

from explorer.protocol.amqp10.bytemap import byte_map
from explorer.protocol.amqp10.decoder import Amqp10Decoder
from explorer.protocol.amqp10.descriptors import COMPOSITES, Composite, Role
from explorer.protocol.amqp10.frames import (
    HEARTBEAT,
    Amqp10Decoded,
    Amqp10Frame,
    Body,
    FrameType,
    Header,
)
from explorer.protocol.amqp10.secrets import secrets_in, shown
from explorer.protocol.amqp10.values import Array, Described, Symbol

__all__ = [
    "COMPOSITES",
    "HEARTBEAT",
    "Amqp10Decoded",
    "Amqp10Decoder",
    "Amqp10Frame",
    "Array",
    "Body",
    "Composite",
    "Described",
    "FrameType",
    "Header",
    "Role",
    "Symbol",
    "byte_map",
    "secrets_in",
    "shown",
]
