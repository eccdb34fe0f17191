"""What the AMQP 1.0 lessons (21-30) state about the wire, checked on RabbitMQ 4.0.

Every number or byte a 1.0 lesson writes out (rather than filling in from the
learner's frames) is checked here against a live lifecycle of the explorer's
own client (Amqp10Client: Qpid Proton through the Tap) on the project's
RabbitMQ 4.0.5: byte offsets, type bytes, Proton's choices, RabbitMQ's
answers and timings. The unknown-vhost and missing-queue answers the lessons
quote are test_amqp10_bytes.py's tests. Needs the broker and python-qpid-proton.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from collections.abc import Iterator
from typing import Final

import pytest

from explorer.engine.core import Engine
from explorer.net.amqp10 import Amqp10Client, Amqp10Error
from explorer.net.tap import Tap
from explorer.protocol.amqp10.decoder import Amqp10Decoder
from explorer.protocol.amqp10.frames import Body
from explorer.protocol.amqp10.values import Array, Described
from explorer.protocol.dialect import AMQP_1_0
from explorer.protocol.frames import B2C, C2B, Direction, Frame
from explorer.protocol.lifecycle import Phase
from explorer.protocol.stream import RESET_BY_BROKER, Chunk, StreamEnd
from tests.conftest import BROKERS, User, answering
from tests.integration.test_amqp10_bytes import (
    BODY,
    BROKER4,
    HOST,
    PORT,
    ctl4,
    declared_queue,
    throwaway_user,
)
from tests.integration.test_amqp10_engine import Recorder, url
from tests.unit.test_amqp10_lifecycle import frames_of

pytestmark = pytest.mark.broker

SASL_HEADER: Final = bytes.fromhex("414d515003010000")
AMQP_HEADER: Final = bytes.fromhex("414d515000010000")


@pytest.fixture
def user4(request: pytest.FixtureRequest) -> Iterator[User]:
    answering(BROKER4, request)
    yield from throwaway_user()


@pytest.fixture
def queue4(user4: User) -> Iterator[str]:
    yield from declared_queue()


class Run:
    """One lifecycle's frames and chunks, looked up by sender and name."""

    def __init__(self, tap: Tap) -> None:
        self.chunks = [e for e in tap.events if isinstance(e, Chunk)]
        self.frames = frames_of(tap.events)

    def all(self, direction: Direction, name: str) -> list[Frame]:
        return [f for f in self.frames if (f.direction, f.name) == (direction, name)]

    def first(self, direction: Direction, name: str) -> Frame:
        return self.all(direction, name)[0]

    def fields(self, direction: Direction, name: str) -> dict[str, object]:
        payload = self.first(direction, name).payload
        assert isinstance(payload, Body)
        return payload.fields

    def chunk_of(self, frame: Frame) -> int:
        """The index of the chunk (one write or read) the frame starts in."""
        start = 0
        for index, chunk in enumerate(
            c for c in self.chunks if c.direction is frame.direction
        ):
            if start <= frame.offset < start + len(chunk.data):
                return index
            start += len(chunk.data)
        raise AssertionError(frame)


async def lifecycle(user: User, queue: str, idle_timeout: float = 2.0) -> Run:
    tap = Tap(hide_handshake_heartbeats=False)
    client = Amqp10Client(tap, user.name, user.password, idle_timeout=idle_timeout)
    await client.connect(HOST, PORT)
    await client.open()
    await client.begin()
    await client.attach_sender(f"/queues/{queue}")
    await client.send(BODY)
    await client.attach_receiver(f"/queues/{queue}")
    assert await client.receive() == BODY
    await client.close()
    return Run(tap)


@pytest.fixture
def run(user4: User, queue4: str) -> Run:
    return asyncio.run(lifecycle(user4, queue4))


def test_the_sasl_header_lesson(run: Run) -> None:
    """21: both SASL headers; sasl-mechanisms (52 bytes) right behind the
    broker's, unasked: read with it, or alone in the next read (RabbitMQ 4.0.5
    sends the two in segments of their own), before the client's sasl-init."""
    client, broker = run.first(C2B, "sasl-header"), run.first(B2C, "sasl-header")
    assert client.raw == broker.raw == SASL_HEADER
    mechanisms = run.first(B2C, "sasl-mechanisms")
    assert (mechanisms.offset, mechanisms.size) == (len(SASL_HEADER), 52)
    assert run.chunk_of(mechanisms) - run.chunk_of(broker) in (0, 1)
    assert mechanisms.t <= run.first(C2B, "sasl-init").t


