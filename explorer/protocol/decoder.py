"""Incremental AMQP 0-9-1 frame decoder: one direction's bytes in, frames out.

Owns framing (8-byte protocol header, then `type channel size payload 0xCE`)
and turning each complete frame into its pamqp object. Chunk boundaries never
matter. Bytes that can never become a frame give one DecodeFailure, after which
the direction stops. Sans-I/O: imports no asyncio, socket or Textual.
"""

from __future__ import annotations

import struct
from typing import Final

from pamqp import body, constants, heartbeat
from pamqp import frame as pamqp_frame
from pamqp.frame import FrameTypes
from pamqp.header import ProtocolHeader

from explorer.protocol.frames import DecodeFailure, Direction, Frame

#: Frame header: type (octet), channel (short), payload size (long).
FRAME_HEADER: Final = struct.Struct(">BHI")
HEADER_SIZE: Final = 7
#: The 8 bytes of a protocol header: "AMQP" then protocol id, major, minor, revision.
PROTOCOL_HEADER_SIZE: Final = 8
FRAME_TYPES: Final[dict[int, str]] = {
    constants.FRAME_METHOD: "method",
    constants.FRAME_HEADER: "content header",
    constants.FRAME_BODY: "content body",
    constants.FRAME_HEARTBEAT: "heartbeat",
}
#: Largest payload accepted before a size is called impossible. RabbitMQ's
#: default frame_max is 128 KiB; this leaves room for experiments with larger
#: frames while refusing the gigabyte "sizes" of a peer that is not speaking AMQP.
DEFAULT_MAX_PAYLOAD: Final = 64 * 1024 * 1024
#: At most this many bytes from an unframeable position are kept as evidence.
FAILURE_BYTES: Final = 256

Decoded = Frame | DecodeFailure


