"""TCP connections in captured packets, each direction put back together.

Owns reading a packet's TCP segment (dpkt decodes the link layer: Ethernet with
its VLAN tags, Linux cooked v1 and v2, loopback and raw IP; then IPv4 or IPv6
and TCP), telling the connections apart (the same two ends again after a new
SYN are a new connection), and reassembling each direction by sequence number:
segments that came out of order are put in order, retransmitted and overlapping
bytes are kept once, and the first byte no segment carried is a Hole, after
which nothing of that direction can be placed. A direction's FIN or RST is its
End. Nothing here knows AMQP: explorer.recording.sniffed picks its connections.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Final

import dpkt  # type: ignore[import-untyped]

from explorer.recording.packetfile import Packet

#: tcpdump.org's link-layer header types read here.
LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_LOOP = 0, 1, 101, 108
LINKTYPE_LINUX_SLL, LINKTYPE_IPV4, LINKTYPE_IPV6 = 113, 228, 229
LINKTYPE_LINUX_SLL2: Final = 276
#: The link layers dpkt unwraps down to the IP packet.
LINK_LAYERS: Final[dict[int, Any]] = {
    LINKTYPE_ETHERNET: dpkt.ethernet.Ethernet,
    LINKTYPE_LINUX_SLL: dpkt.sll.SLL,
    LINKTYPE_LINUX_SLL2: dpkt.sll2.SLL2,
}
#: The link layers that are only so many bytes before the IP packet: BSD
#: loopback's address family (in the writer's byte order), or nothing.
BARE_IP: Final = {
    LINKTYPE_NULL: 4, LINKTYPE_LOOP: 4, LINKTYPE_RAW: 0, LINKTYPE_IPV4: 0,
    LINKTYPE_IPV6: 0,
}  # fmt: skip
#: The link types this module reads, in words, for a message about the others.
READ_LINKS: Final = "Ethernet, Linux cooked (SLL, SLL2), loopback and raw IP"
IPV6_FRAGMENT: Final = 44
FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10
SEQUENCE: Final = 2**32
#: What dpkt and struct raise for bytes that are not the header they read.
UNREADABLE: Final = (dpkt.UnpackError, struct.error, ValueError, IndexError)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One end of a TCP connection."""

    host: str
    port: int

    def __str__(self) -> str:
        """``host:port``, or ``[host]:port`` for IPv6."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Segment:
    """What one packet's TCP header and payload say."""

    source: tuple[bytes, int]
    destination: tuple[bytes, int]
    seq: int
    ack: int
    flags: int
    payload: bytes
    #: Payload bytes the packet carried that the capture did not keep.
    lost: int
    packet: Packet


@dataclass(frozen=True, slots=True)
class Piece:
    """Bytes of a direction placed in order: one per segment that brought new ones."""

    #: When they could be read: the segment's time, or a later one that filled
    #: the bytes before them.
    t: float
    data: bytes
    packet: int


@dataclass(frozen=True, slots=True)
class Hole:
    """Where a direction's bytes stop being known: nothing after it is placed."""

    #: When the first packet after the hole was seen.
    t: float
    #: Stream offset (0 is the first byte after the SYN) of the first missing byte.
    offset: int
    missing: int
    #: The last packet whose bytes were placed before it (0: none) and the one
    #: that shows bytes are missing (a later segment, or the FIN).
    before: int
    after: int
    #: Segments after the hole, left out, and the bytes they brought.
    segments: int
    left_out: int
    #: The packet before the hole was cut by the capture's snap length.
    snapped: bool
    #: "FIN" or "RST" when the hole shows because the sender's FIN or RST came
    #: after it ("" when a segment did).
    closing: str


@dataclass(frozen=True, slots=True)
class End:
    """A direction's FIN or RST."""

    t: float
    reset: bool
    packet: int


