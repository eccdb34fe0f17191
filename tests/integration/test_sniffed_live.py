"""A real client's connection, captured by tshark, replayed from the pcap.

pika logs in as a user of this test's own, with a random password, through
the relay of tests/wirecheck/capture.py (a port of its own, so tshark sees only
this test's traffic), while tshark writes classic pcap or pcapng. The file is
opened as `replay` opens it, and each connection's frames (name, channel,
bytes) must be those of what the relay forwarded, decoded by FrameDecoder,
with the password masked: it is in no Capture and in no replay output.

Needs the broker, rabbitmqctl (for the user), tshark and pika: without one,
skipped with the reason; in CI (CI set), failed.
"""

from __future__ import annotations

import asyncio
import io
import secrets
from pathlib import Path

import pytest
from yarl import URL

from explorer.cli.trace import replay_trace
from explorer.protocol.decoder import FrameDecoder
from explorer.protocol.frames import C2B, Direction, Frame
from explorer.recording.capture import Capture, dumps
from explorer.recording.model import masked
from explorer.recording.packetfile import is_packet_file
from explorer.recording.sniffed import open_captures
from tests.conftest import User
from tests.wirecheck import clients
from tests.wirecheck.capture import Relay, tshark_capture
from tests.wirecheck.clients import Login

#: How each file format starts: pcap's magic as dumpcap writes it, pcapng's SHB.
STARTS = {"pcap": b"\xd4\xc3\xb2\xa1", "pcapng": b"\x0a\x0d\x0d\x0a"}


@pytest.fixture
def login(broker_url: str, temp_user: User) -> Login:
    """The live broker, as this test's own user (removed after the test)."""
    url = URL(broker_url)
    host, port = url.host or "127.0.0.1", url.port or 5672
    return Login(host, port, temp_user.name, temp_user.password)


def frames_of(stream: bytes, direction: Direction) -> list[tuple[str, int, bytes]]:
    """The frames of one direction's bytes: name, channel and bytes of each."""
    return [
        (item.name, item.channel, item.raw)
        for item in FrameDecoder(direction).feed(stream)
        if isinstance(item, Frame)
    ]


def captured(login: Login, tmp_path: Path, kind: str) -> tuple[Path, Relay]:
    """pika's run through the relay, under tshark writing a `kind` file."""
    queue = f"explorer-sniffed-{secrets.token_hex(4)}"
    relay = Relay((login.host, login.port))
    path = tmp_path / f"pika.{kind}"
    through = Login("127.0.0.1", relay.port, login.user, login.password)
    try:
        with tshark_capture(relay.port, path, kind):
            result = clients.pika_client(through, queue)
    finally:
        relay.close()
        clients.delete_queue(login, queue)
    assert result["consumed"] == b"second"
    return path, relay


def replay_output(capture: Capture) -> str:
    """What `replay --print` and `replay --print --json` print for the capture."""
    out = io.StringIO()
    for as_json in (False, True):
        asyncio.run(replay_trace(capture, as_json=as_json, out=out))
    return out.getvalue()


@pytest.mark.broker
@pytest.mark.parametrize("kind", list(STARTS))
def test_a_pika_run_captured_by_tshark_replays_frame_for_frame(
    login: Login, tmp_path: Path, kind: str
) -> None:
    path, relay = captured(login, tmp_path, kind)
    data = path.read_bytes()
    assert data.startswith(STARTS[kind])
    assert is_packet_file(data)
    captures = open_captures(path)
    assert [c.client_address for c in captures] == [
        f"127.0.0.1:{r.client_port}" for r in relay.connections
    ]
    password = login.password.encode()
    for capture, forwarded in zip(captures, relay.connections, strict=True):
        assert capture.broker_address == f"127.0.0.1:{relay.port}"
        assert capture.broker.startswith("RabbitMQ ")
        assert capture.client == "Pika Python Client Library 1.4.4"  # pinned
        assert not capture.gaps
        assert not capture.cut
        (span,) = capture.redactions
        sent = forwarded.stream(C2B)
        assert sent[span.offset : span.offset + span.length] == password
        for direction in Direction:
            expected = forwarded.stream(direction)
            if direction is C2B:
                expected = masked(expected, 0, capture.redactions)
            found = frames_of(capture.stream(direction), direction)
            assert found == frames_of(expected, direction)
            assert len(found) > 3
        assert password not in capture.stream(C2B)
        assert password.hex() not in dumps(capture)
        assert login.password not in replay_output(capture)
