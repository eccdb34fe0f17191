"""Incremental AMQP 1.0 decoder: one direction's bytes in, headers and frames out.

Owns framing (part 2, section 2.3; part 5): the 8-byte protocol headers that
open the stream and, after SASL, the AMQP layer; then frames of `size doff type
channel` (extended header, body), each body read by the byte map's readers;
and the messages transfers carry, put together from every transfer of a
delivery. Chunk boundaries never matter, not even to a failure's evidence.
Bytes that can never become a frame give one DecodeFailure (0-9-1's), after
which the direction stops; nothing raises. Sans-I/O.
"""

from __future__ import annotations

from typing import Final

from explorer.protocol.amqp10.bytemap import (
    FRAME_HEADER,
    WORD,
    read_performative,
    read_sections,
)
from explorer.protocol.amqp10.frames import (
    PROTOCOLS,
    Body,
    FrameType,
    Header,
)
from explorer.protocol.amqp10.values import Described

# 0-9-1's decoder words its failures, and keeps their evidence, the same way.
from explorer.protocol.decoder import DEFAULT_MAX_PAYLOAD, Stop, with_preview
from explorer.protocol.frames import Decoded, DecodeFailure, Direction, Frame
from explorer.protocol.walker import MalformedError

#: "AMQP", then protocol id, major, minor, revision.
HEADER_SIZE: Final = 8
_MAGIC: Final = b"AMQP"
_ARTICLE: Final = {FrameType.AMQP: "an", FrameType.SASL: "a"}