class FrameDecoder:
    """Decodes one direction of a connection, whatever the chunk boundaries."""

    def __init__(
        self, direction: Direction, max_payload: int = DEFAULT_MAX_PAYLOAD
    ) -> None:
        """Start at offset 0 of a new stream.

        Args:
            direction: Which peer wrote the bytes fed to this decoder.
            max_payload: Payload sizes above this are reported as impossible.
        """
        self.direction = direction
        self.max_payload = max_payload
        self._buffer = bytearray()
        #: Stream offset of the first byte in the buffer.
        self._base = 0
        #: Set once the stream can no longer be framed; nothing is decoded after.
        self.failure: DecodeFailure | None = None

    @property
    def offset(self) -> int:
        """Stream offset of the next byte not yet part of a decoded frame."""
        return self._base

    @property
    def pending(self) -> int:
        """Bytes received that do not complete a frame yet."""
        return len(self._buffer)

    def feed(self, data: bytes, t: float = 0.0) -> list[Decoded]:
        """Take the next chunk of the stream and return what it completes.

        Args:
            data: Bytes exactly as they arrived.
            t: When they arrived, in seconds on the capture's clock.

        Returns:
            The frames the chunk completed, in order; a DecodeFailure last if
            the stream cannot be framed any further.
        """
        if self.failure is not None:
            return []
        buf = self._buffer
        buf += data
        out: list[Decoded] = []
        pos, end_of_data = 0, len(buf)
        if self._base == 0 and _starts_header(buf):
            if end_of_data < PROTOCOL_HEADER_SIZE:
                return out
            pos = self._protocol_header(out, t)
        while self.failure is None and end_of_data - pos >= HEADER_SIZE:
            frame_type, channel, size = FRAME_HEADER.unpack_from(buf, pos)
            problem = self._bad_header(frame_type, size)
            if problem:
                self._fail(out, pos, bytes(buf[pos : pos + FAILURE_BYTES]), problem, t)
                break
            end = pos + HEADER_SIZE + size + 1
            if end > end_of_data:
                break
            raw = bytes(buf[pos:end])
            if raw[-1] != constants.FRAME_END:
                reason = (
                    f"the frame-end octet is 0x{raw[-1]:02x}, not 0xce: the size "
                    "field does not match the frame, or the stream is not AMQP"
                )
                self._fail(out, pos, raw, reason, t)
                break
            try:
                payload = _payload(frame_type, raw)
            except Exception as exc:
                self._fail(out, pos, raw, _describe(exc), t)
                break
            out.append(
                Frame(self.direction, self._base + pos, channel, raw, payload, t)
            )
            pos = end
        if pos:
            del buf[:pos]
            self._base += pos
        return out

    def close(self, t: float = 0.0) -> DecodeFailure | None:
        """The stream has ended; report a frame it cut short, if any.

        Args:
            t: When the stream ended, in seconds on the capture's clock.

        Returns:
            A DecodeFailure when bytes of an unfinished frame were left.
        """
        if self.failure is not None or not self._buffer:
            return None
        have = len(self._buffer)
        need = self._frame_length()
        wanted = f"of the {need} the frame needs" if need else "of a frame header"
        reason = (
            f"the connection closed in the middle of a frame: {have} bytes {wanted}"
        )
        out: list[Decoded] = []
        self._fail(out, 0, bytes(self._buffer), reason, t)
        return self.failure

    def _protocol_header(self, out: list[Decoded], t: float) -> int:
        """Decode the complete protocol header at the start of the stream."""
        raw = bytes(self._buffer[:PROTOCOL_HEADER_SIZE])
        header = ProtocolHeader()
        header.unmarshal(raw)
        out.append(Frame(self.direction, 0, 0, raw, header, t))
        return PROTOCOL_HEADER_SIZE

    def _bad_header(self, frame_type: int, size: int) -> str:
        """Why a frame header cannot start a frame, or "" when it can."""
        if frame_type not in FRAME_TYPES:
            known = ", ".join(f"{k} ({v})" for k, v in FRAME_TYPES.items())
            return f"frame type {frame_type} is not an AMQP frame type ({known})"
        if size > self.max_payload:
            return (
                f"a frame of {size} payload bytes is impossible here "
                f"(the limit is {self.max_payload}): the stream is out of step"
            )
        if frame_type == constants.FRAME_HEARTBEAT and size:
            return f"a heartbeat frame carries no payload, this one claims {size} bytes"
        return ""

    def _frame_length(self) -> int:
        """Total length of the frame at the head of the buffer, 0 if unknown."""
        if self._base == 0 and _starts_header(self._buffer):
            return PROTOCOL_HEADER_SIZE
        if len(self._buffer) < HEADER_SIZE:
            return 0
        _, _, size = FRAME_HEADER.unpack_from(self._buffer, 0)
        return int(HEADER_SIZE + size + 1)

    def _fail(
        self, out: list[Decoded], pos: int, data: bytes, reason: str, t: float
    ) -> None:
        self.failure = DecodeFailure(
            self.direction, self._base + pos, data, _with_preview(reason, data), t
        )
        out.append(self.failure)


def _starts_header(buf: bytearray) -> bool:
    """Whether the stream opens with (a prefix of) the protocol header's "AMQP"."""
    head = bytes(buf[:4])
    return bool(head) and constants.AMQP.startswith(head)


def _payload(frame_type: int, raw: bytes) -> FrameTypes:
    """Build the pamqp object for one complete, well-framed frame."""
    if frame_type == constants.FRAME_METHOD:
        return pamqp_frame._unmarshal_method_frame(raw[HEADER_SIZE:-1])
    if frame_type == constants.FRAME_HEADER:
        return pamqp_frame._unmarshal_header_frame(raw[HEADER_SIZE:-1])
    if frame_type == constants.FRAME_BODY:
        return body.ContentBody(raw[HEADER_SIZE:-1])
    return heartbeat.Heartbeat()


def _describe(exc: Exception) -> str:
    """Turn a pamqp decoding error into a sentence."""
    parts = [str(arg) for arg in exc.args if isinstance(arg, str)]
    cause = exc.__cause__
    if cause is not None and str(cause) not in parts:
        parts.append(str(cause))
    detail = ": ".join(p for p in parts if p and p != "Unknown") or type(exc).__name__
    return f"a field does not parse: {detail}"


def _with_preview(reason: str, data: bytes) -> str:
    """Add what the bytes look like when they read as text (an HTTP reply, say)."""
    head = data[:16]
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in head)
    if len(head) >= 4 and printable == len(head):
        return f"{reason}; the bytes read as text: {head.decode('ascii')!r}"
    return reason
