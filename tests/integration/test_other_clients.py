"""Other clients on the wire, read by our decoder and byte map and by tshark.

pika (from PyPI), Debian's amqp-tools (librabbitmq, a C client) and a
hand-written encoder (tests/wirecheck/encoder.py: bytes packed by hand from the
0-9-1 spec) each run against the live broker through a relay on a port of its
own, so the capture (``tshark -i lo -f "tcp port PORT"``, started before the
client, stopped after) holds only their connections. Each TCP direction is
reassembled from the pcap, checked against what the relay forwarded, fed to
our decoder segment by segment, and every frame, method argument, content
property and field-table entry our byte map gives (value, type, bytes) is
compared with tshark's PDML, as are the decoder's values as shown
(fields_of). What RabbitMQ refuses (the 'U' tag, more than one property-flags
word) is written into a pcap instead and read the same way without sending.

Known tshark gaps are named in tests/wirecheck/compare.py TSHARK_GAPS, each
with its reason; one is used only where tshark shows exactly that gap, and the
hand encoder's own record of what it wrote is checked there instead.

Needs the broker, tshark, pika and amqp-tools: without one, skipped with the
reason; in CI (CI set), failed.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pamqp import commands
from pamqp.body import ContentBody
from pamqp.header import ContentHeader
from yarl import URL

from explorer.protocol import Direction, Frame
from explorer.protocol.decoder import FrameDecoder
from explorer.protocol.fields import JSON, fields_of
from explorer.protocol.frames import B2C, C2B
from explorer.protocol.stream import Chunk
from explorer.protocol.values import frame_values
from explorer.recording.capture import Capture
from explorer.recording.pcap import write_pcap
from tests.wirecheck import clients, compare, encoder
from tests.wirecheck.capture import Relay, tcp_streams, tshark_capture
from tests.wirecheck.clients import Login
from tests.wirecheck.dissect import dissect
from tests.wirecheck.encoder import Written
from tests.wirecheck.items import Item
from tests.wirecheck.ours import items_of

log = logging.getLogger(__name__)
T = TypeVar("T")
#: Gaps any capture may use: tshark never shows these two.
ALWAYS: frozenset[str] = frozenset({"protocol-header", "frame-end"})


@pytest.fixture
def login(broker_url: str) -> Login:
    """The live broker's address and credentials."""
    url = URL(broker_url)
    return Login(
        url.host or "127.0.0.1", url.port or 5672, url.user or "guest",
        url.password or "guest",
    )  # fmt: skip


@pytest.fixture
def queue(login: Login) -> Iterator[str]:
    """A queue name of this test's own; the queue is deleted afterwards."""
    name = f"explorer-other-clients-{secrets.token_hex(4)}"
    yield name
    clients.delete_queue(login, name)


@dataclass
class Run:
    """One client's run through the relay, compared."""

    result: Any
    check: compare.Check
    #: Our frames, per connection (client port) and direction.
    frames: dict[int, dict[Direction, list[Frame]]]

    def all_frames(self, direction: Direction) -> list[Frame]:
        return [f for both in self.frames.values() for f in both[direction]]


def through_relay(login: Login, tmp_path: Path, client: Callable[[Login], T]) -> Run:
    """Run `client` through a relay under tshark, then compare every connection."""
    relay = Relay((login.host, login.port))
    pcap = tmp_path / "capture.pcap"
    try:
        with tshark_capture(relay.port, pcap):
            result = client(Login("127.0.0.1", relay.port, login.user, login.password))
    finally:
        relay.close()
    streams = tcp_streams(pcap, relay.port)
    dissection = dissect(pcap, relay.port)
    check = compare.Check()
    frames: dict[int, dict[Direction, list[Frame]]] = {}
    assert sorted(streams) == sorted(c.client_port for c in relay.connections)
    for relayed in relay.connections:
        stream = streams[relayed.client_port]
        chunks = stream.chunks
        for direction in Direction:  # the capture lost nothing
            assert b"".join(chunks[direction]) == relayed.stream(direction)
        found, frames[relayed.client_port] = compare.connection(
            dissection, relayed.client_port, chunks
        )
        check.add(found)
    return Run(result, check, frames)


