"""The pcap export, read back with a small independent pcap reader.

Every capture becomes one well-formed TCP connection: handshake first, each
chunk as its own segment at its own time, sequence and acknowledgement numbers
as TCP keeps them, valid checksums, and the bytes of each direction intact.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import struct
from datetime import datetime
from pathlib import Path

import pytest

from explorer.protocol import Direction
from explorer.protocol.frames import B2C, C2B
from explorer.protocol.stream import Chunk, StreamEnd
from explorer.recording.capture import Capture, CaptureError
from explorer.recording.pcap import pcap_bytes, write_pcap
from tests.conftest import load_capture

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

Address = tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]


@dataclasses.dataclass(frozen=True)
class Packet:
    """One TCP segment as read back from the file."""

    time_us: int
    source: Address
    destination: Address
    seq: int
    ack: int
    flags: int
    payload: bytes
    #: The IP packet, for checking checksums.
    ip: bytes


def read_pcap(data: bytes) -> list[Packet]:
    """Every packet of a classic pcap file of Ethernet frames carrying TCP."""
    magic, major, minor, zone, sigfigs, snaplen, linktype = struct.unpack_from(
        "<IHHiIII", data
    )
    assert (magic, major, minor, zone, sigfigs, linktype) == (
        0xA1B2C3D4,
        2,
        4,
        0,
        0,
        1,
    )
    packets: list[Packet] = []
    offset = 24
    while offset < len(data):
        seconds, micros, included, original = struct.unpack_from("<IIII", data, offset)
        assert included == original <= snaplen
        assert micros < 1_000_000
        frame = data[offset + 16 : offset + 16 + included]
        packets.append(read_frame(seconds * 1_000_000 + micros, frame))
        offset += 16 + included
    assert offset == len(data)
    return packets


def read_frame(time_us: int, frame: bytes) -> Packet:
    """An Ethernet frame with an IPv4 or IPv6 packet holding a TCP segment."""
    (ethertype,) = struct.unpack_from("!H", frame, 12)
    ip = frame[14:]
    if ethertype == 0x0800:
        assert ip[0] == 0x45, "IPv4 without options"
        assert ip[9] == 6, "protocol TCP"
        assert struct.unpack_from("!H", ip, 2)[0] == len(ip)
        source, destination, segment = ip[12:16], ip[16:20], ip[20:]
    else:
        assert ethertype == 0x86DD
        assert ip[0] >> 4 == 6
        assert ip[6] == 6, "next header TCP"
        assert struct.unpack_from("!H", ip, 4)[0] == len(ip) - 40
        source, destination, segment = ip[8:24], ip[24:40], ip[40:]
    source_port, destination_port, seq, ack, offset_flags = struct.unpack_from(
        "!HHIIH", segment
    )
    return Packet(
        time_us,
        (ipaddress.ip_address(source), source_port),
        (ipaddress.ip_address(destination), destination_port),
        seq,
        ack,
        offset_flags & 0x1FF,
        segment[(offset_flags >> 12) * 4 :],
        ip,
    )


def internet_sum(data: bytes) -> int:
    """One's complement sum of 16-bit words: 0xFFFF over data with its checksum."""
    padded = data + b"\0" * (len(data) % 2)
    total = sum(padded[i] << 8 | padded[i + 1] for i in range(0, len(padded), 2))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def checksums_verify(ip: bytes) -> bool:
    """Whether the IPv4 header checksum (if any) and the TCP checksum are right."""
    if ip[0] >> 4 == 4:
        segment = ip[20:]
        pseudo = ip[12:20] + struct.pack("!xBH", 6, len(segment))
        header_ok = internet_sum(ip[:20]) == 0xFFFF
    else:
        segment = ip[40:]
        pseudo = ip[8:40] + struct.pack("!I3xB", len(segment), 6)
        header_ok = True
    return header_ok and internet_sum(pseudo + segment) == 0xFFFF


def start_us(capture: Capture) -> int:
    return round(datetime.fromisoformat(capture.recorded).timestamp() * 1_000_000)


def sender(capture: Capture, packet: Packet) -> Direction:
    """Which direction a packet travels, by its source port."""
    broker_port = int(capture.broker_address.rpartition(":")[2] or 5672)
    return B2C if packet.source[1] == broker_port else C2B


def test_starts_with_the_three_way_handshake(capture: Capture) -> None:
    packets = read_pcap(pcap_bytes(capture))
    assert [p.flags for p in packets[:3]] == [SYN, SYN | ACK, ACK]
    assert [sender(capture, p) for p in packets[:3]] == [C2B, B2C, C2B]
    assert all(not p.payload for p in packets[:3])
    assert {p.time_us for p in packets[:3]} == {
        start_us(capture) + round(capture.events[0].t * 1_000_000)
    }


def test_uses_the_endpoints_from_the_capture(capture: Capture) -> None:
    first = read_pcap(pcap_bytes(capture))[0]
    client = f"{first.source[0]}:{first.source[1]}"
    broker = f"{first.destination[0]}:{first.destination[1]}"
    assert (client, broker) == (capture.client_address, capture.broker_address)


def test_payloads_rebuild_each_stream(capture: Capture, direction: Direction) -> None:
    packets = read_pcap(pcap_bytes(capture))
    sent = b"".join(p.payload for p in packets if sender(capture, p) is direction)
    assert sent == capture.stream(direction)


def test_each_chunk_is_one_segment_at_its_own_time(capture: Capture) -> None:
    start = start_us(capture)
    packets = read_pcap(pcap_bytes(capture))
    segments = [
        (sender(capture, p), p.payload, p.time_us, p.flags)
        for p in packets
        if p.payload
    ]
    assert segments == [
        (e.direction, e.data, start + round(e.t * 1_000_000), PSH | ACK)
        for e in capture.events
        if isinstance(e, Chunk)
    ]


