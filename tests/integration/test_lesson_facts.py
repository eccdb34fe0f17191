"""What the lessons state about the wire and the log, checked on the live broker.

Each test pins down one claim a lesson makes (the lesson is named in the test's
docstring) in the structure the lesson gives it: a reply frame and its code, a
header's bytes, the lines the broker logs and when, what rabbitmqctl prints.
Raw sockets and pamqp send exactly what a claim is about; aiormq and the
explorer's own engine are used where the claim is about them. Expectations are
RabbitMQ 3.10.8's, seen live; where 4.x differs (its refusal header) the test
expects what 4.x's source and a reviewer's 4.0.5 say. Nothing is created on the
broker but connections, and every one is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import aiormq
import pytest
from pamqp import commands, frame
from pamqp.base import Frame as PamqpFrame
from pamqp.body import ContentBody
from pamqp.header import ContentHeader, ProtocolHeader
from yarl import URL

from explorer.engine.core import Engine
from explorer.engine.events import EngineEvent, PhaseReport
from explorer.lab import broker
from explorer.protocol import Direction
from explorer.protocol.frames import B2C, C2B
from explorer.protocol.lifecycle import Phase

pytestmark = pytest.mark.broker

Ctl = Callable[..., str]
#: What RabbitMQ 3.x answers every header it refuses with (4.x: some of them).
HEADER_0_9_1: Final = b"AMQP\x00\x00\x09\x01"
#: The AMQP 1.0 SASL header, 4.x's answer to the other refused headers.
HEADER_SASL: Final = b"AMQP\x03\x01\x00\x00"
#: RabbitMQ's handshake_timeout default, in seconds.
HANDSHAKE_TIMEOUT: Final = 10.0
#: The broker's log handler writes to the file a few seconds after the event.
LOG_WITHIN: Final = 10.0
#: A log line's timestamp and the Erlang process that wrote it.
_STAMPED: Final = re.compile(
    r"^(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d\.\d+\S*) \[\w+\] (<[\d.]+>) "
)


class Peer:
    """A raw AMQP 0-9-1 client on one socket: frames in and out, nothing else."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.port: int = writer.get_extra_info("sockname")[1]

    @classmethod
    async def open(cls, url: str) -> Peer:
        parsed = URL(url)
        reader, writer = await asyncio.open_connection(parsed.host, parsed.port or 5672)
        return cls(reader, writer)

    def send(self, channel: int, method: PamqpFrame) -> None:
        self.writer.write(frame.marshal(method, channel))

    async def receive(self) -> tuple[int, PamqpFrame]:
        """The next frame that is not a heartbeat: (channel, frame)."""
        while True:
            head = await asyncio.wait_for(self.reader.readexactly(7), 5)
            rest = await self.reader.readexactly(int.from_bytes(head[3:7], "big") + 1)
            _, channel, decoded = frame.unmarshal(head + rest)
            if isinstance(decoded, PamqpFrame):
                return channel, decoded

    async def handshake(self, url: str, frame_max: int) -> commands.Connection.Start:
        """Header to OpenOk as a well-behaved client, with TuneOk's frame_max ours."""
        parsed = URL(url)
        self.writer.write(ProtocolHeader().marshal())
        _, start = await self.receive()
        assert isinstance(start, commands.Connection.Start)
        self.send(
            0,
            commands.Connection.StartOk(
                client_properties={
                    "product": "amqp-explorer lesson-facts test",
                    "capabilities": {"authentication_failure_close": True},
                },
                mechanism="PLAIN",
                response=f"\0{parsed.user or 'guest'}\0{parsed.password or 'guest'}",
                locale="en_US",
            ),
        )
        _, tune = await self.receive()
        assert isinstance(tune, commands.Connection.Tune)
        self.send(
            0,
            commands.Connection.TuneOk(
                channel_max=tune.channel_max, frame_max=frame_max, heartbeat=0
            ),
        )
        vhost = parsed.path[1:] or "/"
        self.send(0, commands.Connection.Open(virtual_host=vhost))
        _, opened = await self.receive()
        assert opened.name == "Connection.OpenOk"
        return start

    def close(self) -> None:
        self.writer.close()


async def broker_version(url: str) -> tuple[int, ...]:
    """The broker's version, from the server_properties of its Connection.Start."""
    peer = await Peer.open(url)
    try:
        peer.writer.write(ProtocolHeader().marshal())
        _, start = await peer.receive()
    finally:
        peer.close()
    assert isinstance(start, commands.Connection.Start)
    version = str(start.server_properties["version"])
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def readable_log() -> Path:
    path = broker.log_file()
    if path is None:
        pytest.skip("the broker's log is not readable here (a broker on this machine)")
    return path


