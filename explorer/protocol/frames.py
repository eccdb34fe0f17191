"""What the decoder produces: directions, decoded frames and decode failures.

Owns the value objects every other layer shares. Sans-I/O: imports no asyncio,
socket or Textual.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from pamqp.frame import FrameTypes

if TYPE_CHECKING:
    from explorer.protocol.amqp10.frames import Body, Header


class Direction(enum.Enum):
    """Which peer wrote the bytes."""

    #: Bytes the client library wrote to the broker.
    CLIENT_TO_BROKER = "c2b"
    #: Bytes the broker sent to the client library.
    BROKER_TO_CLIENT = "b2c"

    @property
    def sender(self) -> str:
        """The peer that wrote these bytes, as a word: client or broker."""
        return "client" if self is Direction.CLIENT_TO_BROKER else "broker"

    @property
    def arrow(self) -> str:
        """An arrow pointing from the sender to the receiver."""
        return "→" if self is Direction.CLIENT_TO_BROKER else "←"


#: Short names for the two directions, used wherever frames are read.
C2B, B2C = Direction.CLIENT_TO_BROKER, Direction.BROKER_TO_CLIENT


class Frame(NamedTuple):
    """One complete frame as it crossed the wire, with its decoded pamqp object.

    A NamedTuple rather than a dataclass: the decoder makes one per frame, and a
    tuple is built in less than half the time, immutable all the same.
    """

    #: The peer that sent it.
    direction: Direction
    #: Offset of its first byte in that direction's byte stream.
    offset: int
    #: Channel number: 0 for the connection itself, 1..channel_max otherwise.
    channel: int
    #: The exact bytes on the wire, frame header and frame-end octet included.
    raw: bytes
    #: The pamqp object: a method, ContentHeader, ContentBody, Heartbeat or
    #: ProtocolHeader.
    payload: FrameTypes | Header | Body
    #: Seconds (on the capture's clock) when the chunk that completed it arrived.
    t: float = 0.0

    @property
    def name(self) -> str:
        """pamqp's name for the frame: ``Connection.Start``, ``Heartbeat`` ..."""
        return self.payload.name

    @property
    def size(self) -> int:
        """Bytes on the wire."""
        return len(self.raw)


@dataclass(frozen=True, slots=True)
class DecodeFailure:
    """Bytes that can never become a frame; the direction stops decoding here."""

    #: The peer that sent the bytes.
    direction: Direction
    #: Offset in that direction's stream where the bad frame starts.
    offset: int
    #: The offending bytes (the frame that failed, or what was left of it).
    data: bytes
    #: What is wrong, in words a learner can follow.
    reason: str
    #: Seconds (on the capture's clock) when the failure was found.
    t: float = 0.0

    name = "DecodeFailure"


#: What a decoder yields: a frame, or bytes that can never become one.
Decoded = Frame | DecodeFailure
