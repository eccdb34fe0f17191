"""Captures from elsewhere: the AMQP connections in a tcpdump, tshark or Wireshark file.

Owns finding every AMQP 0-9-1 connection in a pcap or pcapng file, on any
port, by how its client's stream starts (the protocol header, ``AMQP`` and
four bytes), and making each one a Capture as the tap would have kept it: one
chunk per reassembled segment, timed from the connection's first packet, each
FIN and RST a stream end, the secrets masked. Bytes the file lacks become a
Gap, after which that direction is cut; a file that ends inside a record gives
what it held, cut. Owns too opening whatever file `replay` is given: a capture
(JSON lines) or a packet file, told apart by their first bytes.
"""

from __future__ import annotations

import heapq
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from explorer.protocol.decoder import FrameDecoder
from explorer.protocol.frames import B2C, C2B, Direction, Frame
from explorer.protocol.queries import broker_product, client_product
from explorer.protocol.stream import RESET_BY_BROKER, Chunk, StreamEnd, WireEvent
from explorer.recording.capture import CaptureError, load
from explorer.recording.model import Capture, Gap, redact_secrets
from explorer.recording.packetfile import PacketFile, is_packet_file
from explorer.recording.tcpflow import READ_LINKS, Connection, Half, TcpReader

#: How an AMQP client's stream starts: the protocol header's first bytes.
PROTOCOL_HEADER: Final = b"AMQP"
#: The ends of a direction as the tap words them, by who sent the FIN or RST.
CLOSED: Final = {C2B: "closed by the client", B2C: "closed by the broker"}
RESET: Final = {C2B: "reset by the client", B2C: RESET_BY_BROKER}


def open_captures(path: Path) -> list[Capture]:
    """Every connection in a file `replay` is given, in order.

    A capture (JSON lines, as `record` writes) is one connection; a pcap or
    pcapng file (told by its first bytes, not its name) holds one Capture per
    AMQP connection, in the order of their first packets.

    Raises:
        CaptureError: the file cannot be read, is neither kind, or a packet
            file holds no AMQP connection.
    """
    data = _read(path)
    if is_packet_file(data):
        return sniffed(data, path.name)
    if data.lstrip()[:1] not in (b"{", b""):
        raise CaptureError(
            f"{path.name} is neither a capture (JSON lines, as `record` writes) "
            f"nor a pcap or pcapng file: it starts with {data[:8].hex(' ')}"
        )
    return [load(path)]


def read_packet_file(path: Path) -> list[Capture]:
    """The AMQP connections of a pcap or pcapng file (see `sniffed`).

    Raises:
        CaptureError: the file cannot be read, is not a packet file, or holds
            no AMQP connection.
    """
    return sniffed(_read(path), path.name)


def sniffed(data: bytes, name: str) -> list[Capture]:
    """One Capture per AMQP 0-9-1 connection in a pcap or pcapng file's bytes.

    Args:
        data: The file's bytes.
        name: The file's name, for messages.

    Raises:
        CaptureError: `data` is not a packet file, or it holds no AMQP connection.
    """
    try:
        packets = PacketFile(data)
    except CaptureError as exc:
        raise CaptureError(f"{name}: {exc}") from exc
    reader = TcpReader()
    reader.add(packets)
    connections = reader.connections()
    captures = [
        _capture(connection, client, packets.problem)
        for connection in connections
        if (client := _client_side(connection)) is not None
    ]
    if not captures:
        raise CaptureError(f"{name}: {_nothing_found(reader, connections, packets)}")
    return captures


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CaptureError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _client_side(connection: Connection) -> int | None:
    """Which half (0: `a` to `b`) an AMQP client sent, or None: not AMQP."""
    heads = [half.head(len(PROTOCOL_HEADER)) for half in connection.halves]
    return next((side for side in (0, 1) if heads[side] == PROTOCOL_HEADER), None)


def _capture(connection: Connection, client: int, problem: str) -> Capture:
    """The connection as the tap would have kept it; `client` is its client's half."""
    client_end, broker_end = (connection.a, connection.b)[:: 1 - 2 * client]
    halves = {C2B: connection.halves[client], B2C: connection.halves[1 - client]}
    if halves[C2B].end is None:
        halves[C2B] = _whole_frames(halves[C2B])
    start = connection.first.t
    open_ended = any(half.end is None and half.hole is None for half in halves.values())
    capture = Capture(
        url=f"amqp://{broker_end}/",
        recorded=_date(start),
        client_address=str(client_end),
        broker_address=str(broker_end),
        events=_wire_events(halves, start),
        cut=bool(problem) and open_ended,
        cut_reason=problem if open_ended else "",
        gaps=[_gap(d, half, start) for d, half in halves.items() if half.hole],
    )
    redact_secrets(capture)
    if (start_frame := _first(capture, B2C, "Connection.Start")) is not None:
        capture.broker = broker_product(start_frame)
    if (start_ok := _first(capture, C2B, "Connection.StartOk")) is not None:
        capture.client = client_product(start_ok)
    return capture


