"""Captures: what the tap saw, as JSON lines a person can read and diff.

Owns the capture file format. Line 1 is a header: format version, broker
product and version, the URL without its password, the date, the endpoints and
where secret bytes were masked. Every further line is one chunk exactly as it
was handed over (time, direction, bytes as hex), the end of one direction, or
one event of the lifecycle engine that recorded it (see explorer.eventlog).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from explorer.protocol.decoder import Decoded, FrameDecoder
from explorer.protocol.frames import Direction, Frame
from explorer.protocol.secrets import MASK, secrets_in

FORMAT_VERSION: Final = 1


class CaptureError(Exception):
    """A capture file that cannot be read, with the line that is wrong."""


@dataclass(frozen=True, slots=True)
class Chunk:
    """Bytes handed over in one piece, in one direction."""

    #: Seconds since the capture started.
    t: float
    direction: Direction
    data: bytes


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """One direction ended: the peer closed it, or the connection was lost."""

    t: float
    direction: Direction
    #: What ended it, in words: "closed by the broker", "connection reset" ...
    reason: str


Event = Chunk | StreamEnd


@dataclass(frozen=True, slots=True)
class Redaction:
    """Bytes replaced by ``*`` before the capture was written."""

    direction: Direction
    #: Offset in that direction's stream.
    offset: int
    length: int
    #: What was hidden, e.g. "password".
    what: str


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
    events: list[Event] = field(default_factory=list)
    #: The recording engine's own events, as records (empty for a bare capture).
    log: list[dict[str, Any]] = field(default_factory=list)

    def chunks(self, direction: Direction) -> Iterator[Chunk]:
        """The chunks sent in one direction, in order."""
        for event in self.events:
            if isinstance(event, Chunk) and event.direction is direction:
                yield event

    def stream(self, direction: Direction) -> bytes:
        """Everything sent in one direction, joined."""
        return b"".join(chunk.data for chunk in self.chunks(direction))

    def decode(self, direction: Direction) -> list[Decoded]:
        """Frames (and a failure, if any) of one direction, chunk by chunk."""
        decoder = FrameDecoder(direction)
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
        Redaction(client, item.offset + secret.offset, secret.length, secret.what)
        for item in capture.decode(client)
        if isinstance(item, Frame)
        for secret in secrets_in(item)
    ]
    if not found:
        return
    events: list[Event] = []
    position = 0
    for event in capture.events:
        if isinstance(event, Chunk) and event.direction is client:
            event = Chunk(event.t, client, _masked(event.data, position, found))
            position += len(event.data)
        events.append(event)
    capture.events = events
    capture.redactions += found


def _masked(data: bytes, position: int, spans: list[Redaction]) -> bytes:
    """`data`, which starts at stream offset `position`, with `spans` masked."""
    out = bytearray(data)
    for span in spans:
        start = max(span.offset, position) - position
        stop = min(span.offset + span.length, position + len(data)) - position
        if start < stop:
            out[start:stop] = MASK * (stop - start)
    return bytes(out)


def dumps(capture: Capture) -> str:
    """The capture as JSON lines, header first."""
    header = {
        "format": FORMAT_VERSION,
        "broker": capture.broker,
        "client": capture.client,
        "url": capture.url,
        "recorded": capture.recorded,
        "client_address": capture.client_address,
        "broker_address": capture.broker_address,
        "redacted": [
            {
                "dir": r.direction.value,
                "offset": r.offset,
                "length": r.length,
                "what": r.what,
            }
            for r in capture.redactions
        ],
    }
    records = [_event_record(event) for event in capture.events] + capture.log
    records.sort(key=lambda record: float(record["t"]))  # stable: wire order kept
    lines = [json.dumps(header)] + [json.dumps(record) for record in records]
    return "\n".join(lines) + "\n"


def _event_record(event: Event) -> dict[str, Any]:
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
    if header.get("format") != FORMAT_VERSION:
        raise CaptureError(
            f"line 1: capture format {header.get('format')!r} is not the supported "
            f"format {FORMAT_VERSION}"
        )
    try:
        capture = Capture(
            url=str(header["url"]),
            recorded=str(header["recorded"]),
            broker=str(header.get("broker", "")),
            client=str(header.get("client", "")),
            client_address=str(header.get("client_address", "")),
            broker_address=str(header.get("broker_address", "")),
            redactions=[
                Redaction(
                    Direction(r["dir"]),
                    int(r["offset"]),
                    int(r["length"]),
                    str(r["what"]),
                )
                for r in header.get("redacted", [])
            ],
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise CaptureError(
            f"line 1: the header is incomplete or wrong ({exc})"
        ) from exc
    for item in _events(lines[1:]):
        if isinstance(item, dict):
            capture.log.append(item)
        else:
            capture.events.append(item)
    return capture


def _events(lines: Iterable[str]) -> Iterator[Event | dict[str, Any]]:
    for number, line in enumerate(lines, start=2):
        if not line.strip():
            continue
        record = _json_object(line, number)
        if "event" in record:
            yield record
            continue
        try:
            t, direction = float(record["t"]), Direction(record["dir"])
            if "hex" in record:
                yield Chunk(t, direction, bytes.fromhex(record["hex"]))
            else:
                yield StreamEnd(t, direction, str(record["end"]))
        except (KeyError, ValueError, TypeError) as exc:
            raise CaptureError(
                f"line {number}: not a chunk or end record ({exc})"
            ) from exc


def _json_object(line: str, number: int) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        raise CaptureError(f"line {number}: not JSON ({exc.msg})") from exc
    if not isinstance(value, dict):
        raise CaptureError(f"line {number}: expected a JSON object")
    return value


def load(path: Path) -> Capture:
    """Read a capture file.

    Raises:
        CaptureError: the file is missing, unreadable or not a capture.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CaptureError(f"cannot read {path}: {exc}") from exc
    return loads(text)


def save(capture: Capture, path: Path) -> None:
    """Write a capture file (the caller has already masked secrets)."""
    path.write_text(dumps(capture), encoding="utf-8")