def assert_seq_and_ack(packets: list[Packet]) -> None:
    """Each side's seq follows on; each ACK covers all the peer sent (SYN, FIN: 1)."""
    next_seq: dict[Address, int] = {}
    for packet in packets:
        if packet.flags & SYN:
            next_seq[packet.source] = packet.seq
        assert packet.seq == next_seq[packet.source]
        if packet.flags & ACK:
            assert packet.ack == next_seq[packet.destination]
        next_seq[packet.source] += len(packet.payload) + bool(
            packet.flags & (SYN | FIN)
        )


def test_seq_is_contiguous_and_ack_covers_all_the_peer_sent(capture: Capture) -> None:
    assert_seq_and_ack(read_pcap(pcap_bytes(capture)))


def test_timestamps_never_go_back(capture: Capture) -> None:
    times = [p.time_us for p in read_pcap(pcap_bytes(capture))]
    assert times == sorted(times)


def test_every_checksum_verifies(capture: Capture) -> None:
    assert all(checksums_verify(p.ip) for p in read_pcap(pcap_bytes(capture)))


def test_closing_sends_fin_each_way_and_acks_the_last(capture: Capture) -> None:
    ends = [e for e in capture.events if isinstance(e, StreamEnd)]
    assert [e.direction for e in ends] == [C2B, B2C], "what the captures hold"
    last = read_pcap(pcap_bytes(capture))[-3:]
    assert [(sender(capture, p), p.flags) for p in last] == [
        (C2B, FIN | ACK),
        (B2C, FIN | ACK),
        (C2B, ACK),
    ]


def test_ipv6_endpoints_give_ipv6_packets() -> None:
    capture = dataclasses.replace(
        load_capture("happy-path"),
        client_address="[::1]:40001",
        broker_address="[::1]:5672",
    )
    packets = read_pcap(pcap_bytes(capture))
    loopback = ipaddress.IPv6Address("::1")
    assert packets[0].source == (loopback, 40001)
    assert packets[0].destination == (loopback, 5672)
    assert all(p.ip[0] >> 4 == 6 and checksums_verify(p.ip) for p in packets)
    for direction in Direction:
        sent = b"".join(p.payload for p in packets if sender(capture, p) is direction)
        assert sent == capture.stream(direction)


def test_missing_endpoints_default_to_loopback() -> None:
    capture = dataclasses.replace(
        load_capture("wrong-password"), client_address="", broker_address=""
    )
    first = read_pcap(pcap_bytes(capture))[0]
    loopback = ipaddress.IPv4Address("127.0.0.1")
    assert (first.source, first.destination) == ((loopback, 40000), (loopback, 5672))


def test_a_big_chunk_is_split_into_segments_that_fit_ipv4() -> None:
    base = load_capture("wrong-password")
    big = bytes(range(256)) * 600
    at = base.events[-3].t
    capture = dataclasses.replace(
        base, events=[*base.events[:-2], Chunk(at, C2B, big), *base.events[-2:]]
    )
    packets = read_pcap(pcap_bytes(capture))
    pieces = [p.payload for p in packets if len(p.payload) > 1000]
    assert [len(piece) for piece in pieces] == [65_000, 65_000, len(big) - 130_000]
    assert b"".join(pieces) == big
    assert all(len(p.ip) <= 65_535 for p in packets)
    assert_seq_and_ack(packets)


def test_connection_lost_becomes_a_reset_from_the_broker() -> None:
    base = load_capture("wrong-password")
    lost = StreamEnd(0.004, B2C, "connection lost: Connection reset by peer")
    capture = dataclasses.replace(base, events=[*base.events[:-2], lost])
    packets = read_pcap(pcap_bytes(capture))
    last = packets[-1]
    assert (sender(capture, last), last.flags) == (B2C, RST | ACK)
    assert not any(p.flags & FIN for p in packets)
    assert_seq_and_ack(packets)


def test_a_date_without_a_zone_is_utc() -> None:
    capture = load_capture("unknown-vhost")
    zoned = pcap_bytes(capture)
    capture.recorded = capture.recorded.removesuffix("+00:00")
    assert pcap_bytes(capture) == zoned


def test_no_events_give_an_empty_pcap() -> None:
    capture = dataclasses.replace(load_capture("wrong-password"), events=[])
    assert read_pcap(pcap_bytes(capture)) == []


def test_write_pcap_writes_the_bytes(tmp_path: Path) -> None:
    capture = load_capture("unknown-vhost")
    path = tmp_path / "out.pcap"
    write_pcap(capture, path)
    assert path.read_bytes() == pcap_bytes(capture)


def test_write_pcap_lets_os_errors_through(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="No such file"):
        write_pcap(load_capture("unknown-vhost"), tmp_path / "missing" / "out.pcap")


@pytest.mark.parametrize(
    ("fact", "value", "message"),
    [
        ("recorded", "yesterday", "not an ISO 8601 date"),
        ("recorded", "1969-12-31T23:59:59+00:00", "pcap cannot store"),
        ("client_address", "localhost:40000", "not an IP address and port"),
        ("broker_address", "127.0.0.1", "has no port"),
        ("broker_address", "[::1]:5672", "not both IPv4 or both IPv6"),
    ],
)
def test_unusable_header_facts_are_capture_errors(
    fact: str, value: str, message: str
) -> None:
    capture = load_capture("unknown-vhost")
    setattr(capture, fact, value)
    with pytest.raises(CaptureError, match=message):
        pcap_bytes(capture)
