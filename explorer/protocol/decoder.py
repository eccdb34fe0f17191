"""Incremental AMQP 0-9-1 frame decoder: one direction's bytes in, frames out.

Owns framing (8-byte protocol header, then `type channel size payload 0xCE`)
and turning each complete frame into its pamqp object. Chunk boundaries never
matter, not even to a failure's evidence. Bytes that can never become a frame
give one DecodeFailure, after which the direction stops. Sans-I/O: imports no
asyncio, socket or Textual.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from pamqp import base, body, commands, constants, header, heartbeat
from pamqp import decode as pamqp_decode
from pamqp import frame as pamqp_frame
from pamqp.frame import FrameTypes
from pamqp.header import ProtocolHeader

from explorer.protocol.frames import Decoded, DecodeFailure, Direction, Frame

# pamqp reads field tables by RabbitMQ's errata, which dropped the 0-9-1
# grammar's 'U' (short-int, signed 16 bits). A client may still write it
# (RabbitMQ 3.10.8 answers 541 INTERNAL_ERROR): read it as the grammar says,
# so that such a frame is shown rather than ending the stream's decoding.
pamqp_decode.TABLE_MAPPING.setdefault(b"U", pamqp_decode.short_int)

#: Frame header: type (octet), channel (short), payload size (long).
FRAME_HEADER: Final = struct.Struct(">BHI")
HEADER_SIZE: Final = 7
#: A method frame's payload starts with its method id: class id and method id
#: read as one signed long, as pamqp reads it to look up the method.
METHOD_INDEX: Final = struct.Struct(">l")
METHOD_START: Final = HEADER_SIZE + METHOD_INDEX.size
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
#: Bytes kept as evidence from a position no frame can start at. The failure is
#: told once this many have arrived (or the stream ends), so the evidence, and
#: the text preview in its reason, are the same however the bytes were chunked:
#: enough for the first line of an HTTP reply or a server's banner.
FAILURE_BYTES: Final = 64
#: Leading bytes of the evidence shown as text when they are printable.
PREVIEW_BYTES: Final = 16


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
        #: Bytes received but not yet part of a frame, grown in place: a frame
        #: arriving in many small chunks is held at about its own size, not as
        #: one object per chunk, and copied out once, when it can complete.
        self._buffer = bytearray()
        #: Fewer pending bytes than this cannot complete a frame or show a fault.
        self._need = 0
        #: Stream offset of the first pending byte.
        self._base = 0
        #: Why framing stopped at `_base`, while the failure's evidence is
        #: still arriving in `_buffer`.
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
        """Whether the stream can no longer be framed.

        True from the moment a fault is found, also while its evidence is still
        being collected and `failure` is not told yet.
        """
        return self._stop is not None or self.failure is not None

    def feed(self, data: bytes, t: float = 0.0) -> list[Decoded]:
        """Take the next chunk of the stream and return what it completes.

        Args:
            data: Bytes exactly as they arrived.
            t: When they arrived, in seconds on the capture's clock.

        Returns:
            The frames the chunk completed, in order; a DecodeFailure last once
            the stream cannot be framed any further and the failure's evidence
            has arrived: the whole bad frame, or FAILURE_BYTES from where no
            frame can start (`close` tells it with what came, if fewer).
        """
        if self.failure is not None:
            return []
        buffer = self._buffer
        if len(buffer) + len(data) < self._need:  # inside the frame at the head
            buffer += data
            return []
        if buffer:
            buf = b"".join((buffer, data))
        elif type(data) is bytes:
            buf = data
        else:  # a bytearray the caller may reuse, say
            buf = bytes(data)
        out: list[Decoded] = []
        pos = 0 if self._stop is not None else self._frames(buf, out, t)
        buffer.clear()
        buffer += buf[pos:]
        self._base += pos
        if self._stop is not None:  # the fault's evidence: tell it once complete
            if len(buffer) >= self._stop.evidence:
                out.append(self._tell())
            self._need = self._stop.evidence
        return out

    def _frames(self, buf: bytes, out: list[Decoded], t: float) -> int:
        """Decode the complete frames at the start of `buf` into `out`.

        Returns:
            Where the first byte not decoded is (a fault leaves it at the bad
            frame and sets `_stop`). Sets `_need` to the bytes needed before
            trying again.
        """
        pos, end_of_data = 0, len(buf)
        if self._base == 0 and _starts_header(buf):
            if end_of_data < PROTOCOL_HEADER_SIZE:
                self._need = 0  # the next byte may show it is no header after all
                return 0
            pos = self._protocol_header(buf, out, t)
        # Everything the loop uses per frame is bound to a local name: this loop
        # is most of the decoder's cost (see bench/decode.py).
        append = out.append
        unpack_header = FRAME_HEADER.unpack_from
        method_frame, header_frame, frame = _method, _content_header, Frame
        content_body, new_heartbeat = body.ContentBody, heartbeat.Heartbeat
        method, content_header = constants.FRAME_METHOD, constants.FRAME_HEADER
        content, beat = constants.FRAME_BODY, constants.FRAME_HEARTBEAT
        frame_types, frame_end = FRAME_TYPES, constants.FRAME_END
        direction, base, max_payload = self.direction, self._base, self.max_payload
        while end_of_data - pos >= HEADER_SIZE:
            frame_type, channel, size = unpack_header(buf, pos)
            if (
                frame_type not in frame_types
                or size > max_payload
                or (size and frame_type == beat)
            ):
                self._stop = Stop(self._bad_header(frame_type, size), t)
                return pos
            end = pos + HEADER_SIZE + size + 1
            if end > end_of_data:
                self._need = end - pos
                return pos
            raw = buf[pos:end]
            if raw[-1] != frame_end:
                reason = (
                    f"the frame-end octet is 0x{raw[-1]:02x}, not 0xce: the size "
                    "field does not match the frame, or the stream is not AMQP"
                )
                self._stop = Stop(reason, t, len(raw))
                return pos
            try:
                if frame_type == method:
                    payload: FrameTypes = method_frame(raw)
                elif frame_type == content_header:
                    payload = header_frame(raw)
                elif frame_type == content:
                    payload = content_body(raw[HEADER_SIZE:-1])
                else:
                    payload = new_heartbeat()
            except Exception as exc:
                self._stop = Stop(_describe(exc), t, len(raw))
                return pos
            append(frame(direction, base + pos, channel, raw, payload, t))
            pos = end
        self._need = HEADER_SIZE
        return pos

    def close(self, t: float = 0.0) -> DecodeFailure | None:
        """The stream has ended; report a frame it cut short, if any.

        Args:
            t: When the stream ended, in seconds on the capture's clock.

        Returns:
            A DecodeFailure when bytes of an unfinished frame were left, or the
            failure found earlier whose evidence was still being collected.
        """
        if self.failure is not None or (self._stop is None and not self._buffer):
            return None
        if self._stop is None:
            have = len(self._buffer)
            need = self._frame_length(bytes(self._buffer[:HEADER_SIZE]))
            wanted = f"of the {need} the frame needs" if need else "of a frame header"
            reason = (
                f"the connection closed in the middle of a frame: {have} bytes {wanted}"
            )
            self._stop = Stop(reason, t, have)
        return self._tell()

    def _protocol_header(self, buf: bytes, out: list[Decoded], t: float) -> int:
        """Decode the complete protocol header at the start of the stream."""
        raw = buf[:PROTOCOL_HEADER_SIZE]
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

    def _frame_length(self, left: bytes) -> int:
        """Total length of the frame that `left` begins, 0 if unknown."""
        if self._base == 0 and _starts_header(left):
            return PROTOCOL_HEADER_SIZE
        if len(left) < HEADER_SIZE:
            return 0
        _, _, size = FRAME_HEADER.unpack_from(left, 0)
        return int(HEADER_SIZE + size + 1)

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


@dataclass(frozen=True, slots=True)
class Stop:
    """Why framing stopped, found before all of the failure's evidence came."""

    reason: str
    #: When the fault was found, on the capture's clock.
    t: float
    #: Bytes from the stop kept as evidence: the whole bad frame, or
    #: FAILURE_BYTES when no frame could be delimited there.
    evidence: int = FAILURE_BYTES


