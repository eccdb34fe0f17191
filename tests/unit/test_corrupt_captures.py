"""Corrupt capture files, through the command line: one line each, never a traceback.

Every file of tests/captures/corrupt/ is listed here with the message it gets.
`replay FILE --print` and `export FILE --pcap OUT` run in a subprocess, as a
learner runs them; each must exit 1 or 2 with that message on one line of
stderr, naming the line of the file that is wrong.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_cli

CORRUPT = Path(__file__).parents[1] / "captures" / "corrupt"

#: File -> what stderr says of it, for both replay --print and export.
UNREADABLE: dict[str, str] = {
    "deep-json.jsonl": "line 2: not a capture line (JSON nested too deep to read)",
    "long-number.jsonl": "line 2: not a capture line (a number of 5000 digits)",
    "t-nan.jsonl": "line 2: not a capture line (NaN is not a JSON number)",
    "t-infinity.jsonl": "line 2: not a capture line (Infinity is not a JSON number)",
    "t-1e300.jsonl": "line 2: not a chunk or end record (t is 1e+300: a capture's "
    "clock runs from 0 to 1e+09 s)",
    "t-negative.jsonl": "line 2: not a chunk or end record (t is -1.5",
    "t-string.jsonl": 'line 2: not a chunk or end record (t is "0.5", not a number',
    "t-boolean.jsonl": "line 2: not a chunk or end record (t is true, not a number",
    "odd-hex.jsonl": "line 2: not a chunk or end record (hex has 5 digits, an odd "
    "number: each byte is two)",
    "not-hex.jsonl": "line 2: not a chunk or end record (hex holds 'z' at 4",
    "hex-number.jsonl": "line 2: not a chunk or end record (hex is 414, not a string",
    "dir-unknown.jsonl": 'line 2: not a chunk or end record (dir is "up", not "c2b"',
    "end-number.jsonl": "line 2: not a chunk or end record (end is 7, not a string)",
    "neither.jsonl": 'line 2: not a chunk or end record (a chunk has "hex"',
    "event-number.jsonl": "line 2: not a chunk or end record (event is 3, not a",
    "array-line.jsonl": "line 2: expected a JSON object",
    "truncated-line.jsonl": "line 7: not JSON (Unterminated string",
    "truncated-header.jsonl": "line 1: not JSON (Unterminated string",
    "header-only.jsonl": "line 1: the capture ends after its header: nothing was "
    "recorded",
    "empty.jsonl": "the file is empty: a capture starts with a header line",
    "format-unknown.jsonl": "line 1: capture format 99 is not a supported format",
    "header-url-number.jsonl": "line 1: the header is incomplete or wrong (url is 5",
    "header-redacted-object.jsonl": "line 1: the header is incomplete or wrong "
    "(redacted is not a list)",
    "redacted-offset-negative.jsonl": "line 1: the header is incomplete or wrong "
    "(offset is -4, not a count of bytes)",
    "not-utf8.jsonl": "line 2: not UTF-8 text (byte 0xff)",
}
#: Files whose chunks are sound but whose engine events are not: a replay
#: refuses them, an export (which uses only the chunks) writes them.
BROKEN_EVENTS: dict[str, str] = {
    "log-frame-missing.jsonl": "line 10: the engine event is wrong: not an engine "
    "event (no frame at c2b offset 99999)",
    "log-facts-list.jsonl": "line 3: the engine event is wrong: not an engine event "
    "(a report's facts are an object, its notes a list)",
    "log-phase-unknown.jsonl": "line 2: the engine event is wrong: not an engine "
    "event ('warp' is not a valid Phase)",
}
#: Files a replay shows but a pcap cannot hold.
NOT_FOR_PCAP: dict[str, str] = {
    "pcap-time-runs-out.jsonl": "pcap cannot store a packet 896779905 s after "
    "2106-02-07T06:28:15Z",
}


def assert_one_line(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode in (1, 2), result
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("amqp-explorer: "), line
    assert message in line, line


def test_every_corrupt_file_is_listed() -> None:
    listed = {*UNREADABLE, *BROKEN_EVENTS, *NOT_FOR_PCAP}
    assert {path.name for path in CORRUPT.glob("*.jsonl")} == listed


@pytest.mark.parametrize(("name", "message"), UNREADABLE.items(), ids=UNREADABLE)
def test_replay_and_export_say_what_is_wrong(
    name: str, message: str, tmp_path: Path
) -> None:
    path = str(CORRUPT / name)
    assert_one_line(run_cli("replay", path, "--print"), message)
    out = tmp_path / "out.pcap"
    assert_one_line(run_cli("export", path, "--pcap", str(out)), message)
    assert not out.exists()


@pytest.mark.parametrize(("name", "message"), BROKEN_EVENTS.items(), ids=BROKEN_EVENTS)
def test_broken_engine_events_stop_a_replay_not_an_export(
    name: str, message: str, tmp_path: Path
) -> None:
    path = str(CORRUPT / name)
    replayed = run_cli("replay", path, "--print")
    assert_one_line(replayed, message)
    assert replayed.stdout == ""
    out = tmp_path / "out.pcap"
    exported = run_cli("export", path, "--pcap", str(out))
    assert exported.returncode == 0, exported.stderr
    assert out.stat().st_size > 24


@pytest.mark.parametrize(("name", "message"), NOT_FOR_PCAP.items(), ids=NOT_FOR_PCAP)
def test_what_pcap_cannot_hold_is_refused(
    name: str, message: str, tmp_path: Path
) -> None:
    path = str(CORRUPT / name)
    assert run_cli("replay", path, "--print").returncode == 0
    out = tmp_path / "out.pcap"
    assert_one_line(run_cli("export", path, "--pcap", str(out)), message)
    assert not out.exists()
