"""What a capture holds: its header facts, its chunks, and masked secrets.

Owns the Capture data model (what the tap saw, in order, with what is known of
the connection) and masking the secrets the client sent before a capture is
kept. Its file format is explorer.recording.capture, which re-exports these.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from explorer.protocol.dialect import Dialect, dialect_of
from explorer.protocol.frames import C2B, Decoded, DecodeFailure, Direction, Frame
from explorer.protocol.masking import MASK
from explorer.protocol.secrets import secrets_in
from explorer.protocol.stream import Chunk, WireEvent


@dataclass(frozen=True, slots=True)
class Redaction:
    """Bytes replaced by ``*`` before the capture was written."""

    direction: Direction
    #: Offset in that direction's stream.
    offset: int
    length: int
    #: What was hidden, e.g. "password".
    what: str


@dataclass(frozen=True, slots=True)
class Gap:
    """Bytes of one direction that a packet capture never saw.

    Where the next frame starts is lost with them, so nothing of that
    direction after a gap is kept (its bytes would decode as garbage); a
    replay tells the gap as a failure.
    """

    #: Seconds on the capture's clock when a packet showed bytes were missing.
    t: float
    direction: Direction
    #: Offset in that direction's stream of the first missing byte.
    offset: int
    #: How many bytes are missing.
    missing: int
    #: What was lost, what it means and what to do, in words.
    reason: str

    def failure(self) -> DecodeFailure:
        """The gap as the decoding failure it is: the direction stops here."""
        return DecodeFailure(self.direction, self.offset, b"", self.reason, self.t)


@dataclass(slots=True)
class Capture:
    """A recorded connection: its header facts and every chunk in order."""

    #: The URL with its password replaced by ``***``.
    url: str
    #: ISO 8601 date and time the recording started.
    recorded: str
    #: ``product version`` from Connection.Start, or "" when none arrived.
    broker: str = ""
    #: The client library that wrote the client's bytes, e.g. ``aiormq 7.2.4``.
    client: str = ""
    #: ``host:port`` of each end of the TCP connection, when it was made.
    client_address: str = ""
    broker_address: str = ""
    redactions: list[Redaction] = field(default_factory=list)
    events: list[WireEvent] = field(default_factory=list)
    #: The recording engine's own events, as records (empty for a bare capture).
    log: list[dict[str, Any]] = field(default_factory=list)
    #: The recording stopped before it finished (killed, interrupted): the file
    #: holds what was seen up to then.
    cut: bool = False
    #: The line of the file each `log` record was read from.
    log_lines: list[int] = field(default_factory=list)
    #: Why it was cut, when the file says (a packet file that ends inside a
    #: record); "" for a recorder that was stopped.
    cut_reason: str = ""
    #: Where a capture read from a packet file lost bytes (see Gap).
    gaps: list[Gap] = field(default_factory=list)

    def chunks(self, direction: Direction) -> Iterator[Chunk]:
        """The chunks sent in one direction, in order."""
        for event in self.events:
            if isinstance(event, Chunk) and event.direction is direction:
                yield event

    def stream(self, direction: Direction) -> bytes:
        """Everything sent in one direction, joined."""
        return b"".join(chunk.data for chunk in self.chunks(direction))

    @property
    def dialect(self) -> Dialect:
        """The protocol the client's first bytes speak: AMQP 0-9-1 or 1.0."""
        return dialect_of(
            b"".join(c.data for c in itertools.islice(self.chunks(C2B), 8))
        )

    def decode(self, direction: Direction) -> list[Decoded]:
        """Frames (and a failure, if any) of one direction, chunk by chunk,
        decoded as the dialect the client's first bytes speak (0-9-1 or 1.0)."""
        decoder = self.dialect.decoder(direction)
        out: list[Decoded] = []
        for event in self.events:
            if event.direction is not direction:
                continue
            if isinstance(event, Chunk):
                out += decoder.feed(event.data, event.t)
            elif (failure := decoder.close(event.t)) is not None:
                out.append(failure)
        return out


def redact_secrets(capture: Capture) -> None:
    """Mask every secret the client sent (a password in Start-Ok, say) in place.

    The masked bytes become ``*`` and keep their length, so every frame still
    decodes; each masked span is listed in `capture.redactions`.
    """
    client = Direction.CLIENT_TO_BROKER
    found = [
        span
        for item in capture.decode(client)
        if isinstance(item, Frame)
        for span in redactions_in(item)
    ]
    if not found:
        return
    events: list[WireEvent] = []
    position = 0
    for event in capture.events:
        if isinstance(event, Chunk) and event.direction is client:
            event = Chunk(event.t, client, masked(event.data, position, found))
            position += len(event.data)
        events.append(event)
    capture.events = events
    capture.redactions += found


def redactions_in(frame: Frame) -> list[Redaction]:
    """The spans of a frame to mask (a password, say), as stream offsets."""
    return [
        Redaction(
            frame.direction, frame.offset + secret.offset, secret.length, secret.what
        )
        for secret in secrets_in(frame)
    ]


def masked(data: bytes, position: int, spans: list[Redaction]) -> bytes:
    """`data`, which starts at stream offset `position`, with `spans` masked."""
    out = bytearray(data)
    for span in spans:
        start = max(span.offset, position) - position
        stop = min(span.offset + span.length, position + len(data)) - position
        if start < stop:
            out[start:stop] = MASK * (stop - start)
    return bytes(out)
