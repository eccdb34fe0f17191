"""The capture journal: a recording written to its file as it happens.

Owns Journal. The header goes first (format 2, with what is known at the
start); every chunk, stream end and engine event follows as its own line,
flushed at once, so a recorder interrupted or killed leaves a capture that
replays what it saw and says it was cut. The client's chunks wait until they
end on a frame boundary (framed as the connection's protocol, AMQP 0-9-1 or
1.0, frames them), so a password is masked before any of its bytes are
written; header facts learnt later (the TCP endpoints, the masked spans) follow
as header lines. When the recording finishes, `capture.save` replaces the file
with the whole capture in format 1.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from explorer.net.tap import Tap
from explorer.protocol.dialect import AMQP_0_9_1, Dialect
from explorer.protocol.frames import C2B, Frame
from explorer.protocol.stream import Chunk, WireEvent
from explorer.recording.capture import (
    STREAMED_VERSION,
    Capture,
    Redaction,
    event_record,
    header_record,
    masked,
    redaction_record,
    redactions_in,
)


class Journal:
    """Writes one recording's capture line by line, as the tap and engine tell it."""

    def __init__(
        self, out: TextIO, capture: Capture, tap: Tap, dialect: Dialect = AMQP_0_9_1
    ) -> None:
        """Write the header; then take the tap's events first, before the engine.

        Args:
            out: The capture file, open for writing.
            capture: The recording's capture: its header facts so far.
            tap: The tap of the connection being recorded.
            dialect: The protocol the connection speaks, whose frames hold
                the secrets to mask.
        """
        self._out = out
        self._tap = tap
        self._write(header_record(capture, STREAMED_VERSION))
        #: Frames the client's bytes so far, to find the secrets to mask.
        self._client = dialect.decoder(C2B)
        #: Client chunks not written yet: they end inside a frame.
        self._held: list[Chunk] = []
        #: Stream offset of the first held byte.
        self._position = 0
        self._endpoints_told = False
        # First of the listeners: a chunk is written before the engine's events
        # about its frames, so a capture cut between them still replays.
        tap.listeners.insert(0, self.wire)

    def wire(self, event: WireEvent) -> None:
        """Write a chunk or stream end (a client chunk once its frames are whole)."""
        if not self._endpoints_told and self._tap.client_address:
            self._endpoints_told = True
            self.header(
                event.t,
                client_address=self._tap.client_address,
                broker_address=self._tap.broker_address,
            )
        if isinstance(event, Chunk) and event.direction is C2B:
            self._client_chunk(event)
            return
        if event.direction is C2B:  # the client's end: nothing more will come
            self._write_held([])
        self._write(event_record(event))

    def event(self, record: dict[str, Any]) -> None:
        """Write one engine event, as explorer.recording.eventlog records it."""
        self._write(record)

    def header(self, t: float, **facts: Any) -> None:
        """Write header facts learnt at time `t`, as a header line."""
        self._write({"t": round(t, 6), "header": facts})

    def _client_chunk(self, chunk: Chunk) -> None:
        self._held.append(chunk)
        spans = [
            span
            for item in self._client.feed(chunk.data, chunk.t)
            if isinstance(item, Frame)
            for span in redactions_in(item)
        ]
        if self._client.pending and not self._client.stopped:
            return  # the chunk ends inside a frame: it may hold a secret
        self._write_held(spans)
        if spans:
            self.header(chunk.t, redacted=[redaction_record(s) for s in spans])

    def _write_held(self, spans: list[Redaction]) -> None:
        for held in self._held:
            data = masked(held.data, self._position, spans)
            self._write(event_record(Chunk(held.t, C2B, data)))
            self._position += len(held.data)
        self._held = []

    def _write(self, record: dict[str, Any]) -> None:
        self._out.write(json.dumps(record) + "\n")
        self._out.flush()