@dataclass
class Half:
    """One direction of a connection, reassembled."""

    pieces: list[Piece] = field(default_factory=list)
    hole: Hole | None = None
    end: End | None = None

    def head(self, size: int) -> bytes:
        """The first `size` bytes placed (fewer when fewer came)."""
        out = b""
        for piece in self.pieces:
            if len(out) >= size:
                break
            out += piece.data[: size - len(out)]
        return out


@dataclass
class Connection:
    """One TCP connection: its two ends and both directions, `a` to `b` first."""

    a: Endpoint
    b: Endpoint
    #: `a` sent the SYN (False when the capture began after the handshake).
    opened: bool
    first: Packet
    halves: tuple[Half, Half]


class _Flow:
    """The segments of one connection, gathered as the packets come."""

    def __init__(self, first: Segment) -> None:
        self.ends = (first.source, first.destination)
        self.first = first.packet
        self.syn: list[int | None] = [None, None]
        if first.flags & SYN:
            self.syn[0] = first.seq
        self.segments: tuple[list[Segment], list[Segment]] = ([], [])
        self.stops: list[list[Segment]] = [[], []]
        self.acks: list[int | None] = [None, None]

    def side(self, segment: Segment) -> int:
        return 0 if segment.source == self.ends[0] else 1

    def add(self, segment: Segment) -> None:
        side = self.side(segment)
        if segment.packet.t < self.first.t:
            self.first = segment.packet
        if segment.flags & SYN:
            self.syn[side] = segment.seq
            # Data on a SYN (TCP Fast Open) starts after the SYN's own number.
            segment = replace(segment, seq=segment.seq + 1)
        if segment.flags & ACK and self.acks[1 - side] is None:
            self.acks[1 - side] = segment.ack
        if segment.payload and not segment.flags & RST:  # an RST's is no data
            self.segments[side].append(segment)
        if segment.flags & (FIN | RST):
            self.stops[side].append(segment)

    def restarts(self, segment: Segment) -> bool:
        """A SYN that opens a new connection between the same two ends."""
        if segment.flags & (SYN | ACK) != SYN:
            return False
        side = self.side(segment)
        if self.syn[side] is None:
            return bool(self.segments[side] or self.stops[side])
        return self.syn[side] != segment.seq

    def connection(self) -> Connection:
        a, b = (_endpoint(*end) for end in self.ends)
        halves = (self._half(0), self._half(1))
        return Connection(a, b, self.syn[0] is not None, self.first, halves)

    def _half(self, side: int) -> Half:
        base = self._base(side)
        if base is None:
            return Half()
        placed: list[tuple[int, Segment]] = []
        high = 0
        for segment in self.segments[side]:
            offset = high + _signed(segment.seq - base - high)
            placed.append((offset, segment))
            high = max(high, offset + len(segment.payload))
        placed.sort(key=lambda item: (item[0], item[1].packet.number))
        half = Half()
        at, t, last = 0, self.first.t, None
        for index, (offset, segment) in enumerate(placed):
            end = offset + len(segment.payload)
            if end <= at:
                continue  # retransmitted: every byte is placed already
            if offset > at:
                rest = placed[index:]
                half.hole = _hole(at, offset, segment, last, rest)
                return half
            t = max(t, segment.packet.t)
            data = segment.payload[at - offset :]
            half.pieces.append(Piece(t, data, segment.packet.number))
            at, last = end, segment
        stops = sorted(self.stops[side], key=lambda s: s.packet.number)
        if not stops:
            return half
        stop = stops[0]
        closes = high + _signed(stop.seq + len(stop.payload) - base - high)
        if closes > at:  # the FIN or RST comes after bytes no segment brought
            half.hole = _hole(at, closes, stop, last, [])
        else:
            reset = not stop.flags & FIN
            half.end = End(max(t, stop.packet.t), reset, stop.packet.number)
        return half

    def _base(self, side: int) -> int | None:
        """The sequence number of the direction's first data byte, if any came."""
        syn = self.syn[side]
        if syn is not None:
            return (syn + 1) % SEQUENCE
        seqs = [s.seq for s in self.segments[side]] or [s.seq for s in self.stops[side]]
        if not seqs:
            return None
        acked = self.acks[side]
        seqs += [] if acked is None else [acked]
        return min(seqs, key=lambda seq: _signed(seq - seqs[0]))