def probe(data: bytes, wait: float, port: int = PORT) -> tuple[bytes, str, float]:
    """Write `data` to 4.0.5 (or the broker on `port`), read until the end:
    what came, how it ended, when."""
    with socket.create_connection((HOST, port)) as sock:
        started = time.monotonic()
        sock.sendall(data)
        sock.settimeout(wait)
        got = b""
        try:
            while chunk := sock.recv(65536):
                got += chunk
            end = "closed"
        except ConnectionResetError:
            end = "reset"
        return got, end, time.monotonic() - started


def test_a_bare_amqp_header_gets_the_sasl_header_and_a_reset(
    request: pytest.FixtureRequest,
) -> None:
    """21: 4.0.5 wants SASL first."""
    answering(BROKER4, request)
    got, end, took = probe(AMQP_HEADER, 5.0)
    assert (got, end) == (SASL_HEADER, "reset")
    assert took < 1.0


def test_the_handshake_clock_drops_a_client_after_its_sasl_header(
    request: pytest.FixtureRequest,
) -> None:
    """21: sasl-mechanisms, then a reset 10 s (handshake_timeout) in."""
    answering(BROKER4, request)
    got, end, took = probe(SASL_HEADER, 15.0)
    assert got.startswith(SASL_HEADER + bytes.fromhex("0000003402010000005340"))
    assert end == "reset"
    assert 9.5 < took < 11.5


def test_3_10_answers_a_1_0_header_with_0_9_1s(request: pytest.FixtureRequest) -> None:
    """20, 21: RabbitMQ 3.10.8, plugin off: `AMQP 0 0 9 1`, then a reset."""
    answering(BROKERS[0], request)
    got, end, took = probe(SASL_HEADER, 5.0, port=5672)
    assert (got, end) == (bytes.fromhex("414d515000000901"), "reset")
    assert took < 1.0


#: When the raw client of the clock test sends its open, after TCP accept (s).
LATE_OPEN: Final = 9.0
#: How long that client then stays silent, still connected (s).
SILENT: Final = 40.0


def test_the_handshake_clock_stops_at_the_clients_open(run: Run) -> None:
    """21, 26, 30: a raw client sends the run's SASL header, sasl-init and AMQP
    header at once, its open only 9 s after connecting: the broker answers
    with its open and does not reset it at 10 s; then, sending nothing at
    all, it is still connected 40 s after its open (more than 4.0.5's
    idle-time-out of 30000 ms)."""
    with socket.create_connection((HOST, PORT)) as sock:
        started = time.monotonic()
        sock.settimeout(2.0)
        sock.sendall(SASL_HEADER)
        read_past(sock, b"\x00\x53\x40")  # sasl-mechanisms
        sock.sendall(run.first(C2B, "sasl-init").raw)
        read_past(sock, b"\x00\x53\x44")  # sasl-outcome
        sock.sendall(AMQP_HEADER)
        time.sleep(LATE_OPEN - (time.monotonic() - started))
        sock.sendall(run.first(C2B, "open").raw)
        decoder, names = Amqp10Decoder(B2C), []
        opened = time.monotonic()
        while time.monotonic() - opened < SILENT:
            chunk = sock.recv(65536)  # a reset raises
            assert chunk, "the broker closed its side"
            names += [f.name for f in decoder.feed(chunk, 0.0) if isinstance(f, Frame)]
    assert names[:2] == ["amqp-header", "open"]
    assert set(names[2:]) == {"heartbeat"}  # every 500 ms: the open's 1000 ms


def read_past(sock: socket.socket, mark: bytes) -> None:
    """Read until `mark` (a performative's descriptor) has come."""
    got = b""
    while mark not in got:
        chunk = sock.recv(65536)
        assert chunk, "the broker closed its side"
        got += chunk


