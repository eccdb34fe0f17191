"""Capture files: round trip, redaction, and clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from explorer.protocol import DecodeFailure
from explorer.protocol.frames import B2C, C2B
from explorer.protocol.stream import Chunk, StreamEnd
from explorer.recording.capture import (
    Capture,
    CaptureError,
    dumps,
    load,
    loads,
    redact_secrets,
)
from tests.conftest import CAPTURE_FILES, load_capture


def test_dumps_then_loads_is_identity(capture: Capture) -> None:
    again = loads(dumps(capture))
    assert again == capture


@pytest.mark.parametrize("path", CAPTURE_FILES, ids=[p.stem for p in CAPTURE_FILES])
def test_committed_captures_hold_no_password(path: Path) -> None:
    text = path.read_text()
    capture = load(path)
    assert ":***@" in capture.url
    assert capture.redactions, "the StartOk password was masked"
    assert capture.broker.startswith("RabbitMQ ")
    stream = capture.stream(C2B)
    for redaction in capture.redactions:
        hidden = stream[redaction.offset : redaction.offset + redaction.length]
        assert hidden == b"*" * redaction.length
    assert b"not-the-password".hex() not in text


def test_redaction_spans_chunk_boundaries() -> None:
    original = load_capture("happy-path")
    plain = Capture(url="amqp://guest:***@h/", recorded=original.recorded)
    whole = original.stream(C2B)
    (span,) = original.redactions
    start_ok_end = span.offset + span.length + 20
    # Put the password back, then cut the client stream into 3-byte chunks.
    restored = whole[: span.offset] + b"guest" + whole[span.offset + span.length :]
    plain.events = [
        Chunk(0.0, C2B, restored[i : i + 3]) for i in range(0, start_ok_end, 3)
    ]
    redact_secrets(plain)
    assert plain.redactions == original.redactions
    assert plain.stream(C2B)[:start_ok_end] == whole[:start_ok_end]


def test_stream_end_round_trips_and_reports_cut_frame() -> None:
    capture = Capture(url="amqp://h/", recorded="2026-01-01T00:00:00+00:00")
    capture.events = [
        Chunk(0.1, B2C, b"\x01\x00\x00\x00\x00\x00\x10\x00"),
        StreamEnd(0.2, B2C, "connection lost: Connection reset by peer"),
    ]
    again = loads(dumps(capture))
    assert again.events == capture.events
    (failure,) = again.decode(B2C)
    assert isinstance(failure, DecodeFailure)
    assert "closed in the middle of a frame" in failure.reason


HEADER = '{"format": 1, "url": "u", "recorded": "r"}\n'
BAD_FILES = {
    "empty": ("", "the file is empty"),
    "not json": ("{nope\n", "line 1: not JSON"),
    "wrong format": (
        '{"format": 99, "url": "u", "recorded": "r"}\n',
        "capture format 99",
    ),
    "header incomplete": ('{"format": 1}\n', "line 1: the header is incomplete"),
    "bad chunk": (
        HEADER + '{"t": 0, "dir": "sideways", "hex": ""}\n',
        "line 2: not a chunk",
    ),
    "bad hex": (
        HEADER + '\n{"t": 0, "dir": "c2b", "hex": "zz"}\n',
        "line 3: not a chunk",
    ),
    "array line": (
        '{"format": 1, "url": "u", "recorded": "r"}\n[1]\n',
        "line 2: expected a JSON object",
    ),
}


@pytest.mark.parametrize(("text", "message"), BAD_FILES.values(), ids=BAD_FILES.keys())
def test_bad_capture_files_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(CaptureError, match=message):
        loads(text)


def test_missing_file_is_a_capture_error(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="cannot read"):
        load(tmp_path / "nothing.jsonl")