def _hole(
    at: int,
    offset: int,
    shown_by: Segment,
    last: Segment | None,
    rest: list[tuple[int, Segment]],
) -> Hole:
    """The hole from `at` to `offset`, which `shown_by` (a segment or an end) shows."""
    closing = ""
    if not shown_by.payload and shown_by.flags & (FIN | RST):
        closing = "FIN" if shown_by.flags & FIN else "RST"
    return Hole(
        shown_by.packet.t,
        at,
        offset - at,
        last.packet.number if last else 0,
        shown_by.packet.number,
        len(rest),
        sum(len(segment.payload) for _, segment in rest),
        last is not None and last.lost > 0,
        closing,
    )


class TcpReader:
    """Gathers the TCP connections of a file's packets."""

    def __init__(self) -> None:
        self.packets = 0
        #: Link types met that are not read here.
        self.unread: set[int] = set()
        self._flows: list[_Flow] = []
        self._open: dict[frozenset[tuple[bytes, int]], _Flow] = {}

    def add(self, packets: Iterable[Packet]) -> None:
        """Read the TCP segment of each packet, if it holds one."""
        for packet in packets:
            self.packets += 1
            segment = self.segment(packet)
            if segment is None:
                continue
            key = frozenset((segment.source, segment.destination))
            flow = self._open.get(key)
            if flow is None or flow.restarts(segment):
                flow = self._open[key] = _Flow(segment)
                self._flows.append(flow)
            flow.add(segment)

    def connections(self) -> list[Connection]:
        """Every connection seen, in the order of its first packet, reassembled."""
        return [flow.connection() for flow in self._flows]

    def segment(self, packet: Packet) -> Segment | None:
        """The TCP segment the packet carries, or None (not TCP, not readable)."""
        try:
            ip = self._ip(packet)
            if ip is None or not isinstance(ip.data, dpkt.tcp.TCP):
                return None
            tcp = ip.data
            if isinstance(ip, dpkt.ip.IP):
                if ip.mf or ip.offset:
                    return None  # a fragment: IP fragments are not put together
                carried = ip.len - ip.hl * 4 if ip.len else len(tcp)
            else:
                if IPV6_FRAGMENT in ip.extension_hdrs:
                    return None
                extensions = sum(h.length for h in ip.all_extension_headers)
                carried = ip.plen - extensions if ip.plen else len(tcp)
            payload = bytes(tcp.data)
            lost = max(0, carried - tcp.off * 4 - len(payload))
            return Segment(
                (bytes(ip.src), int(tcp.sport)),
                (bytes(ip.dst), int(tcp.dport)),
                int(tcp.seq),
                int(tcp.ack),
                int(tcp.flags),
                payload,
                lost,
                packet,
            )
        except UNREADABLE:
            return None

    def _ip(self, packet: Packet) -> Any:
        """dpkt's IP or IP6 packet inside the link layer, or None."""
        layer = LINK_LAYERS.get(packet.linktype)
        if layer is not None:
            ip = layer(packet.data).data
            return ip if isinstance(ip, dpkt.ip.IP | dpkt.ip6.IP6) else None
        skip = BARE_IP.get(packet.linktype)
        if skip is None:
            self.unread.add(packet.linktype)
            return None
        data = packet.data[skip:]
        version = data[0] >> 4 if data else 0
        if version == 4:
            return dpkt.ip.IP(data)
        return dpkt.ip6.IP6(data) if version == 6 else None


def _endpoint(address: bytes, port: int) -> Endpoint:
    return Endpoint(str(ipaddress.ip_address(address)), port)


def _signed(difference: int) -> int:
    """A sequence-number difference, taken modulo 2**32, as -2**31 .. 2**31-1."""
    return (difference + SEQUENCE // 2) % SEQUENCE - SEQUENCE // 2