def test_the_sasl_lesson(run: Run, user4: User) -> None:
    """22: the frame header, the three bodies' bytes at the offsets given."""
    mechanisms = run.first(B2C, "sasl-mechanisms").raw
    assert mechanisms[4:8] == bytes.fromhex("02010000")
    assert mechanisms[8:12] == bytes.fromhex("005340c0")
    assert (mechanisms[14], mechanisms[17]) == (0xE0, 0xB3)
    offered = run.fields(B2C, "sasl-mechanisms")["sasl-server-mechanisms"]
    assert isinstance(offered, Array)
    assert offered.items == ("PLAIN", "AMQPLAIN", "ANONYMOUS")
    init = run.first(C2B, "sasl-init").raw
    assert init[8:11] == bytes.fromhex("005341")
    assert init[14:21] == b"\xa3\x05PLAIN"
    response = b"\x00" + user4.name.encode() + b"\x00" + user4.password.encode()
    assert init[21:23] == bytes([0xA0, len(response)])
    assert init[23:] == response
    assert run.fields(C2B, "sasl-init")["hostname"] is None  # not sent
    outcome = run.first(B2C, "sasl-outcome").raw
    assert outcome[8:11] == bytes.fromhex("005344")
    assert outcome[13:] == bytes.fromhex("02500040")


def test_a_wrong_password_gets_code_1_three_seconds_late(user4: User) -> None:
    """20, 22: code 1 (byte 15 `01`) about 3 s after sasl-init; no open, no
    close; a client that waits is reset about 3 s after the outcome."""

    async def wrong() -> tuple[Run, StreamEnd]:
        tap = Tap(hide_handshake_heartbeats=False)
        client = Amqp10Client(tap, user4.name, "not-the-password")
        await client.connect(HOST, PORT)
        with pytest.raises(Amqp10Error):
            await client.open()
        for _ in range(100):  # wait, sending nothing, up to 5 s
            if B2C in tap.ended:
                break
            await asyncio.sleep(0.05)
        await client.finish()
        (end,) = [
            e for e in tap.events if isinstance(e, StreamEnd) and e.direction is B2C
        ]
        return Run(tap), end

    failed, end = asyncio.run(wrong())
    outcome = failed.first(B2C, "sasl-outcome")
    assert outcome.raw[15] == 1
    assert 2.5 < outcome.t - failed.first(C2B, "sasl-init").t < 4.0
    assert not [f for f in failed.frames if f.name in ("open", "close")]
    assert end.reason == RESET_BY_BROKER
    assert 2.5 < end.t - outcome.t < 4.0


def test_the_open_lesson(run: Run) -> None:
    """23: the AMQP headers; Proton's header and open in one write; the opens'
    bytes and types; Proton advertises half its idle timeout."""
    header = run.first(C2B, "amqp-header")
    assert header.raw == run.first(B2C, "amqp-header").raw == AMQP_HEADER
    assert run.chunk_of(header) == run.chunk_of(run.first(C2B, "open"))
    assert run.chunk_of(header) == run.chunk_of(run.first(C2B, "sasl-init")) + 1
    client, broker = run.first(C2B, "open").raw, run.first(B2C, "open").raw
    assert client[8:11] == broker[8:11] == bytes.fromhex("005310")
    assert client[14:16] == bytes([0xA1, len("amqp-explorer")])
    assert client[16:29] == b"amqp-explorer"
    assert broker[11] == 0xD0
    fields = run.fields(B2C, "open")
    assert fields["hostname"] is None
    hostname_at = 20 + 2 + len(str(fields["container-id"]))
    assert broker[hostname_at] == 0x40
    kinds = broker[hostname_at + 1], broker[hostname_at + 6], broker[hostname_at + 9]
    assert kinds == (0x70, 0x60, 0x70)
    assert run.fields(C2B, "open")["idle-time-out"] == 1000  # idle_timeout 2 s


def test_the_begin_lesson(run: Run) -> None:
    """24: the client's begin's bytes, Proton's windows, the broker's answer."""
    client, broker = run.first(C2B, "begin").raw, run.first(B2C, "begin").raw
    assert client[6:8] == b"\x00\x00"
    assert client[8:14] == bytes.fromhex("005311c01205")
    assert client[14:16] == bytes.fromhex("4043")
    assert client[16:31] == bytes.fromhex("707fffffff") * 3
    assert broker[14:17] == bytes.fromhex("600000")
    assert broker[22] == 0x70
    assert broker[32:34] == bytes.fromhex("52ff")
    answer = run.fields(B2C, "begin")
    assert 2**32 - 16 < int(str(answer["next-outgoing-id"])) < 2**32
    flow = run.fields(B2C, "flow")
    assert flow["incoming-window"] == answer["incoming-window"]


