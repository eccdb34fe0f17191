"""Watched connections kept as captures: what `watch -o DIR` writes.

Owns `capture_of`, which turns one connection relayed by the watch proxy into
a capture in the project's format (its chunks with the password masked, the
events its phases were inferred as, the client library from its StartOk, both
addresses, the upstream URL without its password), and `Keeper`, which writes
one capture file per connection into a directory: when the connection ends,
or, marked cut, for those still open when the watch stops. `amqp-explorer
replay FILE` opens one like any other capture.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from explorer.engine.events import EngineEvent, FrameObserved, PhaseStarted, Waiting
from explorer.engine.watched import WatchedConnection
from explorer.net.endpoint import redact
from explorer.protocol.queries import broker_named
from explorer.recording.capture import Capture, CaptureError, redact_secrets, save
from explorer.recording.eventlog import Record, to_record


def capture_of(connection: WatchedConnection, upstream_url: str) -> Capture:
    """The capture of one watched connection so far, its secrets masked.

    A connection still open (a side has not ended) is marked cut: the file
    holds what crossed up to now.
    """
    tap = connection.relay.tap
    started = datetime.fromtimestamp(time.time() - tap.now(), UTC)
    capture = Capture(
        url=redact(upstream_url),
        recorded=started.isoformat(timespec="seconds"),
        broker=broker_named(connection.frames),
        client=connection.client,
        client_address=tap.client_address,
        broker_address=tap.broker_address,
        events=list(tap.events),
        log=_records(connection.events),
        cut=not connection.relay.closed,
    )
    redact_secrets(capture)
    return capture


def _records(events: Iterable[EngineEvent]) -> list[Record]:
    """The events as capture lines, each at the time of the latest that has one."""
    records: list[Record] = []
    t = 0.0
    for event in events:
        if isinstance(event, FrameObserved):
            t = event.frame.t
        elif isinstance(event, PhaseStarted | Waiting):
            t = event.t
        records.append(to_record(event, t))
    return records


class Keeper:
    """Writes each watched connection's capture into one directory."""

    def __init__(self, directory: Path, upstream_url: str) -> None:
        """Keep captures in `directory` (made if missing).

        Raises:
            CaptureError: the directory cannot be made, or is not a directory.
        """
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CaptureError(
                f"cannot keep captures in {directory}: {exc.strerror or exc}"
            ) from exc
        self.directory = directory
        self.upstream_url = upstream_url
        #: The file each connection was kept in, by connection name.
        self.kept: dict[str, Path] = {}
        self._stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")

    def path_for(self, connection: WatchedConnection) -> Path:
        """Where `connection` is kept: this watch's start, its number, its port."""
        port = connection.name.rpartition(":")[2] or "unknown"
        number = connection.relay.number
        return self.directory / f"watch-{self._stamp}-{number:03}-{port}.jsonl"

    def keep(self, connection: WatchedConnection) -> Path:
        """Write `connection`'s capture as it is now (again, if kept before).

        Raises:
            OSError: the file cannot be written.
        """
        path = self.path_for(connection)
        save(capture_of(connection, self.upstream_url), path)
        self.kept[connection.name] = path
        return path

    def unkept(
        self, connections: Iterable[WatchedConnection]
    ) -> list[WatchedConnection]:
        """Those of `connections` not written yet: the ones still open, at a stop."""
        return [c for c in connections if c.name not in self.kept]
