"""What an AMQP 1.0 frame carries: a protocol header, or a performative.

Owns the two payloads of a 1.0 `Frame` (explorer.protocol.frames, shared
with 0-9-1, whose payloads are pamqp's): a protocol Header, or the Body of an
AMQP or SASL frame, named by the spec's performative. Sans-I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from explorer.protocol.amqp10.values import Described

#: What the spec calls a frame with no body, sent to keep an idle connection
#: alive (part 2, section 2.4.5), by the name 0-9-1 gives its own.
HEARTBEAT: Final = "heartbeat"
#: The protocol id of a header (part 5): what the bytes after it speak.
PROTOCOLS: Final = {0: "amqp", 2: "tls", 3: "sasl"}


class FrameType(enum.IntEnum):
    """The frame header's type octet."""

    #: A frame of the AMQP layer: a performative (open ... close), or empty.
    AMQP = 0
    #: A frame of the SASL layer: sasl-mechanisms ... sasl-outcome.
    SASL = 1


@dataclass(frozen=True, slots=True)
class Header:
    """A protocol header: ``AMQP``, a protocol id, and the version."""

    protocol_id: int
    major: int
    minor: int
    revision: int

    @property
    def name(self) -> str:
        """``amqp-header``, ``sasl-header``, ``tls-header`` (``protocol-header``
        for an id the spec does not define)."""
        return f"{PROTOCOLS.get(self.protocol_id, 'protocol')}-header"

    @property
    def is_amqp10(self) -> bool:
        """Whether it names AMQP 1.0.0 (a 0-9-1 client's header does not)."""
        return (self.major, self.minor, self.revision) == (1, 0, 0)


@dataclass(frozen=True, slots=True)
class Body:
    """What an AMQP or SASL frame carries after its header."""

    frame_type: FrameType
    #: The performative (or SASL frame body); None for an empty frame.
    performative: Described | None
    #: A transfer's payload: bytes of the message it carries (a part of it,
    #: when the message is split across transfers).
    payload: bytes = b""
    #: The sections of the message a transfer completes (header ... footer),
    #: read from the payloads of all its transfers; None for any other frame,
    #: a transfer with more to come, or an aborted one.
    message: tuple[Described, ...] | None = None

    @property
    def name(self) -> str:
        """The performative's name (``open``, ``sasl-init`` ...) or ``heartbeat``."""
        return HEARTBEAT if self.performative is None else self.performative.name

    @property
    def fields(self) -> dict[str, object]:
        """The performative's fields by the spec's names ({} for an empty frame)."""
        return {} if self.performative is None else self.performative.fields