def test_the_operations_lesson(run: Run, queue4: str) -> None:
    """25: attach, flow, transfer, disposition and detach as the lesson reads them."""
    sender, receiver = run.all(C2B, "attach")
    assert sender.raw[8:11] == bytes.fromhex("005312")
    assert sender.payload.fields["role"] is False  # type: ignore[union-attr]
    assert sender.raw[32] == 0x42
    assert bytes.fromhex("005329") in sender.raw
    fields = receiver.payload.fields  # type: ignore[union-attr]
    assert (fields["handle"], fields["role"]) == (1, True)
    source = fields["source"]
    assert isinstance(source, Described)
    assert source.fields["address"] == f"/queues/{queue4}"
    assert run.fields(B2C, "attach")["role"] is True
    assert run.first(B2C, "flow").raw[32:34] == bytes.fromhex("52aa")
    assert run.fields(C2B, "flow")["link-credit"] == 1
    sent = run.first(C2B, "transfer").raw
    assert sent[8:11] == bytes.fromhex("005314")
    header, properties, value = (bytes.fromhex(f"0053{c}") for c in ("70", "73", "77"))
    assert sent.index(header) < sent.index(properties) < sent.index(value)
    delivered = run.first(B2C, "transfer").payload
    assert isinstance(delivered, Body)
    assert delivered.message is not None
    annotations = {s.name: s.value for s in delivered.message}["message-annotations"]
    assert annotations == {"x-exchange": "", "x-routing-key": queue4}
    confirm = run.first(B2C, "disposition").raw
    assert (confirm[14], confirm[17], confirm[18:21]) == (0x41, 0x41, b"\x00\x53\x24")
    assert run.first(C2B, "disposition").raw[18:21] == b"\x00\x53\x24"
    assert [f.raw[-1] for f in run.all(C2B, "detach")] == [0x41, 0x41]


def test_the_close_lesson(run: Run) -> None:
    """27: detach handles 0 then 1; the broker adds a null error; end and close
    are 12 bytes from Proton, 15 from RabbitMQ."""
    handles = [f.payload.fields["handle"] for f in run.all(C2B, "detach")]  # type: ignore[union-attr]
    assert handles == [0, 1]
    assert all(f.raw[-1] == 0x40 for f in run.all(B2C, "detach"))
    for name, code in (("end", "17"), ("close", "18")):
        assert run.first(C2B, name).raw == bytes.fromhex(
            f"0000000c0200000000 53{code}45"
        )
        assert run.first(B2C, name).raw == bytes.fromhex(
            f"0000000f0200000000 53{code}c0020140"
        )


def test_the_heartbeat_lesson(user4: User) -> None:
    """26: the 8 empty bytes; the broker's every half the client's 1000 ms;
    none against no idle-time-out; Proton's first at half the broker's 30 s."""

    async def idle(idle_timeout: float, linger: float) -> Run:
        tap = Tap(hide_handshake_heartbeats=False)
        client = Amqp10Client(
            tap, user4.name, user4.password, idle_timeout=idle_timeout
        )
        await client.connect(HOST, PORT)
        await client.open()
        await client.begin()
        await client.linger(linger)
        await client.close()
        return Run(tap)

    quiet = asyncio.run(idle(0.0, 2.0))
    assert quiet.fields(C2B, "open")["idle-time-out"] is None
    assert not quiet.all(B2C, "heartbeat")
    kept = asyncio.run(idle(2.0, 16.0))
    assert kept.fields(B2C, "open")["idle-time-out"] == 30000
    empty = kept.all(B2C, "heartbeat")
    assert {f.raw for f in empty} == {bytes.fromhex("0000000802000000")}
    gaps = [b.t - a.t for a, b in itertools.pairwise(empty)]
    assert 0.4 < min(gaps) <= max(gaps) < 0.6
    (proton,) = kept.all(C2B, "heartbeat")
    assert proton.raw == bytes.fromhex("0000000802000000")
    assert 14.5 < proton.t - kept.first(C2B, "open").t < 15.5


async def opened(address: str) -> tuple[Engine, Recorder]:
    """An Engine's 1.0 run up to the broker's open (no queue is declared)."""
    events = Recorder()
    engine = Engine(address, events.append, dialect=AMQP_1_0)
    try:
        await engine.run(until=Phase.OPEN)
    finally:
        await engine.aclose()
    return engine, events


def fields_of(engine: Engine, direction: Direction, name: str) -> dict[str, object]:
    """The fields of the run's first `name` frame from `direction`."""
    frame = engine.frame(direction, name)
    assert frame is not None
    assert isinstance(frame.payload, Body)
    return frame.payload.fields