def summary(name: str, check: compare.Check) -> None:
    """Log what was compared (pytest shows it with --log-cli-level=INFO)."""
    gaps = {k: len(v) for k, v in check.gaps.items()}
    log.info(
        "%s: %d frames, %d fields and %d shown values against tshark, "
        "%d against the encoder's record, gaps %s",
        name, check.frames, check.fields, check.shown, check.intent, gaps,
    )  # fmt: skip


def header_types(run: Run) -> set[str]:
    """The entry types of every headers table the client published."""
    return {
        item.type
        for frame in run.all_frames(C2B)
        for item in items_of(frame)
        if item.path.startswith("properties.headers.")
    }


def body_frames(run: Run) -> list[Frame]:
    return [f for f in run.all_frames(C2B) if isinstance(f.payload, ContentBody)]


def tune_ok(run: Run) -> commands.Connection.TuneOk:
    found = [
        f.payload
        for f in run.all_frames(C2B)
        if isinstance(f.payload, commands.Connection.TuneOk)
    ]
    assert found
    return found[0]


@pytest.mark.broker
def test_pika_on_the_wire(login: Login, queue: str, tmp_path: Path) -> None:
    run = through_relay(login, tmp_path, lambda at: clients.pika_client(at, queue))
    summary("pika", run.check)
    assert run.result["got"] == clients.BODY
    assert run.result["headers"] == clients.PIKA_HEADERS
    assert run.result["consumed"] == b"second"
    assert tune_ok(run).frame_max == clients.FRAME_MAX
    bodies = body_frames(run)
    assert len(bodies) >= 3
    assert all(f.size <= clients.FRAME_MAX for f in bodies)
    assert header_types(run) >= {
        "string", "byte array", "boolean", "integer", "long int", "decimal",
        "timestamp", "field table", "array", "void",
    }  # fmt: skip
    assert not run.check.disagreements, run.check.report()
    assert run.check.used() <= ALWAYS


@pytest.mark.broker
def test_amqp_tools_on_the_wire(login: Login, queue: str, tmp_path: Path) -> None:
    run = through_relay(
        login, tmp_path, lambda at: clients.amqp_tools_client(at, queue)
    )
    summary("amqp-tools", run.check)
    assert run.result == {"got": clients.AMQP_TOOLS_BODY, "consumed": b"second"}
    assert len(run.frames) == 6  # declare, publish twice, get, consume, delete
    assert tune_ok(run).frame_max == clients.AMQP_TOOLS_FRAME_MAX
    bodies = body_frames(run)
    assert len(bodies) >= 3
    assert all(f.size <= clients.AMQP_TOOLS_FRAME_MAX for f in bodies)
    assert header_types(run) == {"string"}
    published = next(
        f for f in run.all_frames(C2B) if isinstance(f.payload, ContentHeader)
    )
    properties = fields_of(published)["properties"]
    assert isinstance(properties, dict)
    assert properties["headers"] == clients.AMQP_TOOLS_HEADERS
    assert not run.check.disagreements, run.check.report()
    assert run.check.used() <= ALWAYS


@pytest.mark.broker
def test_hand_encoder_on_the_wire(
    login: Login, queue: str, tmp_path: Path, broker_major: int
) -> None:
    run = through_relay(login, tmp_path, lambda at: clients.hand_client(at, queue))
    written, header, body = run.result
    assert body == clients.BODY
    published = next(w for w in written if w.raw[0] == 2)
    sent, delivered = published.raw[7:-1], header
    if broker_major < 4:  # 3.10.8 passes the properties on byte for byte
        assert delivered == sent
    else:  # 4.0.5 writes them anew: the same values, the headers sorted by key
        assert properties_of(delivered) == properties_of(sent)
        headers = properties_of(delivered)["headers"]
        assert isinstance(headers, dict)
        assert list(headers) == sorted(headers, key=str.encode)
    (ours,) = run.frames.values()
    check = run.check
    check.add(compare.against_intent(ours[C2B][1:], [w.intent for w in written[1:]]))
    summary("hand encoder", check)
    assert not check.disagreements, check.report()
    assert check.used() == ALWAYS | {"L-tag"}


def properties_of(payload: bytes) -> dict[str, JSON]:
    """A content header payload's properties, as the explorer reads them."""
    data = b"\x02\x00\x01" + len(payload).to_bytes(4, "big") + payload + b"\xce"
    (frame,) = [f for f in FrameDecoder(B2C).feed(data) if isinstance(f, Frame)]
    properties = frame_values(frame).fields["properties"]
    assert isinstance(properties, dict)
    return properties