def _starts_header(buf: bytes) -> bool:
    """Whether the stream opens with (a prefix of) the protocol header's "AMQP"."""
    head = buf[:4]
    return bool(head) and constants.AMQP.startswith(head)


def _method(raw: bytes) -> base.Frame:
    """The method in a method frame, as pamqp's `_unmarshal_method_frame` gives it.

    Decodes the arguments straight from the frame by the method's plan: pamqp
    would first copy the payload, then copy it again without the method id.
    """
    command = None
    if len(raw) >= METHOD_START + 1:
        index = METHOD_INDEX.unpack_from(raw, HEADER_SIZE)[0]
        command = commands.INDEX_MAPPING.get(index)
    if command is not None:
        method: base.Frame = command()
        try:
            _unmarshal(method, _PLANS[command], raw[METHOD_START:-1])
        except Exception:
            pass  # fall through: pamqp raises the error, worded as it words it
        else:
            return method
    return pamqp_frame._unmarshal_method_frame(raw[HEADER_SIZE:-1])


Decode = Callable[[bytes], tuple[int, object]]
#: How to read a method's arguments: a pamqp decoder per name, None: packed bits.
Steps = tuple[tuple[tuple[str, ...], Decode | None], ...]
_BASIC_HEADER: Final = struct.Struct(">HHQ")
_BASIC: Final = commands.Basic.Properties
#: Basic's properties in wire order: name, flag bit, pamqp decoder.
_PROPERTIES: Final = tuple(
    (name, _BASIC.flags[name], pamqp_decode.METHODS[_BASIC.amqp_type(name)])
    for name in _BASIC.__slots__
)