def logged(path: Path, port: int, since: datetime) -> list[tuple[datetime, str]]:
    """(time, message) of every log line about the connection from `port`.

    A connection's lines name ``:PORT -> `` or its Erlang pid; the pid is read
    from the lines naming the port. Only lines from `since` on count: an earlier
    connection may have had the same client port.
    """
    with path.open("rb") as log:
        log.seek(max(0, path.stat().st_size - (1 << 20)))
        lines = log.read().decode(errors="replace").splitlines()
    marker = f":{port} -> "
    earliest = since - timedelta(milliseconds=50)
    stamped = []
    for line in lines:
        match = _STAMPED.match(line)
        if match is None:
            continue
        stamp = datetime.fromisoformat(match.group(1))
        if stamp.tzinfo is None:
            stamp = stamp.astimezone()
        if stamp >= earliest:
            stamped.append((stamp, match, line))
    pids = {match.group(2) for _, match, line in stamped if marker in line}
    return [
        (stamp, line[match.end() :])
        for stamp, match, line in stamped
        if marker in line or match.group(2) in pids
    ]


async def wait_logged(
    path: Path, port: int, last: str, since: datetime, within: float = LOG_WITHIN
) -> list[tuple[datetime, str]]:
    """The connection's log lines from `since` on, once one of them has `last`."""
    deadline = time.monotonic() + within
    while True:
        lines = logged(path, port, since)
        if any(last in message for _, message in lines) or time.monotonic() > deadline:
            return lines
        await asyncio.sleep(0.2)


async def read_to_end(reader: asyncio.StreamReader, within: float) -> tuple[bytes, str]:
    """Everything the broker sends until it closes or resets: (bytes, how it ended)."""
    data = b""
    try:
        async with asyncio.timeout(within):
            while chunk := await reader.read(65536):
                data += chunk
    except ConnectionResetError:
        return data, "reset"
    except TimeoutError:
        return data, "still open"
    return data, "closed"


# 14-failure-lab (frame-too-large), 08-tune ---


@pytest.mark.parametrize(
    ("payload", "accepted"), [(8192, True), (8193, False)], ids=["8192", "8193"]
)
async def test_a_body_payload_up_to_frame_max_is_accepted_one_byte_more_refused(
    broker_url: str, payload: int, accepted: bool
) -> None:
    """14 frame-too-large: the limit is frame_max itself, 8184 is only the text's."""
    peer = await Peer.open(broker_url)
    try:
        await peer.handshake(broker_url, frame_max=8192)
        peer.send(1, commands.Channel.Open())
        assert (await peer.receive())[1].name == "Channel.OpenOk"
        peer.send(1, commands.Confirm.Select())
        assert (await peer.receive())[1].name == "Confirm.SelectOk"
        body = ContentBody(b"x" * payload)
        assert len(frame.marshal(body, 1)) == payload + 8  # 8 over frame_max, or 9
        peer.writer.write(
            frame.marshal(commands.Basic.Publish(routing_key="amqp-explorer"), 1)
            + frame.marshal(ContentHeader(body_size=payload), 1)
            + frame.marshal(body, 1)
        )
        channel, reply = await peer.receive()
    finally:
        peer.close()
    if accepted:
        assert (channel, reply.name) == (1, "Basic.Ack")
        return
    assert (channel, reply.name) == (0, "Connection.Close")
    assert isinstance(reply, commands.Connection.Close)
    assert reply.reply_code == 501
    assert reply.reply_text.startswith("FRAME_ERROR - type 3")
    assert reply.reply_text.endswith("{frame_too_large,8193,8184}")


# 05-header, 14-failure-lab (wrong-protocol), 20-amqp-1-0, README ---

REFUSED: Final = {
    b"AMQP\x00\x00\x09\x02": "{bad_version,{0,0,9,2}}",
    b"AMQP\x00\x00\x0a\x00": "{bad_version,{0,0,10,0}}",
    b"AMQP\x01\x01\x00\x0a": "{bad_version,{1,1,0,10}}",
    b"HELLO   ": '{bad_header,<<"HELLO   ">>}',
    HEADER_SASL: "amqp1_0_plugin_not_enabled",
}


def refusal_expected(version: tuple[int, ...], header: bytes) -> bytes:
    """The header a broker of `version` answers `header` with."""
    if version < (4,):
        return HEADER_0_9_1
    # 4.x (rabbit_reader:version_negotiation): AMQP 0 0 minor>=9 gets 0-9-1's
    # header, the SASL header is accepted and echoed, anything else gets SASL's.
    is_0_0 = header[:6] == b"AMQP\x00\x00" and header[6] >= 9
    return HEADER_0_9_1 if is_0_0 else HEADER_SASL


