"""Captures: what the tap saw, as JSON lines a person can read and diff.

Owns the capture file format. Line 1 is a header: format version, broker
product and version, the URL without its password, the date, the endpoints and
where secret bytes were masked. Every further line is one chunk exactly as it
was handed over (time, direction, bytes as hex), the end of one direction, or
one event of the lifecycle engine that recorded it (see explorer.recording.eventlog).
Format 2 is a recording written as it goes (explorer.recording.journal): header facts
learnt later follow as ``{"t", "header": {...}}`` lines, and a file still in
format 2 is one whose recording never finished. Reading a file checks every
value it uses, and anything wrong is a CaptureError naming its line. What a
capture holds, and masking its secrets, is explorer.recording.model; its names
are exported here too, so a capture and its file are one import.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Final

from explorer.protocol.frames import Direction
from explorer.protocol.stream import Chunk, StreamEnd, WireEvent
from explorer.recording.model import (
    Capture,
    Redaction,
    masked,
    redact_secrets,
    redactions_in,
)

__all__ = [
    "FORMAT_VERSION",
    "MAX_DIGITS",
    "MAX_SECONDS",
    "STREAMED_VERSION",
    "Capture",
    "CaptureError",
    "Redaction",
    "dumps",
    "event_record",
    "header_record",
    "load",
    "loads",
    "masked",
    "redact_secrets",
    "redaction_record",
    "redactions_in",
    "save",
]

FORMAT_VERSION: Final = 1
#: The format of a capture written line by line as the recording goes; a file
#: is rewritten in FORMAT_VERSION when its recording finishes.
STREAMED_VERSION: Final = 2
#: A capture's clock starts at 0 s; no recording runs anywhere near this long.
MAX_SECONDS: Final = 1e9
#: Longest integer a capture line may hold: enough for any offset or count.
MAX_DIGITS: Final = 40
#: The header's facts that are text.
_HEADER_TEXTS: Final = (
    "url", "recorded", "broker", "client", "client_address", "broker_address",
)  # fmt: skip


class CaptureError(Exception):
    """A capture file that cannot be read, with the line that is wrong."""


def dumps(capture: Capture) -> str:
    """The capture as JSON lines, header first."""
    records = [event_record(event) for event in capture.events] + capture.log
    records.sort(key=lambda record: float(record["t"]))  # stable: wire order kept
    version = STREAMED_VERSION if capture.cut else FORMAT_VERSION
    lines = [json.dumps(header_record(capture, version))]
    lines += [json.dumps(record) for record in records]
    return "\n".join(lines) + "\n"


def header_record(capture: Capture, version: int = FORMAT_VERSION) -> dict[str, Any]:
    """Line 1 of a capture file: the format and what is known of the connection."""
    return {
        "format": version,
        "broker": capture.broker,
        "client": capture.client,
        "url": capture.url,
        "recorded": capture.recorded,
        "client_address": capture.client_address,
        "broker_address": capture.broker_address,
        "redacted": [redaction_record(r) for r in capture.redactions],
    }


def redaction_record(redaction: Redaction) -> dict[str, Any]:
    """How a header lists one masked span."""
    return {
        "dir": redaction.direction.value,
        "offset": redaction.offset,
        "length": redaction.length,
        "what": redaction.what,
    }


def event_record(event: WireEvent) -> dict[str, Any]:
    """The capture line for one chunk or stream end."""
    record: dict[str, Any] = {"t": round(event.t, 6), "dir": event.direction.value}
    if isinstance(event, Chunk):
        record["hex"] = event.data.hex()
    else:
        record["end"] = event.reason
    return record


def loads(text: str) -> Capture:
    """Parse JSON lines written by `dumps`.

    Raises:
        CaptureError: naming the first line that is not a valid capture line.
    """
    lines = text.splitlines()
    if not lines:
        raise CaptureError("the file is empty: a capture starts with a header line")
    header = _json_object(lines[0], 1)
    version = header.get("format")
    if version not in (FORMAT_VERSION, STREAMED_VERSION) or isinstance(version, bool):
        raise CaptureError(
            f"line 1: capture format {version!r} is not a supported format "
            f"({FORMAT_VERSION}, or {STREAMED_VERSION} for a recording that did "
            "not finish)"
        )
    capture = Capture(url="", recorded="", cut=version == STREAMED_VERSION)
    _apply_header(capture, header, 1)
    if not any(line.strip() for line in lines[1:]):
        raise CaptureError(
            "line 1: the capture ends after its header: nothing was recorded"
            + (" (its recording was cut before anything came)" * capture.cut)
        )
    for number, line in enumerate(lines[1:], start=2):
        if line.strip():
            _add_record(capture, _json_object(line, number), number)
    return capture


def _apply_header(capture: Capture, header: dict[str, Any], number: int) -> None:
    """Take the header facts of line `number` (line 1, or a later header line)."""
    try:
        for key in _HEADER_TEXTS:
            if key in header:
                setattr(capture, key, _text(header[key], key))
        redacted = header.get("redacted", [])
        if not isinstance(redacted, list):
            raise ValueError("redacted is not a list")
        capture.redactions += [_redaction(r) for r in redacted]
    except (KeyError, ValueError, TypeError) as exc:
        raise CaptureError(
            f"line {number}: the header is incomplete or wrong ({exc})"
        ) from exc
    if number == 1 and not (capture.url and capture.recorded):
        missing = "url" if not capture.url else "recorded"
        raise CaptureError(
            f"line 1: the header is incomplete or wrong (no {missing!r})"
        )


def _redaction(record: object) -> Redaction:
    if not isinstance(record, dict):
        raise TypeError(f"a redacted span is {type(record).__name__}, not an object")
    return Redaction(
        _direction(record["dir"]),
        _count(record["offset"], "offset"),
        _count(record["length"], "length"),
        _text(record["what"], "what"),
    )


def _add_record(capture: Capture, record: dict[str, Any], number: int) -> None:
    """Add the record on line `number`: a chunk, an end, an event or header facts."""
    try:
        t = _seconds(record.get("t"))
        if "event" in record:
            _text(record["event"], "event")
            capture.log.append(record)
            capture.log_lines.append(number)
        elif "header" in record and capture.cut:
            if not isinstance(record["header"], dict):
                raise TypeError("header is not an object")
            _apply_header(capture, record["header"], number)
        elif "hex" in record:
            data = _hex(record["hex"])
            capture.events.append(Chunk(t, _direction(record.get("dir")), data))
        elif "end" in record:
            reason = _text(record["end"], "end")
            capture.events.append(StreamEnd(t, _direction(record.get("dir")), reason))
        else:
            raise ValueError(
                'a chunk has "hex", an end "end", an event "event"; this line '
                "has none of them"
            )
    except (KeyError, ValueError, TypeError) as exc:
        raise CaptureError(f"line {number}: not a chunk or end record ({exc})") from exc


def _seconds(value: object) -> float:
    """A record's "t": seconds on the capture's clock."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"t is {_shown(value)}, not a number of seconds")
    if not (math.isfinite(value) and 0 <= value <= MAX_SECONDS):
        raise ValueError(
            f"t is {value!r}: a capture's clock runs from 0 to {MAX_SECONDS:.0e} s"
        )
    return float(value)


