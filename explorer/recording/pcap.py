"""Export a capture as a classic libpcap file that Wireshark and tshark dissect.

Owns the synthetic TCP connection (handshake, one segment per chunk, FIN or RST
at the end) and its Ethernet, IP, TCP and pcap framing, checksums included.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from explorer.protocol.frames import B2C, C2B, Direction
from explorer.protocol.stream import RESET_BY_BROKER, Chunk, StreamEnd, WireEvent
from explorer.recording.capture import Capture, CaptureError

#: Classic pcap: this magic, version 2.4, microsecond timestamps.
PCAP_MAGIC: Final = 0xA1B2C3D4
LINKTYPE_ETHERNET: Final = 1
#: A classic pcap record's time is 32-bit seconds since 1970.
PCAP_SECONDS: Final = 2**32
SNAPLEN: Final = 262_144
#: Largest TCP payload per packet, so an IPv4 total length stays under 65,535.
MAX_SEGMENT: Final = 65_000
#: Endpoints used when the capture does not name them.
DEFAULT_CLIENT: Final = "127.0.0.1:40000"
DEFAULT_BROKER: Final = "127.0.0.1:5672"
#: Initial sequence numbers: fixed, so the same capture gives the same file.
CLIENT_ISN: Final = 0x1000_0000
BROKER_ISN: Final = 0x2000_0000
#: Advertised window, scaled by 2**14 (announced in the SYNs) to about 1 GiB, so
#: no run of segments, however long, fills it.
WINDOW: Final = 0xFFFF
WINDOW_SHIFT: Final = 14
#: Maximum segment size (kind 2, length 4), NOP, window scale (kind 3, length 3).
SYN_OPTIONS: Final = struct.pack("!BBHBBBB", 2, 4, MAX_SEGMENT, 1, 3, 3, WINDOW_SHIFT)
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
#: End reasons drawn as an RST from that direction's sender, not a FIN.
RESETS: Final = (RESET_BY_BROKER, "connection lost")
TTL: Final = 64
DONT_FRAGMENT: Final = 0x4000
PROTO_TCP: Final = 6
ETHERTYPE_IPV4: Final = 0x0800
ETHERTYPE_IPV6: Final = 0x86DD
#: Locally administered MAC addresses for the two ends.
CLIENT_MAC: Final = bytes.fromhex("020000000001")
BROKER_MAC: Final = bytes.fromhex("020000000002")
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND: Final = timedelta(microseconds=1)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

PEER: Final = {C2B: B2C, B2C: C2B}


@dataclass(frozen=True, slots=True)
class Address:
    """One end of the connection: its addresses at each layer."""

    mac: bytes
    ip: IPAddress
    port: int


def pcap_bytes(capture: Capture) -> bytes:
    """The capture as one TCP connection in a classic libpcap file.

    Args:
        capture: The recorded connection; its endpoints and date are used.

    Returns:
        The file's bytes: Ethernet frames with microsecond timestamps.

    Raises:
        CaptureError: The date or an endpoint address cannot be used.
    """
    client = Address(CLIENT_MAC, *_address(capture.client_address or DEFAULT_CLIENT))
    broker = Address(BROKER_MAC, *_address(capture.broker_address or DEFAULT_BROKER))
    if client.ip.version != broker.ip.version:
        raise CaptureError(
            f"the client address {client.ip} and the broker address {broker.ip} "
            "are not both IPv4 or both IPv6"
        )
    connection = _Connection(client, broker)
    start = _start_us(capture.recorded)
    events = capture.events
    if events:
        connection.handshake(start + _us(events[0].t))
    for event, following in zip(events, [*events[1:], None], strict=False):
        _replay(connection, event, following, start + _us(event.t))
    header = struct.pack("<IHHiIII", PCAP_MAGIC, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET)
    return header + b"".join(connection.records)


def write_pcap(capture: Capture, path: Path) -> None:
    """Write the capture to `path` as a libpcap file (see `pcap_bytes`).

    Raises:
        CaptureError: The date or an endpoint address cannot be used.
        OSError: The file cannot be written.
    """
    path.write_bytes(pcap_bytes(capture))


def _replay(
    connection: _Connection, event: WireEvent, following: WireEvent | None, at: int
) -> None:
    """Add the packets for one event; `following` is the next event, if any."""
    if isinstance(event, Chunk):
        for start in range(0, len(event.data), MAX_SEGMENT):
            piece = event.data[start : start + MAX_SEGMENT]
            connection.send(event.direction, at, PSH | ACK, piece)
    elif event.reason.startswith(RESETS):
        connection.send(event.direction, at, RST | ACK)
    else:
        connection.send(event.direction, at, FIN | ACK)
        peer_closes = (
            isinstance(following, StreamEnd)
            and following.direction is not event.direction
        )
        if not peer_closes:
            connection.send(PEER[event.direction], at, ACK)


class _Connection:
    """The packets of one TCP connection, built in order."""

    def __init__(self, client: Address, broker: Address) -> None:
        self._ends = {C2B: (client, broker), B2C: (broker, client)}
        #: The next sequence number each side will use.
        self._next = {C2B: CLIENT_ISN, B2C: BROKER_ISN}
        #: pcap records: record header and Ethernet frame.
        self.records: list[bytes] = []

    def handshake(self, at: int) -> None:
        """SYN, SYN-ACK and ACK, all at time `at`."""
        self.send(C2B, at, SYN, options=SYN_OPTIONS)
        self.send(B2C, at, SYN | ACK, options=SYN_OPTIONS)
        self.send(C2B, at, ACK)

    def send(
        self,
        direction: Direction,
        at: int,
        flags: int,
        payload: bytes = b"",
        options: bytes = b"",
    ) -> None:
        """One segment from the sender of `direction`, acknowledging all it has seen.

        Args:
            direction: Who sends it.
            at: Microseconds since the epoch.
            flags: TCP flags; with ACK it acknowledges everything the peer sent.
            payload: The data it carries.
            options: TCP options, a multiple of 4 bytes long.
        """
        ends = self._ends[direction]
        seq = self._next[direction]
        ack = self._next[PEER[direction]] if flags & ACK else 0
        self._next[direction] = seq + len(payload) + bool(flags & (SYN | FIN))
        frame = _ethernet(*ends, _tcp(ends, seq, ack, flags, options, payload))
        seconds, micros = divmod(at, 1_000_000)
        if seconds >= PCAP_SECONDS:
            raise CaptureError(
                f"pcap cannot store a packet {seconds - 2**32 + 1} s after "
                "2106-02-07T06:28:15Z, when its 32-bit seconds run out"
            )
        self.records.append(
            struct.pack("<IIII", seconds, micros, len(frame), len(frame)) + frame
        )


def _tcp(
    ends: tuple[Address, Address],
    seq: int,
    ack: int,
    flags: int,
    options: bytes,
    payload: bytes,
) -> bytes:
    """A TCP segment from ``ends[0]`` to ``ends[1]``, checksum filled in."""
    source, destination = ends
    header = (
        struct.pack(
            "!HHIIHHHH",
            source.port,
            destination.port,
            seq & 0xFFFF_FFFF,
            ack & 0xFFFF_FFFF,
            (5 + len(options) // 4) << 12 | flags,
            WINDOW,
            0,
            0,
        )
        + options
    )
    pseudo = _pseudo_header(source, destination, len(header) + len(payload))
    checksum = _checksum(pseudo + header + payload)
    return header[:16] + struct.pack("!H", checksum) + header[18:] + payload


def _pseudo_header(source: Address, destination: Address, length: int) -> bytes:
    """What the TCP checksum covers besides the segment itself."""
    addresses = source.ip.packed + destination.ip.packed
    if source.ip.version == 4:
        return addresses + struct.pack("!xBH", PROTO_TCP, length)
    return addresses + struct.pack("!I3xB", length, PROTO_TCP)


def _ethernet(source: Address, destination: Address, segment: bytes) -> bytes:
    """An Ethernet frame carrying `segment` in an IPv4 or IPv6 packet."""
    addresses = source.ip.packed + destination.ip.packed
    if source.ip.version == 4:
        header = struct.pack(
            "!BBHHHBBH", 0x45, 0, 20 + len(segment), 0, DONT_FRAGMENT, TTL, PROTO_TCP, 0
        )
        checksum = _checksum(header + addresses)
        ip = header[:10] + struct.pack("!H", checksum) + addresses
        ethertype = ETHERTYPE_IPV4
    else:
        ip = struct.pack("!IHBB", 6 << 28, len(segment), PROTO_TCP, TTL) + addresses
        ethertype = ETHERTYPE_IPV6
    return destination.mac + source.mac + struct.pack("!H", ethertype) + ip + segment


def _checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of `data`."""
    padded = data + b"\0" * (len(data) % 2)
    total: int = sum(struct.unpack(f"!{len(padded) // 2}H", padded))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _address(text: str) -> tuple[IPAddress, int]:
    """The IP address and port of ``host:port`` or ``[v6 host]:port``."""
    try:
        parts = urlsplit(f"//{text}")
        ip, port = ipaddress.ip_address(parts.hostname or ""), parts.port
    except ValueError as exc:
        raise CaptureError(
            f"the capture's address {text!r} is not an IP address and port"
        ) from exc
    if port is None:
        raise CaptureError(f"the capture's address {text!r} has no port")
    return ip, port


def _start_us(recorded: str) -> int:
    """Microseconds since the epoch at `recorded` (an ISO date; naive means UTC)."""
    try:
        when = datetime.fromisoformat(recorded)
    except ValueError as exc:
        raise CaptureError(
            f"the capture's date {recorded!r} is not an ISO 8601 date"
        ) from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    start = (when - EPOCH) // MICROSECOND
    if not 0 <= start < PCAP_SECONDS * 1_000_000:
        raise CaptureError(f"pcap cannot store the capture's date {recorded!r}")
    return start


def _us(seconds: float) -> int:
    """Seconds on the capture's clock, in whole microseconds."""
    return round(seconds * 1_000_000)