async def test_a_refused_header_is_answered_with_a_header_then_a_reset(
    broker_url: str,
) -> None:
    """05, 14 wrong-protocol, 20: the answer to each header, and (3.x) its log line."""
    version = await broker_version(broker_url)
    ports = {}
    since = datetime.now(UTC)
    for header in REFUSED:
        peer = await Peer.open(broker_url)
        ports[header] = peer.port
        peer.writer.write(header)
        data, ended = await read_to_end(peer.reader, 2)
        peer.close()
        assert data[:8] == refusal_expected(version, header), header
        if version < (4,):
            assert (data, ended) == (HEADER_0_9_1, "reset"), header
    if version >= (4,):
        return  # the log's wording differs on 4.x; 3.10.8's is what lessons quote
    path = broker.log_file()
    if path is None:
        return
    for header, reason in REFUSED.items():
        lines = await wait_logged(path, ports[header], reason, since)
        messages = [message for _, message in lines]
        assert messages[0].startswith("accepting AMQP connection"), messages
        assert messages[1].startswith("closing AMQP connection"), messages
        assert messages[2] == reason, messages


# 19-broker-log, 03-tcp, 05-header, 14-failure-lab (handshake-timeout) ---


async def test_a_silent_client_is_logged_only_when_handshake_timeout_fires(
    broker_url: str,
) -> None:
    """19, 03: no byte, no line until 10 s; then accepting and closing at once."""
    path = readable_log()
    parsed = URL(broker_url)
    host, port = parsed.host, parsed.port or 5672
    connected_at = datetime.now(UTC)
    started = time.monotonic()
    silent = await Peer.open(broker_url)
    partial = await Peer.open(broker_url)
    partial.writer.write(b"AMQP")  # half a protocol header
    _, checker = await asyncio.open_connection(host, port)
    checker_port = checker.get_extra_info("sockname")[1]
    checker.close()  # a health check: connect and leave without a byte
    await asyncio.sleep(3)
    assert logged(path, silent.port, connected_at) == [], "logged before the timeout"
    partial_lines = await wait_logged(
        path, partial.port, "accepting AMQP", connected_at
    )
    assert partial_lines[0][1].startswith("accepting AMQP connection")
    ends = await asyncio.gather(
        read_to_end(silent.reader, HANDSHAKE_TIMEOUT + 3),
        read_to_end(partial.reader, HANDSHAKE_TIMEOUT + 3),
    )
    dropped_after = time.monotonic() - started
    silent.close()
    partial.close()
    assert list(ends) == [(b"", "reset"), (b"", "reset")]
    assert HANDSHAKE_TIMEOUT - 0.5 <= dropped_after <= HANDSHAKE_TIMEOUT + 1.5

    for peer in (silent, partial):
        lines = await wait_logged(
            path, peer.port, "{handshake_timeout,handshake}", connected_at
        )
        messages = [message for _, message in lines]
        assert len(messages) == 3, messages
        assert messages[0].startswith("accepting AMQP connection"), messages
        assert messages[1].startswith("closing AMQP connection"), messages
        assert messages[2] == "{handshake_timeout,handshake}", messages
        closed_after = (lines[1][0] - connected_at).total_seconds()
        assert HANDSHAKE_TIMEOUT - 0.5 <= closed_after <= HANDSHAKE_TIMEOUT + 1.5
    silent_lines = logged(path, silent.port, connected_at)
    accepted_after = (silent_lines[0][0] - connected_at).total_seconds()
    assert accepted_after >= HANDSHAKE_TIMEOUT - 0.5, "accepting logged early"
    assert silent_lines[2][0] - silent_lines[0][0] < timedelta(milliseconds=1)
    partial_accepted = (
        logged(path, partial.port, connected_at)[0][0] - connected_at
    ).total_seconds()
    assert partial_accepted < 1.5, "a partial header is logged at once"
    assert logged(path, checker_port, connected_at) == [], "health checks log nothing"


# 19-broker-log (two names), 01-endpoint ---


def _connections(ctl: Ctl, *items: str) -> list[list[str]]:
    listed = ctl("list_connections", *items, "--no-table-headers")
    return [line.split("\t") for line in listed.splitlines() if line.strip()]