def _direction(value: object) -> Direction:
    if value not in ("c2b", "b2c"):
        raise ValueError(f'dir is {_shown(value)}, not "c2b" or "b2c"')
    return Direction(value)


def _hex(value: object) -> bytes:
    """The bytes a chunk's "hex" spells, two hex digits each."""
    if not isinstance(value, str):
        raise TypeError(f"hex is {_shown(value)}, not a string of hex digits")
    digits = value.replace(" ", "")
    if len(digits) % 2:
        raise ValueError(
            f"hex has {len(digits)} digits, an odd number: each byte is two"
        )
    bad = next((c for c in digits if c not in "0123456789abcdefABCDEF"), None)
    if bad is not None:
        raise ValueError(f"hex holds {bad!r} at {digits.index(bad)}, not a hex digit")
    return bytes.fromhex(digits)


def _count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} is {_shown(value)}, not a count of bytes")
    return value


def _text(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} is {_shown(value)}, not a string")
    return value


def _shown(value: object) -> str:
    """A JSON value, shortened, for a message about it."""
    text = json.dumps(value) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _json_object(line: str, number: int) -> dict[str, Any]:
    try:
        value = json.loads(line, parse_constant=_constant, parse_int=_integer)
    except json.JSONDecodeError as exc:
        raise CaptureError(f"line {number}: not JSON ({exc.msg})") from exc
    except RecursionError as exc:
        raise CaptureError(
            f"line {number}: not a capture line (JSON nested too deep to read)"
        ) from exc
    except ValueError as exc:  # from _constant or _integer
        raise CaptureError(f"line {number}: not a capture line ({exc})") from exc
    if not isinstance(value, dict):
        raise CaptureError(f"line {number}: expected a JSON object")
    return value


def _constant(name: str) -> float:
    """Python's json reads NaN and Infinity, which JSON has not: refuse them."""
    raise ValueError(f"{name} is not a JSON number")


def _integer(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_DIGITS:
        raise ValueError(f"a number of {len(digits.lstrip('-'))} digits")
    return int(digits)


def load(path: Path) -> Capture:
    """Read a capture file.

    Raises:
        CaptureError: the file is missing, unreadable or not a capture.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CaptureError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise CaptureError(
            f"line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x})"
        ) from exc
    return loads(text)


def save(capture: Capture, path: Path) -> None:
    """Write a capture file (the caller has already masked secrets).

    The file is replaced whole or not at all: a recording streamed to `path`
    stays as it was if writing fails.
    """
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(dumps(capture), encoding="utf-8")
    partial.replace(path)
