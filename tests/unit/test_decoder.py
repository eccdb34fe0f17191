"""The decoder: same frames whatever the chunking, lossless, and never raising."""

from __future__ import annotations

import datetime
import random
import struct
import tracemalloc

import pytest
from pamqp import base, body, commands, header
from pamqp import frame as pamqp_frame

from explorer.protocol import DecodeFailure, Direction, Frame, FrameDecoder
from explorer.protocol.decoder import FAILURE_BYTES
from explorer.protocol.stream import Chunk
from explorer.recording.capture import Capture

B2C = Direction.BROKER_TO_CLIENT


def decode_all(
    direction: Direction, pieces: list[bytes]
) -> list[Frame | DecodeFailure]:
    decoder = FrameDecoder(direction)
    out: list[Frame | DecodeFailure] = []
    for piece in pieces:
        out += decoder.feed(piece)
    return out


def signature(items: list[Frame | DecodeFailure]) -> list[tuple[object, ...]]:
    return [
        (i.offset, i.channel, i.raw, i.name)
        if isinstance(i, Frame)
        else (i.offset, i.reason)
        for i in items
    ]


def test_capture_chunks_decode_to_frames_only(
    capture: Capture, direction: Direction
) -> None:
    items = capture.decode(direction)
    assert items, "every capture has traffic both ways"
    assert all(isinstance(i, Frame) for i in items)


def test_whole_byte_by_byte_and_every_split_agree(
    capture: Capture, direction: Direction
) -> None:
    stream = capture.stream(direction)
    whole = signature(decode_all(direction, [stream]))
    assert signature(decode_all(direction, [bytes([b]) for b in stream])) == whole
    for cut in range(1, len(stream)):
        assert (
            signature(decode_all(direction, [stream[:cut], stream[cut:]])) == whole
        ), cut


def test_chunks_as_recorded_agree_with_whole_stream(
    capture: Capture, direction: Direction
) -> None:
    recorded = [
        e.data
        for e in capture.events
        if isinstance(e, Chunk) and e.direction is direction
    ]
    assert signature(decode_all(direction, recorded)) == signature(
        decode_all(direction, [capture.stream(direction)])
    )


def test_raw_bytes_give_back_the_stream(capture: Capture, direction: Direction) -> None:
    frames = [i for i in capture.decode(direction) if isinstance(i, Frame)]
    assert b"".join(f.raw for f in frames) == capture.stream(direction)
    offsets = [f.offset for f in frames]
    assert offsets == [sum(len(f.raw) for f in frames[:n]) for n in range(len(frames))]


def test_frame_carries_time_of_completing_chunk() -> None:
    raw = pamqp_frame.marshal(commands.Basic.Ack(delivery_tag=7), 1)
    decoder = FrameDecoder(B2C)
    assert decoder.feed(raw[:5], t=1.0) == []
    assert decoder.pending == 5
    (frame,) = decoder.feed(raw[5:], t=2.5)
    assert isinstance(frame, Frame)
    assert (frame.t, frame.channel, frame.name, frame.size) == (
        2.5,
        1,
        "Basic.Ack",
        len(raw),
    )
    assert isinstance(frame.payload, commands.Basic.Ack)
    assert frame.payload.delivery_tag == 7
    assert decoder.pending == 0


def test_complete_frame_then_partial_one_waits_for_the_rest() -> None:
    first = pamqp_frame.marshal(commands.Channel.Open(), 1)
    second = pamqp_frame.marshal(commands.Channel.OpenOk(), 1)
    decoder = FrameDecoder(B2C)
    items = decoder.feed(first + second[:4])
    assert [i.name for i in items] == ["Channel.Open"]
    assert decoder.pending == 4
    assert [i.name for i in decoder.feed(second[4:])] == ["Channel.OpenOk"]


def test_protocol_header_only_at_the_start() -> None:
    header = b"AMQP\x00\x00\x09\x01"
    decoder = FrameDecoder(Direction.CLIENT_TO_BROKER)
    assert decoder.feed(header[:3]) == []
    (frame,) = decoder.feed(header[3:])
    assert isinstance(frame, Frame)
    assert (frame.name, frame.raw) == ("ProtocolHeader", header)
    stray = FrameDecoder(B2C)
    assert stray.feed(b"x" + header) == []
    assert stray.stopped
    assert isinstance(stray.close(), DecodeFailure)


