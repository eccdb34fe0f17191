"""Captures from elsewhere: AMQP connections read from pcap and pcapng files.

The packet files are built here (tests/unit/packets.py: dpkt's packets and
writers, or explorer.recording.pcap's export) from the committed captures, so
every test knows the frames each direction must give: reordered, repeated,
dropped and cut packets, IPv6, the link layers, two connections at once.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from explorer.engine.events import EngineEvent, PhaseFailed
from explorer.protocol.frames import B2C, C2B, Direction, Frame
from explorer.protocol.stream import RESET_BY_BROKER, Chunk, StreamEnd
from explorer.recording.capture import Capture, CaptureError, dumps
from explorer.recording.pcap import RESETS, pcap_bytes
from explorer.recording.replay import ReplayEngine
from explorer.recording.sniffed import open_captures, read_packet_file, sniffed
from tests.conftest import load_capture
from tests.unit.packets import (
    EPOCH,
    LINKTYPES,
    Sent,
    Wire,
    block,
    framed,
    pcap,
    pcapng,
)

HAPPY = load_capture("happy-path")


def frames(capture: Capture, direction: Direction) -> list[tuple[str, int, bytes]]:
    """Each frame of a direction: name, channel, bytes."""
    return [
        (item.name, item.channel, item.raw)
        for item in capture.decode(direction)
        if isinstance(item, Frame)
    ]


def same_frames(found: Capture, recorded: Capture = HAPPY) -> None:
    for direction in Direction:
        assert frames(found, direction) == frames(recorded, direction)


def wire(size: int = 0, **kwargs: Any) -> Wire:
    """The happy path as one TCP connection (segments of `size` bytes, if given)."""
    built = Wire(**kwargs)
    built.conversation(HAPPY, size)
    return built


def drawn(end: StreamEnd) -> str:
    """How a stream end reads back from its export: a reset or a close."""
    if end.reason.startswith(RESETS):
        return RESET_BY_BROKER
    return f"closed by the {end.direction.sender}"


def one(data: bytes) -> Capture:
    (capture,) = sniffed(data, "test.pcap")
    return capture


async def failures(capture: Capture) -> list[str]:
    """What a replay of the capture says failed, in order."""
    told: list[EngineEvent] = []
    await ReplayEngine(capture, told.append).run()
    return [event.message for event in told if isinstance(event, PhaseFailed)]


def unmasked(capture: Capture, password: bytes) -> Capture:
    """The capture as the wire carried it: `password` where it was masked."""
    (span,) = capture.redactions
    assert len(password) == span.length
    events, at = [], 0
    for event in capture.events:
        if isinstance(event, Chunk) and event.direction is span.direction:
            start = span.offset - at
            if 0 <= start < len(event.data):
                data = event.data[:start] + password + event.data[start + span.length :]
                event = Chunk(event.t, event.direction, data)
            at += len(event.data)
        events.append(event)
    return Capture(capture.url, capture.recorded, events=events)


@pytest.mark.parametrize("name", ["happy-path", "wrong-password", "unknown-vhost"])
def test_an_exported_pcap_reads_back_as_the_capture(name: str) -> None:
    recorded = load_capture(name)
    found = one(pcap_bytes(recorded))
    same_frames(found, recorded)
    assert found.broker == recorded.broker == "RabbitMQ 3.10.8"
    assert found.client == recorded.client
    assert (found.client_address, found.broker_address) == (
        recorded.client_address,
        recorded.broker_address,
    )
    assert found.recorded.startswith(recorded.recorded.removesuffix("+00:00"))
    assert found.redactions == recorded.redactions
    ends = [(e.direction, e.reason) for e in found.events if isinstance(e, StreamEnd)]
    assert ends == [  # the export draws an end as an RST or a FIN
        (e.direction, drawn(e)) for e in recorded.events if isinstance(e, StreamEnd)
    ]
    assert not found.gaps
    assert not found.cut


def test_the_password_is_masked(tmp_path: Path) -> None:
    built = Wire()
    built.conversation(unmasked(HAPPY, b"s3cr3"))
    assert any(b"s3cr3" in sent.payload for sent in built.packets)
    path = tmp_path / "login.pcapng"
    path.write_bytes(pcapng(built.packets))
    (found,) = open_captures(path)
    assert found.stream(C2B) == HAPPY.stream(C2B)
    assert found.redactions == HAPPY.redactions
    assert b"s3cr3".hex() not in dumps(found)


def test_a_start_ok_cut_by_a_gap_keeps_no_password() -> None:
    built = Wire()
    built.conversation(unmasked(HAPPY, b"s3cr3"), size=320)
    start_ok = built.data_packets(C2B)[1:3]
    assert b"s3cr" in built.packets[start_ok[0]].payload
    del built.packets[start_ok[1]]  # the rest of the Start-Ok, and its password
    found = one(pcap(built.packets))
    assert found.gaps[0].direction is C2B
    assert found.stream(C2B) == HAPPY.stream(C2B)[:8]  # the protocol header
    assert b"s3cr".hex() not in dumps(found)


@pytest.mark.parametrize("link", list(LINKTYPES))
@pytest.mark.parametrize("kind", ["pcap", "pcapng"])
def test_every_link_layer_and_both_ip_versions(link: str, kind: str) -> None:
    for client, broker in ((("10.0.0.1", 40000), ("10.0.0.2", 5672)),
                           (("fd00::1", 40000), ("fd00::2", 5672))):  # fmt: skip
        packets = wire(client=client, broker=broker).packets
        found = one(pcap(packets, link) if kind == "pcap" else pcapng(packets, link))
        same_frames(found)
        host = f"[{client[0]}]" if ":" in client[0] else client[0]
        assert found.client_address == f"{host}:40000"


def test_a_big_endian_pcap() -> None:
    little = pcap(wire().packets)
    magic, major, minor, zone, sigfigs, snaplen, link = struct.unpack_from(
        "<IHHiIII", little
    )
    big = [struct.pack(">IHHiIII", magic, major, minor, zone, sigfigs, snaplen, link)]
    at = 24
    while at < len(little):
        seconds, fraction, kept, length = struct.unpack_from("<4I", little, at)
        big.append(struct.pack(">4I", seconds, fraction, kept, length))
        big.append(little[at + 16 : at + 16 + kept])
        at += 16 + kept
    same_frames(one(b"".join(big)))


def test_the_first_packet_starts_the_clock() -> None:
    found = one(pcap(wire(start=EPOCH + 0.25).packets, nano=True))
    when = datetime.fromisoformat(found.recorded)
    assert when == datetime.fromtimestamp(EPOCH + 0.25, UTC)
    assert found.events[0].t == pytest.approx(HAPPY.events[0].t)
    assert found.events[-1].t == pytest.approx(HAPPY.events[-1].t)


def test_segments_out_of_order_are_put_in_order() -> None:
    built = wire(size=100)
    first, second = built.data_packets(B2C)[1:3]
    packets = built.packets
    packets[first], packets[second] = packets[second], packets[first]
    found = one(pcap(packets))
    same_frames(found)
    times = [chunk.t for chunk in found.chunks(B2C)]
    assert times == sorted(times)


def test_retransmitted_and_overlapping_segments_are_kept_once() -> None:
    built = wire(size=50)
    packets = built.packets
    sent = built.data_packets(B2C)
    again = packets[sent[6]]
    first, second = packets[sent[3]], packets[sent[4]]
    overlap = Wire(isn=built.isn)
    data = first.payload[25:] + second.payload[:25]
    overlap.segment(B2C, first.t - EPOCH, 0x18, data, seq=first.seq + 25)
    packets.insert(sent[6] + 1, again)
    packets.insert(sent[4], overlap.packets[0])
    found = one(pcap(packets))
    same_frames(found)
    assert found.stream(B2C) == HAPPY.stream(B2C)


async def test_a_missing_segment_is_a_gap_that_replay_explains() -> None:
    built = wire(size=100)
    lost = built.packets.pop(built.data_packets(B2C)[2])
    found = one(pcap(built.packets))
    (gap,) = found.gaps
    assert (gap.direction, gap.offset, gap.missing) == (B2C, 200, len(lost.payload))
    assert found.stream(B2C) == HAPPY.stream(B2C)[:200]
    assert frames(found, C2B) == frames(HAPPY, C2B)
    assert gap.reason.startswith("100 bytes of its stream are missing at offset 200")
    assert "the frames after them cannot be read" in gap.reason
    assert not any(
        isinstance(e, StreamEnd) and e.direction is B2C for e in found.events
    )
    told = await failures(found)
    assert [m for m in told if m.startswith("broker:")] == [f"broker: {gap.reason}"]


def test_bytes_missing_before_a_fin_are_a_gap() -> None:
    built = wire()
    lost = built.packets.pop(built.data_packets(C2B)[-1])  # Connection.Close
    (gap,) = one(pcap(built.packets)).gaps
    assert (gap.direction, gap.missing) == (C2B, len(lost.payload))
    assert "the client's FIN, shows they were sent" in gap.reason


def test_a_packet_cut_by_the_snap_length_is_a_gap_that_says_so() -> None:
    built = wire()
    index = built.data_packets(B2C)[0]
    sent = built.packets[index]
    built.packets[index] = Sent(sent.t, sent.ip[:-10], B2C, sent.seq, sent.payload)
    (gap,) = one(pcap(built.packets)).gaps
    assert (gap.direction, gap.missing) == (B2C, 10)
    assert "cut short by the capture's snap length" in gap.reason


@pytest.mark.parametrize("kind", ["pcap", "pcapng"])
async def test_a_file_cut_inside_a_record_gives_what_it_holds(kind: str) -> None:
    packets = wire().packets
    data = pcap(packets) if kind == "pcap" else pcapng(packets)
    cut = data[: len(data) - 30]
    found = one(cut)
    assert found.cut
    assert f"of {len(cut):,}, in record {len(packets)}" in found.cut_reason
    assert frames(found, C2B) == frames(HAPPY, C2B)
    last = (await failures(found))[-1]
    assert last.startswith("the capture was cut")
    assert found.cut_reason in last


def test_two_connections_at_once_are_two_captures_in_order() -> None:
    first = wire(client=("10.0.0.1", 40001))
    second = Wire(client=("10.0.0.1", 40002), start=EPOCH + 0.001)
    second.conversation(load_capture("wrong-password"))
    mixed = sorted(first.packets + second.packets, key=lambda sent: sent.t)
    found = sniffed(pcapng(mixed), "two.pcapng")
    assert [c.client_address for c in found] == ["10.0.0.1:40001", "10.0.0.1:40002"]
    same_frames(found[0])
    same_frames(found[1], load_capture("wrong-password"))


def test_a_port_used_again_is_a_new_connection() -> None:
    first = wire()
    again = Wire(isn=(77_000, 88_000), start=EPOCH + 5)
    again.conversation(HAPPY)
    assert len(sniffed(pcap(first.packets + again.packets), "again.pcap")) == 2


def test_amqp_is_found_on_any_port_and_other_tcp_is_left_out() -> None:
    amqp = wire(broker=("10.0.0.2", 8443))
    web = Wire(client=("10.0.0.1", 40009), broker=("10.0.0.3", 80))
    web.handshake()
    web.send(C2B, 0.0, b"GET / HTTP/1.1\r\n\r\n")
    web.send(B2C, 0.0, b"HTTP/1.1 200 OK\r\n\r\n")
    found = one(pcap(sorted(web.packets + amqp.packets, key=lambda s: s.t)))
    assert found.broker_address == "10.0.0.2:8443"
    same_frames(found)


def test_sequence_numbers_that_wrap_around() -> None:
    found = one(pcap(wire(size=64, isn=(2**32 - 700, 2**32 - 5)).packets))
    same_frames(found)


def test_a_capture_begun_after_the_handshake_still_reads() -> None:
    packets = wire().packets[3:]
    same_frames(one(pcap(packets)))


def test_pcapng_with_two_interfaces_reads_each_with_its_own_link_and_clock() -> None:
    header = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    ethernet = block(1, struct.pack("<HHI", 1, 0, 0))
    nanoseconds = struct.pack("<HHB3x", 9, 1, 9) + bytes(4)  # if_tsresol 10**-9
    cooked = block(1, struct.pack("<HHI", 113, 0, 0) + nanoseconds)
    records = [header, ethernet, cooked]
    for number, sent in enumerate(wire().packets):
        interface = number % 2
        units = round(sent.t * (10**9 if interface else 10**6))
        frame = framed(sent.ip, ("ethernet", "sll")[interface])
        fields = (interface, units >> 32, units & 0xFFFFFFFF, len(frame), len(frame))
        records.append(block(6, struct.pack("<5I", *fields) + frame))
        if number == 5:
            records.append(block(4, bytes(4)))  # name resolution: not a packet
    found = one(b"".join(records))
    same_frames(found)
    assert found.events[-1].t == pytest.approx(HAPPY.events[-1].t, abs=1e-6)


def test_a_file_that_is_no_packet_file_says_so(tmp_path: Path) -> None:
    path = tmp_path / "x.pcap"
    path.write_bytes(b"\x7fELF\x02\x01\x01\x00rest")
    neither = "x.pcap is neither a capture .* nor a pcap or pcapng file"
    with pytest.raises(CaptureError, match=f"{neither}: it starts with 7f 45 4c 46"):
        open_captures(path)
    with pytest.raises(CaptureError, match=r"x\.pcap: not a pcap or pcapng file"):
        read_packet_file(path)


def test_a_pcap_without_amqp_says_so() -> None:
    web = Wire(broker=("10.0.0.3", 80))
    web.handshake()
    web.send(C2B, 0.0, b"GET / HTTP/1.1\r\n\r\n")
    data = pcap(web.packets)
    none = r"web.pcap: no AMQP 0-9-1 connection found: none of its 1 TCP connections"
    with pytest.raises(CaptureError, match=rf"{none} \(ports 80, 40000\)"):
        sniffed(data, "web.pcap")
    with pytest.raises(CaptureError, match="the pcap file holds no packets"):
        sniffed(pcap([]), "empty.pcap")
    wifi = data[:20] + struct.pack("<I", 105) + data[24:]
    with pytest.raises(CaptureError, match="packets of link type 105 are not read"):
        sniffed(wifi, "wifi.pcap")


def test_a_json_lines_capture_opens_as_one(tmp_path: Path) -> None:
    path = tmp_path / "capture.jsonl"
    path.write_text(dumps(HAPPY))
    (found,) = open_captures(path)
    assert found.events == HAPPY.events
    with pytest.raises(CaptureError, match="cannot read"):
        open_captures(tmp_path / "missing.pcap")


FILES = [pcap(wire(size=60).packets), pcapng(wire(size=60).packets, "sll2")]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(FILES),
    st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=12),
    st.integers(min_value=0),
)
def test_a_damaged_file_reads_or_says_why(
    data: bytes, changes: list[tuple[int, int]], keep: int
) -> None:
    damaged = bytearray(data)
    for at, value in changes:
        damaged[at % len(damaged)] = value
    found: list[Capture] = []
    message = ""
    try:
        found = sniffed(bytes(damaged[: keep % (len(damaged) + 1)]), "damaged.pcap")
    except CaptureError as exc:
        message = str(exc)
    assert found or message.startswith("damaged.pcap: ")
    for capture in found:
        ReplayEngine(capture, lambda _: None)  # it tells what it can, and why not
