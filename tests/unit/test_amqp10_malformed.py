"""Malformed AMQP 1.0 input: one clear failure, never an exception.

Each fault gives exactly one DecodeFailure, last, at the offset of the frame
that holds it, with a reason that says what is wrong; the same whatever the
chunking; and nothing is decoded after it. Arbitrary bytes, and the real
capture mutated, truncated, with bytes inserted or deleted, never make the
decoder or the byte map raise.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from explorer.protocol.amqp10.decoder import Amqp10Decoder
from explorer.protocol.amqp10.frames import Body
from explorer.protocol.amqp10.values import Described
from explorer.protocol.frames import B2C, C2B, DecodeFailure, Direction, Frame
from tests.unit.test_amqp10_support import (
    AMQP_HEADER,
    SASL_HEADER,
    assert_exact,
    committed,
    decode_all,
    described,
    frame,
    proton,
)

HEARTBEAT = frame(b"")
OPEN = frame(described(0x10, "me"))


def nested(depth: int) -> bytes:
    """An open whose container-id is a list nested `depth` deep (list8s)."""
    value = b"\x40"
    for _ in range(depth):
        value = bytes([0xC0, len(value) + 1, 1]) + value
    return b"\x00\x53\x10\xc0" + bytes([len(value) + 1, 1]) + value


#: name: (bytes after AMQP_HEADER, what the reason says, offset of the bad frame)
AFTER_AMQP_HEADER = {
    "size below the frame header": (
        b"\x00\x00\x00\x04\x02\x00\x00\x00",
        "this one says 4",
    ),
    "impossible size": (b"\x7f\xff\xff\xff\x02\x00\x00\x00", "is impossible here"),
    "doff below 2": (b"\x00\x00\x00\x08\x01\x00\x00\x00", "this one is 1"),
    "doff past the frame": (
        b"\x00\x00\x00\x08\x03\x00\x00\x00",
        "past the frame's 8 bytes",
    ),
    "unknown frame type": (
        b"\x00\x00\x00\x08\x02\x07\x00\x00",
        "frame type 0x07 is neither",
    ),
    "a SASL frame after the AMQP header": (
        frame(described(0x41, proton.symbol("PLAIN")), 1),
        "SASL is over by then",
    ),
    "unknown constructor": (
        frame(b"\x00\x53\x10\xc0\x03\x01\xff\x00"),
        "0xff is not a format code",
    ),
    "truncated composite": (
        frame(b"\x00\x53\x10\xc0\x20\x01\x40"),
        "fields (list8 of size 32) needs 32 bytes, 2 remain",
    ),
    "count past the size": (
        frame(b"\x00\x53\x10\xc0\x02\x05\x40"),
        "5 elements cannot fit",
    ),
    "bytes after the count's elements": (
        frame(b"\x00\x53\x10\xc0\x03\x01\x40\x40"),
        "1 bytes after its 1 elements",
    ),
    "a SASL performative in an AMQP frame": (
        frame(described(0x44, proton.ubyte(0))),
        "names the spec's sasl-outcome",
    ),
    "a descriptor the spec does not define": (
        frame(described(0x99)),
        "names no type the spec defines",
    ),
    "a body that is not described": (frame(b"\x45"), "starts with 0x45 (list0)"),
    "a performative over a map": (frame(b"\x00\x53\x10\xc1\x01\x00"), "over a map"),
    "bytes after an open": (
        OPEN[:3] + bytes([OPEN[3] + 1]) + OPEN[4:] + b"\x40",
        "only a transfer",
    ),
    "a transfer payload that is no message": (
        frame(described(0x14, proton.uint(0), proton.uint(0), b"t") + b"\x41"),
        "not a message section",
    ),
    "a string that is not UTF-8": (
        frame(b"\x00\x53\x10\xc0\x04\x01\xa1\x01\xff"),
        "UTF-8",
    ),
    "a symbol that is not ASCII": (
        frame(b"\x00\x53\x10\xc0\x0a\x01\xe0\x07\x01\xa3\x04\xc3\xa9ab"),
        "is ASCII",
    ),
    "a boolean octet that is neither": (
        frame(b"\x00\x53\x17\xc0\x03\x01\x56\x02"),
        "0x02",
    ),
    "a char that is no code point": (
        frame(b"\x00\x53\x10\xc0\x06\x01\x73\x00\x11\x00\x00"),
        "0x110000 is none",
    ),
    "an odd map count": (
        frame(b"\x00\x53\x10\xc0\x05\x01\xc1\x02\x01\x40"),
        "an odd count",
    ),
    "nested too deep": (frame(nested(80)), "nested more than 64 deep"),
    "an array of a hostile count of empty items": (
        frame(b"\x00\x53\x10\xc0\x0b\x01\xf0\x00\x00\x00\x05\xff\xff\xff\xff\x40"),
        "items of zero width",
    ),
    "an http reply": (
        b"HTTP/1.1 400 Bad Request\r\n\r\n",
        "read as text: 'HTTP/1.1 400 Bad'",
    ),
}
#: name: (the whole stream, what the reason says, offset of the fault)
STREAMS = {
    "an AMQP frame in the SASL layer": (
        SASL_HEADER + HEARTBEAT,
        "after the SASL header, before the AMQP header",
        8,
    ),
    "an empty SASL frame": (SASL_HEADER + frame(b"", 1), "this one is empty", 8),
    "a header that is not AMQP": (b"AMQX\x00\x01\x00\x00", "starts with 'AMQP'", 0),
    "bytes after a TLS header": (
        b"AMQP\x02\x01\x00\x00" + b"\x16\x03\x01",
        "TLS records",
        8,
    ),
    "bytes after a 0-9-1 header": (
        b"AMQP\x00\x00\x09\x01" + HEARTBEAT,
        "no AMQP 1.0 layer",
        8,
    ),
    "closed inside a frame": (
        AMQP_HEADER + OPEN[:-3],
        f"of the {len(OPEN)} the frame",
        8,
    ),
    "closed inside a frame header": (
        AMQP_HEADER + OPEN[:5],
        "5 bytes of a frame header",
        8,
    ),
}
CASES = {
    **{
        name: (AMQP_HEADER + HEARTBEAT + data, reason, len(AMQP_HEADER + HEARTBEAT))
        for name, (data, reason) in AFTER_AMQP_HEADER.items()
    },
    **STREAMS,
}


@pytest.mark.parametrize(("data", "reason", "offset"), CASES.values(), ids=CASES.keys())
def test_a_fault_gives_one_failure_whatever_the_chunking(
    data: bytes, reason: str, offset: int
) -> None:
    whole = decode_all(C2B, [data])
    failures = [i for i in whole if isinstance(i, DecodeFailure)]
    assert len(failures) == 1
    failure = whole[-1]
    assert isinstance(failure, DecodeFailure)
    assert reason in failure.reason
    assert failure.offset == offset
    assert failure.data == data[offset : offset + len(failure.data)]
    assert all(isinstance(i, Frame) for i in whole[:-1])
    assert decode_all(C2B, [bytes([b]) for b in data]) == whole


def test_nothing_is_decoded_after_a_failure() -> None:
    decoder = Amqp10Decoder(C2B)
    bad = frame(b"\x45")
    items = decoder.feed(AMQP_HEADER + bad, t=2.0)
    assert [type(i) for i in items] == [Frame, DecodeFailure]
    failure = items[-1]
    assert isinstance(failure, DecodeFailure)
    assert (failure.t, failure.data, decoder.failure) == (2.0, bad, failure)
    assert decoder.stopped
    assert decoder.feed(HEARTBEAT) == []
    assert decoder.close() is None


def test_a_fault_where_no_frame_starts_is_told_once_its_evidence_came() -> None:
    decoder = Amqp10Decoder(B2C)
    assert decoder.feed(b"\x00\x00\x00\x04\x02\x00\x00\x00") == []
    assert decoder.stopped
    assert decoder.failure is None
    (failure,) = decoder.feed(bytes(64))
    assert isinstance(failure, DecodeFailure)
    assert len(failure.data) == 64


def test_a_clean_close_and_a_half_frame_wait() -> None:
    decoder = Amqp10Decoder(C2B)
    assert decoder.feed(AMQP_HEADER + OPEN[:-1]) != []
    assert decoder.pending == len(OPEN) - 1
    (opened,) = decoder.feed(OPEN[-1:])
    assert isinstance(opened, Frame)
    assert opened.name == "open"
    assert decoder.close() is None


def check(data: bytes, cuts: list[int], direction: Direction = B2C) -> None:
    """The decoder's promises for any input, in any chunks."""
    pieces, previous = [], 0
    for cut in [*sorted(c % (len(data) + 1) for c in cuts), len(data)]:
        pieces.append(data[previous:cut])
        previous = max(previous, cut)
    items = decode_all(direction, pieces)
    failures = [i for i in items if isinstance(i, DecodeFailure)]
    assert len(failures) <= 1
    assert not failures or items[-1] is failures[0]
    position = 0
    for item in items:
        assert item.offset == position
        if isinstance(item, Frame):
            position += item.size
            assert_exact(item)
    if not failures:
        assert position == len(data)


