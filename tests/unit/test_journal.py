"""The journal: a capture written line by line, readable wherever it is cut."""

from __future__ import annotations

import io

from pamqp import commands
from pamqp import frame as pamqp_frame

from explorer.net.tap import Tap
from explorer.protocol.frames import B2C, C2B
from explorer.protocol.stream import Chunk, StreamEnd
from explorer.recording.capture import Capture, Redaction, loads
from explorer.recording.journal import Journal

HEADER = b"AMQP\x00\x00\x09\x01"
START_OK = pamqp_frame.marshal(
    commands.Connection.StartOk(response="\0guest\0s3cret-pw", mechanism="PLAIN"), 0
)


def journal() -> tuple[io.StringIO, Tap]:
    out, tap = io.StringIO(), Tap()
    Journal(out, Capture(url="amqp://guest:***@h/", recorded="2026-12-01"), tap)
    return out, tap


def test_each_line_is_written_as_it_happens_and_reads_as_cut() -> None:
    out, tap = journal()
    assert loads(out.getvalue() + '{"t": 0, "event": "started", "phase": "tcp"}').cut
    tap.client_address, tap.broker_address = "127.0.0.1:4000", "127.0.0.1:5672"
    tap.record(Chunk(0.1, C2B, HEADER))
    tap.record(Chunk(0.2, B2C, b"\x01\x00"))
    capture = loads(out.getvalue())
    assert capture.cut
    assert (capture.client_address, capture.broker_address) == (
        "127.0.0.1:4000",
        "127.0.0.1:5672",
    )
    assert capture.stream(C2B) == HEADER
    assert capture.stream(B2C) == b"\x01\x00"


def test_a_password_is_masked_before_any_of_its_bytes_are_written() -> None:
    out, tap = journal()
    tap.record(Chunk(0.1, C2B, HEADER))
    cut = START_OK.index(b"s3cret") + 2  # the password spans two chunks
    tap.record(Chunk(0.2, C2B, START_OK[:cut]))
    assert b"s3".hex() not in out.getvalue()
    assert loads(out.getvalue()).stream(C2B) == HEADER  # the first half waits
    tap.record(Chunk(0.3, C2B, START_OK[cut:]))
    text = out.getvalue()
    assert b"s3cret".hex() not in text
    assert "s3cret" not in text
    capture = loads(text)
    assert capture.stream(C2B) == HEADER + START_OK.replace(b"s3cret-pw", b"*" * 9)
    offset = len(HEADER) + START_OK.index(b"s3cret")
    assert capture.redactions == [Redaction(C2B, offset, 9, "password")]


def test_the_clients_end_writes_what_was_held() -> None:
    out, tap = journal()
    tap.record(Chunk(0.1, C2B, HEADER + START_OK[:5]))
    tap.record(StreamEnd(0.2, C2B, "closed by the client"))
    capture = loads(out.getvalue())
    assert capture.stream(C2B) == HEADER + START_OK[:5]
    assert capture.events[-1] == StreamEnd(0.2, C2B, "closed by the client")
