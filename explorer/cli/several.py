"""Several connections printed at once: `watch`'s, and a packet file's in `replay`.

Owns naming each connection in trace's output (explorer.cli.trace's printers):
with --json, trace's records, each with a "connection" key (the client's
address) first, and an "ended" record when its lifecycle ends (trace prints
none); as text, each of trace's lines after the connection's name (blank
lines stay blank). Owns too `replay` of any file it is given
(explorer.recording.sniffed opens it): a capture as `trace` printed it, or in
the explorer; a pcap's or pcapng's connections one after another, each named,
or listed in the explorer (explorer.ui.watching.replay_app).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from explorer.cli.trace import JsonPrinter, TextPrinter, short
from explorer.engine.events import EngineEvent, LifecycleEnded, Listener
from explorer.recording.eventlog import to_record

if TYPE_CHECKING:
    from explorer.lab.brokerview import BrokerView
    from explorer.recording.capture import Capture


def connection_printer(name: str, as_json: bool, out: TextIO) -> Listener:
    """What prints one connection's events to `out`, each naming it `name`."""
    if not as_json:
        text = TextPrinter(out)

        def lines(event: EngineEvent) -> None:
            for line in text.lines(event):
                print(f"{name}  {line}" if line else "", file=out)
            out.flush()

        return lines
    printer = JsonPrinter(out, {"connection": name})

    def records(event: EngineEvent) -> None:
        printer(event)
        if isinstance(event, LifecycleEnded):
            ended = {"connection": name, **to_record(event, printer.t)}
            print(json.dumps(ended), file=out, flush=True)

    return records


def view_printer(name: str, as_json: bool, out: TextIO) -> Callable[[BrokerView], None]:
    """What prints the broker's views of one connection (explorer.lab.brokerview)."""
    from explorer.lab.brokerview import record  # replay loads no lab

    def show(view: BrokerView) -> None:
        if as_json:
            print(json.dumps(record(name, view)), file=out, flush=True)
            return
        where = f"from {view.source}" if view.source else "not known"
        lines = [f"the broker's view of this connection, {where}"]
        lines += [f"   · {key}: {short(value)}" for key, value in view.values.items()]
        lines += [f"   ({text})" for text in (view.problem, view.note) if text]
        for line in lines:
            print(f"{name}  {line}", file=out)
        out.flush()

    return show


async def replay_connections(
    captures: list[Capture], *, as_json: bool = False, out: TextIO = sys.stdout
) -> int:
    """Print each capture's connection, named, one after another.

    Returns:
        The exit status: 1 when any connection failed, else 0.
    """
    from explorer.recording.replay import ReplayEngine

    status = 0
    for capture in captures:
        name = capture.client_address or "unknown address"
        if not as_json:
            print(f"{name}  {_heading(capture)}", file=out)
        engine = ReplayEngine(capture, connection_printer(name, as_json, out))
        status = max(status, int(not await engine.run()))
    return status


def _heading(capture: Capture) -> str:
    client = capture.client or "an unknown client"
    broker = capture.broker or "an unknown broker"
    return f"recording of {client} to {capture.url} ({broker}, {capture.recorded})"


def replay_file(path: Path, *, printing: bool, as_json: bool) -> int:
    """`amqp-explorer replay FILE`: printed (`printing`), or in the explorer.

    Raises:
        CaptureError: the file cannot be read or replayed (main exits 2).
    """
    from explorer.recording.packetfile import is_packet_file
    from explorer.recording.sniffed import open_captures

    captures = open_captures(path)
    with path.open("rb") as file:
        several = is_packet_file(file.read(4))
    if printing:
        from explorer.cli.trace import replay_trace

        if several:
            return asyncio.run(replay_connections(captures, as_json=as_json))
        return asyncio.run(replay_trace(captures[0], as_json=as_json))
    if several:
        from explorer.ui.watching import replay_app

        return replay_app(captures, str(path)).run() or 0
    from explorer.ui.app import ExplorerApp, replay

    return ExplorerApp(replay(path), source=str(path)).run() or 0