def settings_of(events: Recorder) -> dict[object, tuple[object, object]]:
    """The endpoint report's settings: value and where it came from, by name."""
    rows = events.report(Phase.ENDPOINT).facts["settings"]
    assert isinstance(rows, list)
    return {r["name"]: (r["value"], r["from"]) for r in rows if isinstance(r, dict)}


async def test_the_1_0_endpoint_lesson(user4: User) -> None:
    """28: Proton's idle timeout is the URL's heartbeat (2 s when it has none,
    as the row says), announced halved; frame_max, channel_max and
    connection_name are not read (their notes say not used); PLAIN, and
    auth=amqplain stops the run; the vhost in open's hostname; the url row
    spells what Proton is handed, heartbeat included; amqps stops the run at
    the endpoint."""
    options = "?heartbeat=4&frame_max=8192&channel_max=10&connection_name=lesson-28"
    tuned, tuned_events = await opened(url(user4) + options)
    plain, plain_events = await opened(url(user4))
    assert settings_of(plain_events)["heartbeat"] == (2, "default")
    assert fields_of(plain, C2B, "open")["idle-time-out"] == 1000
    rows = settings_of(tuned_events)
    assert rows["heartbeat"] == (4, "url")
    assert rows["frame_max"] == (8192, "url")
    client_open = fields_of(tuned, C2B, "open")
    assert client_open["idle-time-out"] == 2000
    assert (client_open["max-frame-size"], client_open["channel-max"]) == (32768, 32767)
    assert client_open["container-id"] == "amqp-explorer"
    assert client_open["hostname"] == "vhost:/"
    assert fields_of(tuned, C2B, "sasl-init")["mechanism"] == "PLAIN"
    url_row = tuned_events.report(Phase.ENDPOINT).facts["url"]
    assert isinstance(url_row, str)
    assert url_row.endswith("/%2F?heartbeat=4")
    notes = tuned_events.report(Phase.ENDPOINT).facts["settings"]
    assert isinstance(notes, list)
    for row in notes:
        assert isinstance(row, dict)
        if row["name"] in ("frame_max", "channel_max", "connection_name"):
            assert str(row["note"]).startswith("not used"), row
    for address, words in (
        (url(user4).replace("amqp:", "amqps:"), "plain TCP only"),
        (url(user4) + "?auth=amqplain", "logs in with SASL PLAIN only"),
    ):
        told = Recorder()
        refused = Engine(address, told.append, dialect=AMQP_1_0)
        await refused.run()
        assert told.failures()[0].phase is Phase.ENDPOINT
        assert words in told.failures()[0].message
        assert refused.frames == []


async def test_the_1_0_resolve_lesson(user4: User) -> None:
    """29: the name stops at resolve (a .invalid one fails there, no byte
    sent); sasl-init carries no hostname; 4.0.5 looks no name up and lists a
    1.0 connection's protocol as {1, 0}."""
    lost = Recorder()
    nowhere = Engine(
        url(user4).replace(HOST, "no-such-host.invalid"), lost.append, dialect=AMQP_1_0
    )
    await nowhere.run()
    assert lost.failures()[0].phase is Phase.RESOLVE
    assert nowhere.frames == []
    assert "{reverse_dns_lookups,false}" in ctl4("environment")
    events = Recorder()
    engine = Engine(url(user4), events.append, dialect=AMQP_1_0)
    try:
        await engine.run(until=Phase.OPEN)
        assert fields_of(engine, C2B, "sasl-init")["hostname"] is None
        local = events.report(Phase.TCP).facts["local"]
        listed = ctl4("list_connections", "name", "protocol").splitlines()
        assert f"{local} -> {HOST}:{PORT}\t{{1, 0}}" in listed
    finally:
        await engine.aclose()


async def test_the_1_0_tcp_lesson(user4: User) -> None:
    """30: the 0-9-1 tcp facts, pace learner; a socket that writes nothing
    gets nothing and is reset 10.0 s after connecting (handshake_timeout)."""
    _, events = await opened(url(user4))
    facts = events.report(Phase.TCP).facts
    shared = {"attempts", "connect_ms", "local", "remote", "open_files_held"}
    assert shared <= set(facts)
    assert facts["pace"] == "learner"
    got, end, took = await asyncio.to_thread(probe, b"", 12.0)
    assert (got, end) == (b"", "reset")
    assert 9.9 < took < 10.5
