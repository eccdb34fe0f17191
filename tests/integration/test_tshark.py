"""tshark reads the exported pcap and finds the frames our decoder finds.

Needs tshark on the PATH: without it these tests are skipped, except in CI (CI
set), where a missing tshark fails them.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from pamqp.header import ProtocolHeader

from explorer.protocol import Direction, Frame, FrameDecoder
from explorer.protocol.stream import RESET_BY_BROKER, Chunk, StreamEnd, WireEvent
from explorer.recording.capture import Capture, load
from explorer.recording.pcap import write_pcap
from tests.conftest import load_capture

#: tshark's names for the frame types that are not methods, as pamqp names them.
FRAME_TYPES = {"2": "ContentHeader", "3": "ContentBody", "8": "Heartbeat"}
#: tshark reports these as warnings or errors: none may appear.
PROBLEMS = (
    "tcp.analysis.flags || _ws.malformed || _ws.expert.severity >= error"
    " || tcp.checksum.status == 0 || ip.checksum.status == 0"
)
CHECK_CHECKSUMS = ("-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE")


def tshark() -> str:
    """Path of tshark, or skip the test (fail it in CI) when there is none."""
    path = shutil.which("tshark")
    if path is None:
        reason = "tshark is not installed (Debian/Ubuntu: apt-get install tshark)"
        if os.environ.get("CI"):
            pytest.fail(f"tshark is required in CI: {reason}")
        pytest.skip(reason)
    return path


def run_tshark(capture: Capture, tmp_path: Path, *args: str) -> str:
    """tshark's output for the capture's pcap, AMQP decoded on the broker port."""
    pcap = tmp_path / "out.pcap"
    write_pcap(capture, pcap)
    port = capture.broker_address.rpartition(":")[2] or "5672"
    command = [tshark(), "-r", str(pcap), "-d", f"tcp.port=={port},amqp", *args]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return result.stdout


def tshark_frames(capture: Capture, tmp_path: Path) -> list[str]:
    """The AMQP frames tshark dissects, in packet order, named as pamqp names them.

    tshark names a method by class and method (``Basic``, ``Consume-Ok``);
    pamqp calls it ``Basic.ConsumeOk``.
    """
    pdml = ET.fromstring(run_tshark(capture, tmp_path, "-T", "pdml"))
    names = []
    for frame in pdml.iter("proto"):
        if frame.get("name") != "amqp":
            continue
        fields = {f.get("name"): f for f in frame.findall("field")}
        frame_type = fields["amqp.type"].get("show", "")
        if frame_type != "1":
            names.append(FRAME_TYPES[frame_type])
            continue
        class_name = shown_name(fields["amqp.method.class"])
        method_name = shown_name(fields["amqp.method.method"]).replace("-", "")
        names.append(f"{class_name}.{method_name}")
    return names


def shown_name(field: ET.Element) -> str:
    """``Consume-Ok`` from a field shown as ``Method: Consume-Ok (21)``."""
    shown = field.get("showname", "")
    return shown.partition(": ")[2].rpartition(" (")[0]


def decoder_frames(capture: Capture) -> list[str]:
    """The frames our decoder finds, both directions merged in the order seen.

    The protocol header is left out: tshark does not dissect AMQP 0-9-1's.
    """
    decoders = {direction: FrameDecoder(direction) for direction in Direction}
    names = []
    for event in capture.events:
        if isinstance(event, Chunk):
            names += [
                item.name
                for item in decoders[event.direction].feed(event.data)
                if isinstance(item, Frame)
                and not isinstance(item.payload, ProtocolHeader)
            ]
    return names


def test_tshark_finds_the_frames_the_decoder_finds(
    capture: Capture, tmp_path: Path
) -> None:
    expected = decoder_frames(capture)
    assert "Connection.Start" in expected
    assert tshark_frames(capture, tmp_path) == expected


def test_tshark_reads_ipv6_on_another_port(tmp_path: Path) -> None:
    capture = dataclasses.replace(
        load_capture("happy-path"),
        client_address="[::1]:40001",
        broker_address="[::1]:5673",
    )
    assert tshark_frames(capture, tmp_path) == decoder_frames(capture)


def test_tshark_finds_nothing_wrong_with_tcp(capture: Capture, tmp_path: Path) -> None:
    problems = run_tshark(capture, tmp_path, *CHECK_CHECKSUMS, "-Y", PROBLEMS)
    assert problems == ""


def segment_flags(capture: Capture, tmp_path: Path) -> list[tuple[str, bool, bool]]:
    """Each TCP segment of the capture's pcap: source port, FIN, RST."""
    fields = ("-T", "fields", "-e", "tcp.srcport", "-e", "tcp.flags.fin")
    out = run_tshark(capture, tmp_path, *fields, "-e", "tcp.flags.reset")
    rows = [line.split("\t") for line in out.splitlines()]
    return [(port, fin in SET, rst in SET) for port, fin, rst in rows]


#: How tshark prints a flag that is set (the version decides).
SET = ("1", "True")


def test_a_reset_by_the_broker_is_an_rst_after_the_clients_fin(
    tmp_path: Path,
) -> None:
    capture = load_capture("happy-path")
    events: list[WireEvent] = [e for e in capture.events if isinstance(e, Chunk)]
    last = capture.events[-1].t
    events += [
        StreamEnd(last, Direction.CLIENT_TO_BROKER, "closed by the client"),
        StreamEnd(last, Direction.BROKER_TO_CLIENT, RESET_BY_BROKER),
    ]
    capture = dataclasses.replace(capture, events=events)
    client, broker = (
        a.rpartition(":")[2] for a in (capture.client_address, capture.broker_address)
    )
    assert segment_flags(capture, tmp_path)[-2:] == [
        (client, True, False),
        (broker, False, True),
    ]
    problems = run_tshark(capture, tmp_path, *CHECK_CHECKSUMS, "-Y", PROBLEMS)
    assert problems == ""


def test_a_live_recording_keeps_the_brokers_reset(
    broker_url: str, tmp_path: Path
) -> None:
    """RabbitMQ answers the client's FIN with an RST, at every close."""
    out = tmp_path / "live.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "explorer", "record", broker_url, "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    capture = load(out)
    ends = [(e.direction, e.reason) for e in capture.events if isinstance(e, StreamEnd)]
    assert ends == [
        (Direction.CLIENT_TO_BROKER, "closed by the client"),
        (Direction.BROKER_TO_CLIENT, RESET_BY_BROKER),
    ]
    segments = segment_flags(capture, tmp_path)
    assert segments[-1] == (capture.broker_address.rpartition(":")[2], False, True)
    assert [rst for _, _, rst in segments].count(True) == 1
