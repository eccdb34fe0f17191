"""What crossed the wire, as data: byte chunks and the end of each direction.

Owns `Chunk`, `StreamEnd` and `WireEvent`, the vocabulary shared by the tap
that sees them, the engine that reads them, and the capture file that keeps
them. Sans-I/O: a value here was seen by someone else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from explorer.protocol.frames import Direction

#: How a stream end words the broker resetting the connection (an RST), which
#: RabbitMQ does at the end of every connection, after the client's FIN.
RESET_BY_BROKER: Final = "reset by the broker"


@dataclass(frozen=True, slots=True)
class Chunk:
    """Bytes handed over in one piece, in one direction."""

    #: Seconds since the capture started.
    t: float
    direction: Direction
    data: bytes


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """One direction ended: the peer closed it, or the connection was lost."""

    t: float
    direction: Direction
    #: What ended it, in words: "closed by the client", RESET_BY_BROKER ...
    reason: str


WireEvent = Chunk | StreamEnd