def test_zero_length_body_frame_is_a_frame() -> None:
    """pamqp refuses `03 0001 00000000 ce`; it is a legal (empty) body frame."""
    (frame,) = FrameDecoder(B2C).feed(b"\x03\x00\x01\x00\x00\x00\x00\xce")
    assert isinstance(frame, Frame)
    assert isinstance(frame.payload, body.ContentBody)
    assert frame.payload.value == b""


ACK = pamqp_frame.marshal(commands.Basic.Ack(delivery_tag=1), 1)
MALFORMED = {
    "bad frame end": (ACK[:-1] + b"\x00", "frame-end octet is 0x00"),
    "unknown frame type": (b"\x09" + ACK[1:], "frame type 9 is not an AMQP frame type"),
    "impossible size": (b"\x01\x00\x01\xff\xff\xff\xf0", "is impossible here"),
    "heartbeat with payload": (
        b"\x08\x00\x00\x00\x00\x00\x01\x00\xce",
        "carries no payload",
    ),
    "unknown method": (
        b"\x01\x00\x01\x00\x00\x00\x04\xde\xad\xbe\xef\xce",
        "a field does not parse: Unknown method index",
    ),
    "field does not parse": (
        b"\x01\x00\x01\x00\x00\x00\x05\x00\x3c\x00\x50\x01\xce",
        "a field does not parse",
    ),
    "http reply": (
        b"HTTP/1.1 400 Bad Request\r\n\r\n",
        "the bytes read as text: 'HTTP/1.1 400 Bad'",
    ),
}


#: Faults found where no frame can start: told once FAILURE_BYTES of evidence
#: have come, or (these are shorter) when the stream ends.
TOLD_AT_THE_END = {
    "unknown frame type", "impossible size", "heartbeat with payload", "http reply",
}  # fmt: skip