CAPTURE = committed()
STREAMS_10 = [CAPTURE.stream(d) for d in Direction]


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from([b"", AMQP_HEADER, SASL_HEADER]),
    st.binary(max_size=400),
    st.lists(st.integers(min_value=0), max_size=6),
)
def test_arbitrary_bytes_never_raise(head: bytes, data: bytes, cuts: list[int]) -> None:
    check(head + data, cuts)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(STREAMS_10),
    st.lists(
        st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1, max_size=4
    ),
    st.lists(st.integers(min_value=0), max_size=6),
)
def test_mutated_captures_never_raise(
    stream: bytes, changes: list[tuple[int, int]], cuts: list[int]
) -> None:
    mutated = bytearray(stream)
    for where, octet in changes:
        mutated[where % len(stream)] = octet
    check(bytes(mutated), cuts)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(STREAMS_10),
    st.integers(min_value=0),
    st.binary(min_size=1, max_size=16),
    st.booleans(),
)
def test_insertions_and_deletions_never_raise(
    stream: bytes, where: int, extra: bytes, delete: bool
) -> None:
    at = where % len(stream)
    data = (
        stream[:at] + stream[at + len(extra) :]
        if delete
        else stream[:at] + extra + stream[at:]
    )
    check(data, [])


@pytest.mark.parametrize("direction", list(Direction), ids=lambda d: d.value)
def test_every_truncation_is_one_failure_unless_it_ends_a_frame(
    direction: Direction,
) -> None:
    stream = CAPTURE.stream(direction)
    boundaries = {0}
    for item in decode_all(direction, [stream]):
        boundaries.add(item.offset + len(item.raw) if isinstance(item, Frame) else 0)
    for cut in range(len(stream) + 1):
        items = decode_all(direction, [stream[:cut]])
        failures = [i for i in items if isinstance(i, DecodeFailure)]
        assert len(failures) == (cut not in boundaries), cut