def _first(capture: Capture, direction: Direction, name: str) -> Frame | None:
    """The first frame called `name` in a direction, decoded no further than it."""
    decoder = FrameDecoder(direction)
    for chunk in capture.chunks(direction):
        for item in decoder.feed(chunk.data):
            if isinstance(item, Frame) and item.name == name:
                return item
        if decoder.stopped:
            break
    return None


def _whole_frames(half: Half) -> Half:
    """The client's half up to the end of its last whole frame.

    Where the client's stream breaks off (a gap, the file's end), the frame it
    cuts can never be decoded, and a Start-Ok cut short would keep a password
    that masking, which reads whole frames, cannot find: its bytes are dropped.
    """
    decoder = FrameDecoder(C2B)
    for piece in half.pieces:
        decoder.feed(piece.data)
    if decoder.stopped or not decoder.pending:
        return half
    pieces, at = [], 0
    for piece in half.pieces:
        if at >= decoder.offset:
            break
        pieces.append(replace(piece, data=piece.data[: decoder.offset - at]))
        at += len(piece.data)
    return Half(pieces, half.hole, half.end)


def _wire_events(halves: dict[Direction, Half], start: float) -> list[WireEvent]:
    """Both directions' chunks and ends, merged in time (packet order on a tie).

    Each direction's own order is its stream's, whatever the times say.
    """
    keyed = [_keyed(direction, half, start) for direction, half in halves.items()]
    return [event for _, event in heapq.merge(*keyed, key=lambda item: item[0])]


def _keyed(
    direction: Direction, half: Half, start: float
) -> list[tuple[tuple[float, int], WireEvent]]:
    """A direction's chunks, then its end, each with its (time, packet)."""
    out: list[tuple[tuple[float, int], WireEvent]] = [
        ((piece.t, piece.packet), Chunk(_since(start, piece.t), direction, piece.data))
        for piece in half.pieces
    ]
    end = half.end
    if end is not None and half.hole is None:
        reason = (RESET if end.reset else CLOSED)[direction]
        ended = StreamEnd(_since(start, end.t), direction, reason)
        out.append(((end.t, end.packet), ended))
    return out


def _since(start: float, t: float) -> float:
    """Seconds from `start` to `t`, to the microsecond (as a capture keeps them)."""
    return round(t - start, 6)


def _gap(direction: Direction, half: Half, start: float) -> Gap:
    """The hole in a direction, told: how much, where, and what it means."""
    hole = half.hole
    assert hole is not None
    where = f"after packet {hole.before} of the file" if hole.before else "at its start"
    why = (
        f"packet {hole.before} was cut short by the capture's snap length"
        if hole.snapped
        else "the capture never saw them (dropped under load, or kept out by a "
        "capture filter)"
    )
    then = (
        f"packet {hole.after}, the {direction.sender}'s {hole.closing}, shows "
        "they were sent"
        if hole.closing
        else f"{_counted(hole.segments, 'segment')} ({hole.left_out:,} bytes) "
        f"from packet {hole.after} on came after them and are left out"
    )
    fix = (
        "capture again with the whole packet kept (tcpdump -s 0)"
        if hole.snapped
        else "capture again, with a larger buffer if packets were dropped "
        "(tcpdump -B 8192; it tells how many the kernel dropped when it stops)"
    )
    return Gap(
        _since(start, hole.t),
        direction,
        hole.offset,
        hole.missing,
        f"{hole.missing:,} bytes of its stream are missing at offset "
        f"{hole.offset:,} ({where}): {why}. Where the next frame "
        f"starts is lost with them, so the frames after them cannot be read: "
        f"{then}; {fix}",
    )


def _counted(count: int, thing: str) -> str:
    return f"{count:,} {thing}{'s' * (count != 1)}"


def _date(t: float) -> str:
    """ISO 8601 date and time (UTC) of a packet's time."""
    try:
        return datetime.fromtimestamp(t, UTC).isoformat(timespec="microseconds")
    except (OverflowError, OSError, ValueError):
        return datetime.fromtimestamp(0, UTC).isoformat(timespec="microseconds")


def _nothing_found(
    reader: TcpReader, connections: list[Connection], packets: PacketFile
) -> str:
    """Why a packet file gave no AMQP connection, in words."""
    if not reader.packets:
        found = f"the {packets.kind} file holds no packets"
    elif not connections:
        found = f"none of its {reader.packets:,} packets is a TCP segment"
    else:
        ports = sorted(
            {c.b.port for c in connections} | {c.a.port for c in connections}
        )
        shown = ", ".join(map(str, ports[:8])) + (", ..." * (len(ports) > 8))
        found = (
            f"none of its {len(connections):,} TCP connections (ports {shown}) "
            f"starts with the AMQP protocol header: a connection already open "
            "when the capture started is not found, nor amqps (TLS encrypts it)"
        )
    if reader.unread:
        types = ", ".join(map(str, sorted(reader.unread)))
        found += f"; packets of link type {types} are not read (only {READ_LINKS})"
    if packets.problem:
        found += f"; {packets.problem}"
    return f"no AMQP 0-9-1 connection found: {found}"