@pytest.mark.parametrize(("data", "reason"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_input_gives_one_failure_and_stops(
    data: bytes, reason: str, request: pytest.FixtureRequest
) -> None:
    decoder = FrameDecoder(B2C)
    items: list[Frame | DecodeFailure | None] = [*decoder.feed(ACK + data, t=3.0)]
    assert decoder.stopped
    if request.node.callspec.id in TOLD_AT_THE_END:
        assert decoder.failure is None
        items.append(decoder.close(t=5.0))
    assert [type(i) for i in items] == [Frame, DecodeFailure]
    failure = items[-1]
    assert isinstance(failure, DecodeFailure)
    assert reason in failure.reason
    assert (failure.offset, failure.direction, failure.t) == (len(ACK), B2C, 3.0)
    assert failure.data == data
    assert decoder.failure is failure
    assert decoder.feed(ACK) == []
    assert decoder.close() is None


def test_close_mid_frame_is_reported() -> None:
    decoder = FrameDecoder(B2C)
    assert [i.name for i in decoder.feed(ACK + ACK[:10])] == ["Basic.Ack"]
    failure = decoder.close(t=4.0)
    assert failure is not None
    assert failure.offset == len(ACK)
    assert failure.data == ACK[:10]
    assert f"10 bytes of the {len(ACK)} the frame needs" in failure.reason
    assert decoder.feed(ACK) == []


def test_close_inside_frame_header_and_clean_close() -> None:
    decoder = FrameDecoder(B2C)
    decoder.feed(ACK[:3])
    failure = decoder.close()
    assert failure is not None
    assert "3 bytes of a frame header" in failure.reason
    clean = FrameDecoder(B2C)
    clean.feed(ACK)
    assert clean.close() is None


HTML = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 120\r\n\r\n"
    + b"<html>"
    + b"x" * 114
)
#: Streams no decoder can frame past some point: each fault's evidence and reason
#: must not depend on where the chunks were cut.
NOT_AMQP = {
    "http reply, 47 bytes": b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
    "http page, more than FAILURE_BYTES": HTML,
    "garbage after a frame": ACK + bytes(range(200, 256)) * 2,
    "bad frame end": ACK + ACK[:-1] + b"\x00" + b"tail",
    "cut mid-frame": ACK + ACK[:9],
}


def told(pieces: list[bytes]) -> tuple[object, ...]:
    """The failure a stream gives, fed in these pieces and then closed."""
    decoder = FrameDecoder(B2C)
    items = [item for piece in pieces for item in decoder.feed(piece)]
    failures = [i for i in items if isinstance(i, DecodeFailure)]
    if not failures:
        end = decoder.close()
        assert end is not None
        failures.append(end)
    (failure,) = failures
    return failure.offset, failure.data, failure.reason


@pytest.mark.parametrize("stream", NOT_AMQP.values(), ids=NOT_AMQP.keys())
def test_a_failures_evidence_does_not_depend_on_the_chunks(stream: bytes) -> None:
    whole = told([stream])
    assert told([bytes([b]) for b in stream]) == whole
    for cut in range(1, len(stream)):
        assert told([stream[:cut], stream[cut:]]) == whole, cut
    assert told([stream[:7], stream[7:]]) == whole


def test_the_http_reply_is_shown_whole_however_it_arrives() -> None:
    reply = NOT_AMQP["http reply, 47 bytes"]
    offset, data, reason = told([reply[:7], reply[7:]])
    assert (offset, data) == (0, reply)
    assert str(reason).endswith("the bytes read as text: 'HTTP/1.1 400 Bad'")


def test_a_long_reply_is_told_once_its_evidence_is_in() -> None:
    decoder = FrameDecoder(B2C)
    assert decoder.feed(HTML[: FAILURE_BYTES - 1], t=1.0) == []
    assert decoder.stopped
    (failure,) = decoder.feed(HTML[FAILURE_BYTES - 1 :], t=2.0)
    assert isinstance(failure, DecodeFailure)
    assert (failure.data, failure.t) == (HTML[:FAILURE_BYTES], 1.0)
    assert decoder.pending == 0
    assert decoder.close() is None


def test_a_frame_in_tiny_chunks_is_held_at_about_its_size() -> None:
    """Pending bytes are one growing buffer, not one object per chunk."""
    raw = pamqp_frame.marshal(body.ContentBody(bytes(256 * 1024)), 1)
    decoder = FrameDecoder(B2C)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for start in range(0, len(raw) - 2, 2):
            assert decoder.feed(raw[start : start + 2]) == []
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < 1.25 * len(raw), held
    (frame,) = decoder.feed(raw[len(raw) - 2 :])
    assert isinstance(frame, Frame)
    assert frame.raw == raw


def payload_fields(payload: object) -> tuple[object, ...]:
    """A method's arguments, or a content header's fields and properties."""
    if isinstance(payload, header.ContentHeader):
        props = payload.properties
        head = (payload.class_id, payload.weight, payload.body_size)
        return (*head, *(getattr(props, n) for n in props.__slots__))
    assert isinstance(payload, base.Frame)
    return (payload.name, *(getattr(payload, n) for n in payload.__slots__))


def test_methods_and_headers_decode_as_pamqp_decodes_them() -> None:
    """The decoder's own reading of arguments and properties is pamqp's: for
    every method and random payloads (valid or not), and for marshalled headers."""
    rng = random.Random(12)
    frames: list[bytes] = []
    for index in commands.INDEX_MAPPING:
        for _ in range(40):
            payload = struct.pack(">i", index) + rng.randbytes(rng.randint(0, 40))
            frames.append(struct.pack(">BHI", 1, 0, len(payload)) + payload + b"\xce")
    sent = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    values = {"content_type": "text/plain", "delivery_mode": 2, "priority": 9,
              "headers": {"a": 1, "b": [True, "x"]}, "message_id": "m1",
              "timestamp": sent}  # fmt: skip
    for _ in range(200):
        chosen = {n: v for n, v in values.items() if rng.random() < 0.5}
        properties = commands.Basic.Properties(**chosen)  # type: ignore[arg-type]
        frames.append(pamqp_frame.marshal(header.ContentHeader(0, 7, properties), 1))
        flags = rng.getrandbits(16) & ~1  # one flag word, random bytes after it
        data = struct.pack(">HHQH", 60, 0, 7, flags) + rng.randbytes(rng.randint(0, 30))
        frames.append(struct.pack(">BHI", 2, 1, len(data)) + data + b"\xce")
    for raw in frames:
        (item,) = FrameDecoder(B2C).feed(raw)
        error: Exception | None = None
        try:
            _, _, expected = pamqp_frame.unmarshal(raw)
        except Exception as exc:  # pamqp raises several types
            error = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc
        if error is not None:
            assert isinstance(item, DecodeFailure), raw.hex()
            assert str(error) in item.reason
            continue
        assert isinstance(item, Frame), raw.hex()
        assert payload_fields(item.payload) == payload_fields(expected), raw.hex()
