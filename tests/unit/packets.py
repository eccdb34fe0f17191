"""Packet files built for the sniffed-capture tests: TCP connections packet by packet.

A Wire is one TCP connection between a client and a broker, its packets made
with dpkt (IPv4 or IPv6, real sequence numbers, checksums filled in), which a
test then reorders, repeats or drops before it is written, by dpkt's own
writers, as classic pcap or pcapng on one of several link layers.
"""

from __future__ import annotations

import io
import ipaddress
import struct
from dataclasses import dataclass, field

import dpkt  # type: ignore[import-untyped]

from explorer.protocol.frames import C2B, Direction
from explorer.protocol.stream import RESET_BY_BROKER, Chunk, StreamEnd
from explorer.recording.capture import Capture

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
#: Seconds since 1970 of every wire's first packet, unless told otherwise.
EPOCH = 1_780_000_000.0
LINKTYPES = {"ethernet": 1, "null": 0, "raw": 101, "sll": 113, "sll2": 276}


@dataclass
class Sent:
    """One packet: when, and the IP packet's bytes."""

    t: float
    ip: bytes
    direction: Direction
    seq: int
    #: The TCP payload it carries (b"" for SYN, ACK, FIN, RST).
    payload: bytes = b""


@dataclass
class Wire:
    """The packets of one TCP connection, client first."""

    client: tuple[str, int] = ("10.0.0.1", 40000)
    broker: tuple[str, int] = ("10.0.0.2", 5672)
    #: Initial sequence numbers of the client and the broker.
    isn: tuple[int, int] = (1000, 900_000)
    start: float = EPOCH
    packets: list[Sent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._seq = dict(zip(Direction, self.isn, strict=True))

    def handshake(self, t: float = 0.0) -> None:
        """SYN, SYN-ACK, ACK."""
        client, broker = Direction
        self.segment(client, t, SYN)
        self.segment(broker, t, SYN | ACK)
        self.segment(client, t, ACK)

    def send(self, direction: Direction, t: float, data: bytes) -> None:
        """One data segment."""
        self.segment(direction, t, PSH | ACK, data)

    def segment(
        self,
        direction: Direction,
        t: float,
        flags: int,
        data: bytes = b"",
        seq: int | None = None,
    ) -> None:
        """One segment; `seq` by default the next the sender would use."""
        peer = next(d for d in Direction if d is not direction)
        start = self._seq[direction] if seq is None else seq
        ends = (
            (self.client, self.broker)
            if direction is C2B
            else (self.broker, self.client)
        )
        tcp = dpkt.tcp.TCP(
            sport=ends[0][1],
            dport=ends[1][1],
            seq=start % 2**32,
            ack=self._seq[peer] % 2**32 if flags & ACK else 0,
            flags=flags,
            data=data,
        )
        if seq is None:
            self._seq[direction] = start + len(data) + bool(flags & (SYN | FIN))
        ip = _ip(ends[0][0], ends[1][0], tcp)
        self.packets.append(Sent(self.start + t, ip, direction, start, data))

    def conversation(self, capture: Capture, size: int = 0) -> None:
        """The handshake, then the capture's chunks and ends as segments.

        Each chunk is one segment, or segments of `size` bytes when given.
        """
        self.handshake()
        for event in capture.events:
            if isinstance(event, Chunk):
                step = size or len(event.data)
                for at in range(0, len(event.data), step):
                    self.send(event.direction, event.t, event.data[at : at + step])
            elif isinstance(event, StreamEnd):
                reset = event.reason == RESET_BY_BROKER
                self.segment(event.direction, event.t, (RST if reset else FIN) | ACK)

    def data_packets(self, direction: Direction | None = None) -> list[int]:
        """The indexes of the packets that carry data (from one sender, if given)."""
        return [
            i
            for i, sent in enumerate(self.packets)
            if sent.payload and direction in (None, sent.direction)
        ]


def _ip(source: str, destination: str, tcp: dpkt.tcp.TCP) -> bytes:
    src, dst = (ipaddress.ip_address(a).packed for a in (source, destination))
    if len(src) == 4:
        packet = dpkt.ip.IP(src=src, dst=dst, p=6, ttl=64, data=tcp)
    else:
        packet = dpkt.ip6.IP6(src=src, dst=dst, nxt=6, hlim=64, data=tcp)
        packet.plen = len(tcp)
    return bytes(packet)


def framed(ip: bytes, link: str) -> bytes:
    """The IP packet inside a frame of link layer `link` (a LINKTYPES name)."""
    ethertype = 0x0800 if ip[0] >> 4 == 4 else 0x86DD
    if link == "ethernet":
        return b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01" + struct.pack("!H", ethertype) + ip
    if link == "sll":
        return struct.pack("!HHH8sH", 0, 772, 6, b"", ethertype) + ip
    if link == "sll2":
        return struct.pack("!HHiHBB8s", ethertype, 0, 1, 772, 0, 6, b"") + ip
    if link == "null":  # BSD loopback: the family in the writer's byte order
        return struct.pack("<I", 2 if ethertype == 0x0800 else 30) + ip
    return ip


def pcap(packets: list[Sent], link: str = "ethernet", nano: bool = False) -> bytes:
    """The packets as a classic pcap file written by dpkt."""
    out = io.BytesIO()
    writer = dpkt.pcap.Writer(out, linktype=LINKTYPES[link], nano=nano)
    for sent in packets:
        writer.writepkt(framed(sent.ip, link), ts=sent.t)
    return out.getvalue()


def pcapng(packets: list[Sent], link: str = "ethernet") -> bytes:
    """The packets as a pcapng file written by dpkt."""
    out = io.BytesIO()
    writer = dpkt.pcapng.Writer(out, linktype=LINKTYPES[link])
    for sent in packets:
        writer.writepkt(framed(sent.ip, link), ts=sent.t)
    return out.getvalue()


def block(kind: int, body: bytes) -> bytes:
    """A little-endian pcapng block, padded to 32 bits."""
    body += b"\0" * (-len(body) % 4)
    size = len(body) + 12
    return struct.pack("<II", kind, size) + body + struct.pack("<I", size)