#: What the spec says of each case checked offline, for a failure message.
OFFLINE: dict[str, str] = {
    "U-tag": (
        "the 0-9-1 grammar's 'U' is short-int, signed 16 bits (RabbitMQ's errata "
        "drop it for 's'; RabbitMQ 3.10.8 refuses it with 541, tshark does not "
        "know it): the hand encoder wrote int16-U = -32768"
    ),
    "flag-words": (
        "the 0-9-1 spec: bit 0 of a property-flags word set means another word "
        "follows; the hand encoder wrote five words (0xb049 0x0001 0x0001 0x0001 "
        "0x0000), RabbitMQ 3.10.8 refuses more than one with 541"
    ),
}


@pytest.mark.parametrize("case", list(OFFLINE))
def test_hand_encoder_offline(case: str, tmp_path: Path) -> None:
    frames = clients.refused_by_rabbitmq()[case]
    pcap = tmp_path / f"{case}.pcap"
    offline_pcap(frames, pcap)
    streams = tcp_streams(pcap, 5672)
    (stream,) = streams.values()
    assert stream.stream(C2B) == b"".join(w.raw for w in frames)
    chunks = stream.chunks
    check, ours = compare.connection(dissect(pcap, 5672), stream.client_port, chunks)
    check.add(compare.against_intent(ours[C2B][1:], [w.intent for w in frames[1:]]))
    summary(f"offline {case}", check)
    assert not check.disagreements, f"{OFFLINE[case]}\n{check.report()}"
    assert case in check.used()


@pytest.mark.broker
@pytest.mark.parametrize("case", list(OFFLINE))
def test_rabbitmq_refuses_what_is_checked_offline(login: Login, case: str) -> None:
    """Why those cases are offline: RabbitMQ 3.10.8 closes with 541."""
    frames = clients.refused_by_rabbitmq()[case]
    client = clients.HandClient(login)
    try:
        client.open()
        client.send(*frames[1:])
        with pytest.raises(ConnectionError, match="541"):
            client.expect(60, 70)  # nothing comes but Connection.Close
    finally:
        client.sock.close()


def offline_pcap(frames: list[Written], path: Path) -> None:
    """The frames as one client stream in a pcap, one TCP segment per frame."""
    capture = Capture(
        url="amqp://127.0.0.1:5672/",
        recorded="2026-01-01T00:00:00+00:00",
        client_address="127.0.0.1:40000",
        broker_address="127.0.0.1:5672",
        events=[Chunk(i / 1000, C2B, w.raw) for i, w in enumerate(frames)],
    )
    write_pcap(capture, path)


#: One change to one of tshark's Items, each of which the comparison must see.
CHANGES: dict[str, Callable[[Item], list[Item]]] = {
    "none": lambda item: [item],
    "value": lambda item: [dataclasses.replace(item, value=-32767)],
    "type": lambda item: [dataclasses.replace(item, type="short uint")],
    "bytes": lambda item: [dataclasses.replace(item, span=(0, 3))],
    "missing": lambda item: [],
    "extra": lambda item: [item, item],
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_the_comparison_sees_one_changed_field(change: str, tmp_path: Path) -> None:
    """The checker itself: one altered tshark field is found, and nothing else."""
    properties = [*clients.HAND_PROPERTIES, ("user_id", "shortstr", "guest")]
    frames = [
        *clients.refused_by_rabbitmq()["U-tag"][:2],
        encoder.content_header(1, 3, properties),
        *encoder.bodies(1, b"abc", clients.FRAME_MAX),
    ]
    pcap = tmp_path / "changed.pcap"
    offline_pcap(frames, pcap)
    (stream,) = tcp_streams(pcap, 5672).values()
    dissection = dissect(pcap, 5672)
    header = dissection.frames[1]
    path = "properties.headers.int16"
    header.items = [
        changed
        for item in header.items
        for changed in (CHANGES[change](item) if item.path == path else [item])
    ]
    chunks = stream.chunks
    check, _ = compare.connection(dissection, stream.client_port, chunks)
    if change == "none":
        assert not check.disagreements, check.report()
    else:
        assert check.disagreements
        assert all("int16" in line for line in check.disagreements), check.report()