def _plan(command: type[base.Frame]) -> Steps:
    """What pamqp's `Frame.unmarshal` looks up per frame, found once per method."""
    steps: list[tuple[tuple[str, ...], Decode | None]] = []
    for name in command.__slots__:
        kind = command.amqp_type(name)
        if kind != "bit":
            steps.append(((name,), pamqp_decode.METHODS[kind]))
        elif steps and steps[-1][1] is None and len(steps[-1][0]) < 8:
            steps[-1] = ((*steps[-1][0], name), None)  # packed in the same octet
        else:
            steps.append(((name,), None))
    return tuple(steps)


#: Each method's Steps, by its class.
_PLANS: Final = {command: _plan(command) for command in commands.INDEX_MAPPING.values()}


def _unmarshal(method: base.Frame, steps: Steps, data: bytes) -> None:
    """Set a method's arguments from its payload as pamqp's `unmarshal` would."""
    for names, decode in steps:
        if decode is None:
            octet, data = data[0], data[1:]
            for position, name in enumerate(names):
                setattr(method, name, octet >> position & 1 == 1)
        else:
            consumed, value = decode(data)
            setattr(method, names[0], value)
            if consumed:
                data = data[consumed:]


def _content_header(raw: bytes) -> header.ContentHeader:
    """A header frame's content header, as pamqp's `_unmarshal_header_frame` gives it.

    One flag word's properties are read by `_PROPERTIES`; more words, or bytes
    that do not decode, go to pamqp (which raises its error).
    """
    content = header.ContentHeader()
    try:
        if len(raw) < HEADER_SIZE + 15 or raw[HEADER_SIZE + 13] & 1:
            raise ValueError("too short for flags, or more than one flag word")
        fields = _BASIC_HEADER.unpack_from(raw, HEADER_SIZE)
        content.class_id, content.weight, content.body_size = fields
        flags = raw[HEADER_SIZE + 12] << 8 | raw[HEADER_SIZE + 13]
        data, properties = raw[HEADER_SIZE + 14 : -1], content.properties
        for name, flag, decode in _PROPERTIES:
            if flags & flag:
                consumed, value = decode(data)
                setattr(properties, name, value)
                data = data[consumed:]
    except Exception:
        return pamqp_frame._unmarshal_header_frame(raw[HEADER_SIZE:-1])
    return content


def _describe(exc: Exception) -> str:
    """Turn a pamqp decoding error into a sentence."""
    if isinstance(exc, RecursionError):  # pamqp reads each nested table by a call
        return (
            "a field does not parse: its field tables are nested too deep for "
            "pamqp, which reads each level with a recursive call, to decode"
        )
    parts = [str(arg) for arg in exc.args if isinstance(arg, str)]
    cause = exc.__cause__
    if cause is not None and str(cause) not in parts:
        parts.append(str(cause))
    detail = ": ".join(p for p in parts if p and p != "Unknown") or type(exc).__name__
    return f"a field does not parse: {detail}"


def with_preview(reason: str, data: bytes) -> str:
    """Add what the bytes look like when they read as text (an HTTP reply, say)."""
    head = data[:PREVIEW_BYTES]
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in head)
    if len(head) >= 4 and printable == len(head):
        return f"{reason}; the bytes read as text: {head.decode('ascii')!r}"
    return reason