class Amqp10Decoder:
    """Decodes one direction of an AMQP 1.0 connection, whatever the chunks."""

    def __init__(
        self, direction: Direction, max_frame: int = DEFAULT_MAX_PAYLOAD
    ) -> None:
        """Start at offset 0 of a new stream.

        Args:
            direction: Which peer wrote the bytes fed to this decoder.
            max_frame: Frame sizes above this are reported as impossible (and
                messages put together from transfers larger than this).
        """
        self.direction = direction
        self.max_frame = max_frame
        self._buffer = bytearray()
        #: Stream offset of the first byte in `_buffer`.
        self._base = 0
        #: The protocol the last header named ("sasl", "amqp", ...); None
        #: before any header, when frames of either type are read.
        self._layer: str | None = None
        #: Payloads of the deliveries still coming, by (channel, handle).
        self._messages: dict[tuple[int, int], bytearray] = {}
        self._stop: Stop | None = None
        #: Set once the failure is told; nothing is decoded after.
        self.failure: DecodeFailure | None = None

    @property
    def offset(self) -> int:
        """Stream offset of the next byte not yet part of a decoded frame."""
        return self._base

    @property
    def pending(self) -> int:
        """Bytes received that do not complete a frame yet."""
        return len(self._buffer)

    @property
    def stopped(self) -> bool:
        """Whether the stream can no longer be framed (also while the
        failure's evidence is still arriving)."""
        return self._stop is not None or self.failure is not None

    def feed(self, data: bytes, t: float = 0.0) -> list[Decoded]:
        """Take the next chunk of the stream and return what it completes.

        Returns:
            The headers and frames the chunk completed, in order; a
            DecodeFailure last once the stream cannot be framed any further
            and the failure's evidence has arrived (`close` tells it with what
            came, if less).
        """
        if self.failure is not None:
            return []
        self._buffer += data
        out: list[Decoded] = []
        if self._stop is None:
            pos = self._frames(out, t)
            del self._buffer[:pos]
            self._base += pos
        if self._stop is not None and len(self._buffer) >= self._stop.evidence:
            out.append(self._tell())
        return out

    def close(self, t: float = 0.0) -> DecodeFailure | None:
        """The stream has ended; report a frame it cut short, if any."""
        if self.failure is not None or (self._stop is None and not self._buffer):
            return None
        if self._stop is None:
            have, need = len(self._buffer), self._length(bytes(self._buffer))
            wanted = f"of the {need} the frame needs" if need else "of a frame header"
            reason = f"the connection closed in the middle of a frame: {have} bytes"
            self._stop = Stop(f"{reason} {wanted}", t, have)
        return self._tell()

    def _frames(self, out: list[Decoded], t: float) -> int:
        """Decode what is complete at the start of the buffer into `out`.

        Returns:
            Where the first byte not decoded is; a fault leaves it at the bad
            frame and sets `_stop`.
        """
        buf, pos = self._buffer, 0
        while pos < len(buf):
            if self._layer in ("tls", "other"):
                self._stop = Stop(self._after_header(), t)
                return pos
            if self._layer in (None, "sasl") and buf[pos] == _MAGIC[0]:
                if len(buf) - pos < HEADER_SIZE:
                    return pos
                raw = bytes(buf[pos : pos + HEADER_SIZE])
                if raw[:4] != _MAGIC:
                    self._stop = Stop(
                        "a protocol header starts with 'AMQP', these bytes do not", t
                    )
                    return pos
                out.append(self._header(raw, self._base + pos, t))
                pos += HEADER_SIZE
                continue
            if len(buf) - pos < FRAME_HEADER.size:
                return pos
            size, doff, frame_type, channel = FRAME_HEADER.unpack_from(buf, pos)
            fault = self._bad_header(size, doff, frame_type)
            if fault:
                self._stop = Stop(fault, t)
                return pos
            if len(buf) - pos < size:
                return pos
            raw = bytes(buf[pos : pos + size])
            kind = FrameType(frame_type)
            try:
                body = self._body(raw, kind, channel)
            except MalformedError as problem:
                self._stop = Stop(
                    f"{_ARTICLE[kind]} {kind.name} frame does not parse: {problem}",
                    t,
                    size,
                )
                return pos
            channel = channel if kind is FrameType.AMQP else 0
            out.append(Frame(self.direction, self._base + pos, channel, raw, body, t))
            pos += size
        return pos

    def _header(self, raw: bytes, offset: int, t: float) -> Frame:
        header = Header(raw[4], raw[5], raw[6], raw[7])
        self._layer = PROTOCOLS.get(header.protocol_id, "other")
        if not header.is_amqp10:
            self._layer = "other"
        return Frame(self.direction, offset, 0, raw, header, t)

    def _bad_header(self, size: int, doff: int, frame_type: int) -> str:
        """Why a frame header cannot start a frame, or "" when it can."""
        if size < FRAME_HEADER.size:
            return f"a frame's size counts its 8-byte header, this one says {size}"
        if size > self.max_frame:
            return (
                f"a frame of {size} bytes is impossible here (the limit is "
                f"{self.max_frame}): the stream is out of step"
            )
        if doff < 2:
            return (
                "doff counts 4-byte words from the frame's start, at least the 2 "
                f"of its header; this one is {doff}"
            )
        if doff * WORD > size:
            return (
                f"doff {doff} puts the body at byte {doff * WORD}, past the "
                f"frame's {size} bytes"
            )
        if frame_type not in (FrameType.AMQP, FrameType.SASL):
            return (
                f"frame type 0x{frame_type:02x} is neither 0x00 (AMQP) nor 0x01 (SASL)"
            )
        if self._layer == "sasl" and frame_type != FrameType.SASL:
            return (
                "an AMQP frame (type 0x00) after the SASL header, before the "
                "AMQP header"
            )
        if self._layer == "amqp" and frame_type != FrameType.AMQP:
            return (
                "a SASL frame (type 0x01) after the AMQP header: SASL is over by then"
            )
        return ""

    def _after_header(self) -> str:
        """Why nothing after a TLS header, or one for another protocol, is read."""
        if self._layer == "tls":
            return (
                "after the TLS header the bytes are TLS records, which this "
                "decoder cannot read"
            )
        return (
            "after a protocol header for no AMQP 1.0 layer, the bytes are not "
            "AMQP 1.0 frames"
        )

    def _body(self, raw: bytes, frame_type: FrameType, channel: int) -> Body:
        node = read_performative(raw, frame_type)
        if node is None:
            return Body(frame_type, None)
        performative = node.value
        assert isinstance(performative, Described)
        if performative.name != "transfer":
            return Body(frame_type, performative)
        payload = raw[node.end :]
        message = self._transfer(channel, performative, payload)
        return Body(frame_type, performative, payload, message)

    def _transfer(
        self, channel: int, transfer: Described, payload: bytes
    ) -> tuple[Described, ...] | None:
        """The message this transfer completes, if it completes one."""
        fields = transfer.fields
        handle = fields["handle"]
        if not isinstance(handle, int):
            raise MalformedError(f"transfer: its handle is {handle!r}, not a uint")
        key = (channel, handle)
        pending = self._messages.pop(key, bytearray())
        if fields["aborted"] is True:
            return None
        pending += payload
        if len(pending) > self.max_frame:
            raise MalformedError(
                f"a message of more than {self.max_frame} bytes is impossible here"
            )
        if fields["more"] is True:
            self._messages[key] = pending
            return None
        data = bytes(pending)
        try:
            sections = read_sections(data, 0, len(data))
        except MalformedError as problem:
            raise MalformedError(f"the message this transfer ends: {problem}") from None
        return tuple(s.value for s in sections if isinstance(s.value, Described))

    def _length(self, left: bytes) -> int:
        """Total length of the frame or header that `left` begins, 0 if unknown."""
        if self._layer in (None, "sasl") and left[:1] == _MAGIC[:1]:
            return HEADER_SIZE
        if len(left) < FRAME_HEADER.size:
            return 0
        return int(FRAME_HEADER.unpack_from(left, 0)[0])

    def _tell(self) -> DecodeFailure:
        """The failure at `_base`, its evidence what has arrived of it."""
        assert self._stop is not None
        data = bytes(self._buffer[: self._stop.evidence])
        reason = with_preview(self._stop.reason, data)
        self.failure = DecodeFailure(
            self.direction, self._base, data, reason, self._stop.t
        )
        self._buffer = bytearray()
        return self.failure