async def test_list_connections_keeps_the_name_the_client_name_is_a_property(
    broker_url: str, ctl: Ctl, broker_major: int
) -> None:
    """19: `name` never gets ` - NAME`; the pid is another form of the log's.

    3.10.8 names the connection ``<0.N.M> (name)`` in the message; 4.0.5 writes
    the pid only before the message and the name without parentheses.
    """
    client_name = f"lesson-facts-{secrets.token_hex(4)}"
    url = str(URL(broker_url).update_query(name=client_name))
    since = datetime.now(UTC)
    connection = await aiormq.connect(url)
    try:
        rows = await asyncio.to_thread(
            _connections, ctl, "pid", "name", "peer_port", "client_properties"
        )
    finally:
        await connection.close()
    ours = [row for row in rows if f'{{"connection_name","{client_name}"}}' in row[3]]
    assert len(ours) == 1, rows
    pid, name, peer_port, _ = ours[0]
    assert re.fullmatch(r"127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+", name), name
    assert name.startswith(f"127.0.0.1:{peer_port} -> ")
    assert client_name not in name
    listed = re.fullmatch(r"<(.+)\.(\d+)\.(\d+)\.(\d+)>", pid)
    assert listed is not None, pid
    assert "@" in listed.group(1), pid  # the node's name, e.g. rabbit@localhost
    path = broker.log_file()
    if path is None:
        return
    lines = await wait_logged(path, int(peer_port), "closing AMQP connection", since)
    messages = [message for _, message in lines]
    log_pid = f"<0.{listed.group(3)}.{listed.group(4)}>"
    if broker_major < 4:
        who, named = f"{log_pid} ({name})", f"{log_pid} ({name} - {client_name})"
    else:
        who, named = name, f"{name} - {client_name}"
    assert messages[0] == f"accepting AMQP connection {who}", messages
    assert messages[1] == (
        f"connection {who} has a client-provided name: {client_name}"
    ), messages
    assert messages[2].startswith(f"connection {named}: user "), messages


async def test_aiormq_reads_name_and_ignores_connection_name_and_tune_options(
    broker_url: str, ctl: Ctl
) -> None:
    """01, 08: what aiormq does with URL options when the explorer is not there."""
    ours, theirs = (f"lesson-facts-{secrets.token_hex(4)}" for _ in range(2))
    url = URL(broker_url).update_query(
        name=ours, connection_name=theirs, frame_max=8192, channel_max=5
    )
    connection = await aiormq.connect(str(url))
    try:
        proposed = connection.connection_tune  # the broker's Tune, as echoed
        rows = await asyncio.to_thread(
            _connections, ctl, "frame_max", "channel_max", "client_properties"
        )
    finally:
        await connection.close()
    if (proposed.frame_max, proposed.channel_max) == (8192, 5):
        pytest.skip("this broker proposes the very values the URL asks for")
    row = next(r for r in rows if ours in r[2])
    assert theirs not in row[2]
    assert (int(row[0]), int(row[1])) == (proposed.frame_max, proposed.channel_max)


# 12-heartbeat, and the heartbeat phase's report ---


class Recorder(list[EngineEvent]):
    def __call__(self, event: EngineEvent) -> None:
        self.append(event)


async def test_aiormq_heartbeats_on_its_own_clock_whatever_the_traffic(
    broker_url: str,
) -> None:
    """12: aiormq every heartbeat // 2 s while busy; a busy broker sends none."""
    url = str(URL(broker_url).update_query(heartbeat=2))
    recorder = Recorder()
    engine = Engine(url, recorder)
    try:
        await engine.run(until=Phase.CHANNEL)
        assert engine.channel is not None
        tuned_at = next(f.t for f in engine.frames if f.name == "Connection.TuneOk")
        busy_from = engine.tap.now()
        while engine.tap.now() - busy_from < 3.5:  # a confirmed publish every 50 ms
            await engine.channel.basic_publish(b"busy", routing_key="amqp-explorer")
            await asyncio.sleep(0.05)
        busy_until = engine.tap.now()
        await engine.run(until=Phase.HEARTBEAT)
    finally:
        with contextlib.suppress(Exception):
            await engine.aclose()

    def beats(direction: Direction) -> list[float]:
        return [
            f.t
            for f in engine.frames
            if f.direction is direction
            and f.name == "Heartbeat"
            and busy_from <= f.t <= busy_until
        ]

    client = beats(C2B)
    assert len(client) >= 3, client  # one a second, traffic or not
    gaps = [later - earlier for earlier, later in itertools.pairwise(client)]
    assert all(0.8 <= gap <= 1.3 for gap in gaps), gaps
    # RabbitMQ's first heartbeat goes at its first check, 1 s after TuneOk; then
    # it sends one only after a check period (1 s) in which it sent nothing.
    assert [t for t in beats(B2C) if t > tuned_at + 1.5] == []
    report = next(
        e for e in recorder if isinstance(e, PhaseReport) and e.phase is Phase.HEARTBEAT
    )
    assert report.facts["client_sends_every"] == 1
    assert report.facts["broker_sends_after_silence"] == 1.0
    assert "whatever else it sends" in report.notes[0]