def message_of(item: object) -> tuple[Described, ...] | None:
    assert isinstance(item, Frame)
    assert isinstance(item.payload, Body)
    return item.payload.message


def test_a_message_split_across_transfers_is_put_together() -> None:
    payload = bytes(proton.Message(body="x" * 300).encode())
    head, tail = payload[:100], payload[100:]

    def transfer(more: bool, part: bytes, aborted: bool = False) -> bytes:
        fields = [proton.uint(3), proton.uint(0), b"t", proton.uint(0), False, more]
        fields += [None, None, None, aborted]
        return frame(described(0x14, *fields) + part, 0, 2)

    stream = AMQP_HEADER + transfer(True, head) + transfer(False, tail)
    first, last = decode_all(C2B, [stream])[1:]
    assert message_of(first) is None
    message = message_of(last)
    assert message is not None
    assert message[-1] == Described(0x77, "x" * 300)
    assert isinstance(first, Frame)
    assert [c.name for c in assert_exact(first).children][-1] == "message part"
    aborted = transfer(True, head) + transfer(True, b"", aborted=True)
    items = decode_all(C2B, [AMQP_HEADER + aborted + transfer(False, payload)])
    assert [message_of(i) is None for i in items[1:]] == [True, True, False]
    assert message_of(items[-1]) == message
