"""AMQP 1.0 on RabbitMQ 4.0, live: a real client's bytes, read by our decoder.

Python's Qpid Proton (the C engine on its sans-I/O Transport, over a socket
driven here) runs a whole lifecycle against the project's RabbitMQ 4.0.5 on
127.0.0.1:5673: SASL PLAIN with a throwaway user, open with hostname
"vhost:/", begin, a sender attached to /queues/NAME, one transfer and its
disposition, a receiver, flow, the transfer back and its disposition, detach,
end, close. Every frame both ways is decoded, in order, its byte map exact;
tshark's AMQP 1.0 dissector reads the same performatives. What 4.0.5 answers
to a wrong password, an unknown vhost and a queue that does not exist is
asserted too. Needs the broker (skipped without it, failing in CI) and
python-qpid-proton (the test extra); the tshark test needs tshark.

`python -m tests.integration.test_amqp10_bytes` records the committed fixture
tests/captures/amqp10/lifecycle.jsonl again (the password masked).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import secrets
import socket
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

import aiormq
import pytest

from explorer.protocol.amqp10.decoder import Amqp10Decoder
from explorer.protocol.amqp10.frames import Body
from explorer.protocol.amqp10.secrets import secrets_in
from explorer.protocol.amqp10.values import Described, Symbol
from explorer.protocol.frames import B2C, C2B, Direction, Frame
from explorer.protocol.stream import RESET_BY_BROKER, Chunk, StreamEnd, WireEvent
from explorer.recording.capture import Capture, Redaction, masked, save
from explorer.recording.pcap import write_pcap
from tests.conftest import BROKERS, RABBITMQ4, User, answering
from tests.integration.test_tshark import tshark
from tests.unit.test_amqp10_support import (
    FIXTURE,
    assert_exact,
    committed,
    decode_all,
    proton,
)

pytestmark = pytest.mark.broker

#: The project's RabbitMQ 4.0 (tests/conftest.py BROKERS).
BROKER4: Final = BROKERS[1]
HOST, PORT = "127.0.0.1", 5673
CONTAINER: Final = "amqp-explorer-proton"
BODY: Final = "hello from proton"
#: The lifecycle's frames as each side sends them, empty frames left out.
CLIENT_FRAMES: Final = [
    "sasl-header", "sasl-init", "amqp-header", "open", "begin", "attach",
    "transfer", "attach", "flow", "disposition", "detach", "detach", "end",
    "close",
]  # fmt: skip
BROKER_FRAMES: Final = [
    "sasl-header", "sasl-mechanisms", "sasl-outcome", "amqp-header", "open",
    "begin", "attach", "flow", "disposition", "attach", "transfer", "detach",
    "detach", "end", "close",
]  # fmt: skip
#: Seconds to wait for the broker at each step.
STEP_TIMEOUT: Final = 10.0
#: RabbitMQ waits 3 s (its reader's SILENT_CLOSE_DELAY) before it answers a failed
#: login, and again before it drops the connection: at least this long (s).
SILENT_CLOSE_DELAY: Final = 2.5
#: Proton's idle timeout (s), and how long the lifecycle idles after begin:
#: long enough for the broker's empty frames (heartbeats) to come.
IDLE_TIMEOUT, LINGER = 2.0, 1.2


class Wire:
    """A Proton connection on its sans-I/O Transport, over a socket driven here.

    Every byte Proton writes and every byte the broker sends is kept as a
    Chunk, timed from the TCP connect, exactly as it crossed.
    """

    def __init__(self, user: str, password: str, hostname: str = "vhost:/") -> None:
        self.connection = proton.Connection()
        self.connection.container = CONTAINER
        self.connection.hostname = hostname
        self.connection.user = user
        self.connection.password = password
        self.transport = proton.Transport()
        sasl = self.transport.sasl()
        sasl.allowed_mechs("PLAIN")
        sasl.allow_insecure_mechs = True  # plain TCP to 127.0.0.1
        self.transport.bind(self.connection)
        self.sock = socket.create_connection((HOST, PORT), timeout=STEP_TIMEOUT)
        host, port = self.sock.getsockname()[:2]
        self.client_address = f"{host}:{port}"
        self.started = time.monotonic()
        self.events: list[WireEvent] = []
        #: The broker has closed its side; Proton's output has ended.
        self.ended = self.shut = False

    def now(self) -> float:
        return time.monotonic() - self.started

    def pump(self, done: Callable[[], bool], timeout: float = STEP_TIMEOUT) -> None:
        """Send what Proton has to send, and feed it what comes, until `done()`.

        Raises:
            AssertionError: `done()` did not come true within `timeout` s.
        """
        deadline = time.monotonic() + timeout
        while True:
            self._flush()
            if done():
                return
            left = deadline - time.monotonic()
            if left <= 0 or self.ended:
                raise AssertionError(f"the broker did not answer within {timeout} s")
            self.sock.settimeout(min(left, 0.5))
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except ConnectionResetError:
                self._end(RESET_BY_BROKER)
                continue
            if not data:
                self._end("closed by the broker")
                continue
            self.events.append(Chunk(self.now(), B2C, data))
            while data:
                room = max(self.transport.capacity(), 1)
                self.transport.push(data[:room])
                data = data[room:]

    def _end(self, reason: str) -> None:
        self.events.append(StreamEnd(self.now(), B2C, reason))
        self.transport.close_tail()
        self.ended = True

    def linger(self, seconds: float) -> None:
        """Keep the connection going for `seconds`, taking what comes."""
        until = time.monotonic() + seconds
        self.pump(lambda: time.monotonic() >= until, seconds + 1)

    def finish(self) -> None:
        """Read until the broker closes, then close the socket."""
        try:
            self.pump(lambda: self.ended)
        finally:
            self.sock.close()

    def _flush(self) -> None:
        """Write what Proton has to send; shut the socket's write side once
        Proton's output has ended (after its close, or a failed SASL)."""
        while (pending := self.transport.pending()) > 0:
            data = bytes(self.transport.peek(pending))
            self.transport.pop(len(data))
            if not self.ended:
                self.sock.sendall(data)
                self.events.append(Chunk(self.now(), C2B, data))
        if pending < 0 and not self.shut:
            self.shut = True
            self.events.append(StreamEnd(self.now(), C2B, "closed by the client"))
            with contextlib.suppress(OSError):  # the broker closed first
                self.sock.shutdown(socket.SHUT_WR)

    def stream(self, direction: Direction) -> bytes:
        return b"".join(
            e.data
            for e in self.events
            if isinstance(e, Chunk) and e.direction is direction
        )


def active(endpoint: Any) -> Callable[[], bool]:
    """Whether the broker has opened (attached, begun) its end."""
    return lambda: bool(endpoint.state & proton.Endpoint.REMOTE_ACTIVE)


def closed(endpoint: Any) -> Callable[[], bool]:
    """Whether the broker has closed (detached, ended) its end."""
    return lambda: bool(endpoint.state & proton.Endpoint.REMOTE_CLOSED)


def lifecycle(user: User, queue: str) -> Wire:
    """The whole lifecycle with Proton, one step after another."""
    wire = Wire(user.name, user.password)
    # Proton advertises half its idle timeout: idle-time-out 1000 ms in its
    # open, so the broker sends empty frames while the test lingers.
    wire.transport.idle_timeout = IDLE_TIMEOUT
    connection = wire.connection
    connection.open()
    wire.pump(active(connection))
    session = connection.session()
    session.open()
    wire.pump(active(session))
    wire.linger(LINGER)
    sender = session.sender("explorer-sender")
    sender.target.address = f"/queues/{queue}"
    sender.open()
    wire.pump(lambda: active(sender)() and sender.credit > 0)
    delivery = sender.delivery(b"tag-1")
    sender.send(proton.Message(body=BODY).encode())
    sender.advance()
    wire.pump(lambda: delivery.remote_state == proton.Delivery.ACCEPTED)
    delivery.settle()
    receiver = session.receiver("explorer-receiver")
    receiver.source.address = f"/queues/{queue}"
    receiver.open()
    wire.pump(active(receiver))
    receiver.flow(1)
    wire.pump(lambda: receiver.current is not None and not receiver.current.partial)
    incoming = receiver.current
    receiver.recv(incoming.pending)
    incoming.update(proton.Delivery.ACCEPTED)
    incoming.settle()
    receiver.advance()
    sender.close()
    receiver.close()
    wire.pump(lambda: closed(sender)() and closed(receiver)())
    session.close()
    wire.pump(closed(session))
    connection.close()
    wire.pump(closed(connection))
    wire.finish()
    return wire


def decode(data: bytes, direction: Direction) -> list[Frame]:
    """Every frame of one direction's stream; no failure allowed."""
    items = decode_all(direction, [data])
    frames = [i for i in items if isinstance(i, Frame)]
    assert frames == items, items[-1]
    return frames


def names(frames: list[Frame]) -> list[str]:
    return [f.name for f in frames if f.name != "heartbeat"]


def as_capture(wire: Wire, user: User) -> Capture:
    """The run as a capture file holds it, the password masked."""
    spans = [
        Redaction(C2B, frame.offset + s.offset, s.length, s.what)
        for frame in decode(wire.stream(C2B), C2B)
        for s in secrets_in(frame)
    ]
    events: list[WireEvent] = []
    position = 0
    for event in wire.events:
        if isinstance(event, Chunk) and event.direction is C2B:
            event = Chunk(event.t, C2B, masked(event.data, position, spans))
            position += len(event.data)
        events.append(event)
    broker = next(f for f in decode(wire.stream(B2C), B2C) if f.name == "open").payload
    assert isinstance(broker, Body)
    properties = broker.fields["properties"]
    assert isinstance(properties, dict)
    return Capture(
        url=f"amqp://{user.name}:***@{HOST}:{PORT}/",
        recorded=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        broker=f"{properties['product']} {properties['version']}",
        client=f"python-qpid-proton {'.'.join(map(str, proton.VERSION))}",
        client_address=wire.client_address,
        broker_address=f"{HOST}:{PORT}",
        redactions=spans,
        events=events,
    )


def ctl4(*args: str) -> str:
    """The 4.0 node's rabbitmqctl, quietly."""
    result = subprocess.run(
        [str(RABBITMQ4), "ctl", "-q", *args],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return result.stdout


@pytest.fixture(scope="module")
def broker4(request: pytest.FixtureRequest) -> str:
    """The project's RabbitMQ 4.0 (skipped without it, failing in CI)."""
    return answering(BROKER4, request)


def throwaway_user() -> Iterator[User]:
    user = User(f"explorer-a10-{secrets.token_hex(4)}", f"pw-{secrets.token_hex(12)}")
    ctl4("add_user", user.name, user.password)
    try:
        ctl4("set_permissions", "-p", "/", user.name, ".*", ".*", ".*")
        yield user
    finally:
        ctl4("delete_user", user.name)


def declared_queue() -> Iterator[str]:
    """A queue declared (over 0-9-1, with aiormq) for one run, deleted after."""
    name = f"explorer-a10-{secrets.token_hex(4)}"
    url = f"amqp://guest:guest@{HOST}:{PORT}/"

    async def declare(delete: bool) -> None:
        connection = await aiormq.connect(url)
        channel = await connection.channel()
        if delete:
            await channel.queue_delete(name)
        else:
            await channel.queue_declare(name)
        await connection.close()

    asyncio.run(declare(delete=False))
    try:
        yield name
    finally:
        asyncio.run(declare(delete=True))


@pytest.fixture
def user4(broker4: str) -> Iterator[User]:
    yield from throwaway_user()


@pytest.fixture
def queue4(broker4: str) -> Iterator[str]:
    yield from declared_queue()


@pytest.fixture
def run(user4: User, queue4: str) -> tuple[Wire, User]:
    return lifecycle(user4, queue4), user4


def test_live_lifecycle_decodes_in_order_with_exact_maps(
    run: tuple[Wire, User],
) -> None:
    wire, _ = run
    client, broker = decode(wire.stream(C2B), C2B), decode(wire.stream(B2C), B2C)
    assert names(client) == CLIENT_FRAMES
    assert names(broker) == BROKER_FRAMES
    assert "heartbeat" in [f.name for f in broker]
    for frame in client + broker:
        assert_exact(frame)
    by_name = {(f.direction, f.name): f.payload for f in client + broker}
    sent = by_name[C2B, "open"]
    assert isinstance(sent, Body)
    assert sent.fields["hostname"] == "vhost:/"
    assert sent.fields["container-id"] == CONTAINER
    delivered = by_name[B2C, "transfer"]
    assert isinstance(delivered, Body)
    assert delivered.message is not None
    assert delivered.message[-1] == Described(0x77, BODY)  # amqp-value
    accepted = by_name[B2C, "disposition"]
    assert isinstance(accepted, Body)
    assert accepted.fields["state"] == Described(0x24, [])


def test_the_password_is_the_secret_span(run: tuple[Wire, User]) -> None:
    wire, user = run
    (init,) = [f for f in decode(wire.stream(C2B), C2B) if f.name == "sasl-init"]
    (secret,) = secrets_in(init)
    assert init.raw[secret.offset : secret.offset + secret.length] == (
        user.password.encode()
    )
    assert as_capture(wire, user).stream(C2B).count(user.password.encode()) == 0


def test_the_fixture_holds_the_same_lifecycle(run: tuple[Wire, User]) -> None:
    """The committed capture is this run's lifecycle (as 4.0.5 answered it)."""
    wire, _ = run
    fixture = committed()
    for direction in Direction:
        assert names(decode(fixture.stream(direction), direction)) == names(
            decode(wire.stream(direction), direction)
        )


#: tshark's codes for what a frame carries, in our names.
HEADERS: Final = {"0": "amqp-header", "3": "sasl-header"}
CARRIED: Final = {
    "64": "sasl-mechanisms", "65": "sasl-init", "66": "sasl-challenge",
    "67": "sasl-response", "68": "sasl-outcome", "16": "open", "17": "begin",
    "18": "attach", "19": "flow", "20": "transfer", "21": "disposition",
    "22": "detach", "23": "end", "24": "close",
}  # fmt: skip
#: The scalar fields tshark shows, by its field names, in ours.
_ARGUMENTS: Final = (
    "containerId container-id", "hostname hostname",
    "maxFrameSize max-frame-size", "channelMax channel-max",
    "idleTimeout idle-time-out", "remoteChannel remote-channel",
    "nextOutgoingId next-outgoing-id", "incomingWindow incoming-window",
    "outgoingWindow outgoing-window", "handleMax handle-max", "name name",
    "handle handle", "role role", "sndSettleMode snd-settle-mode",
    "rcvSettleMode rcv-settle-mode", "initDeliveryCount initial-delivery-count",
    "maxMessageSize max-message-size", "nextIncomingId next-incoming-id",
    "deliveryCount delivery-count", "linkCredit link-credit",
    "available available", "drain drain", "echo echo",
    "deliveryId delivery-id", "messageFormat message-format",
    "settled settled", "more more", "first first", "last last",
    "closed closed",
)  # fmt: skip
TSHARK_FIELDS: Final = {
    **{
        f"amqp.performative.arguments.{theirs}": ours
        for theirs, ours in (pair.split() for pair in _ARGUMENTS)
    },
    "amqp.sasl.mechanism": "mechanism",
    "amqp.sasl.saslCode": "code",
}
#: One header or frame: its name, its size in bytes, its scalar fields shown
#: as tshark shows them.
Seen = tuple[str, int, dict[str, str]]


def tshark_frames(capture: Capture, tmp_path: Path) -> dict[Direction, list[Seen]]:
    """What tshark's AMQP 1.0 dissector finds each way."""
    pcap = tmp_path / "amqp10.pcap"
    write_pcap(capture, pcap)
    command = [tshark(), "-r", str(pcap), "-d", f"tcp.port=={PORT},amqp", "-T", "pdml"]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    found: dict[Direction, list[list[Any]]] = {C2B: [], B2C: []}
    for packet in ET.fromstring(result.stdout).iter("packet"):
        port = packet.find("proto[@name='tcp']/field[@name='tcp.dstport']")
        assert port is not None
        frames = found[C2B if port.get("show") == str(PORT) else B2C]
        for amqp in packet.findall("proto[@name='amqp']"):
            arguments = {  # a performative's own, not its source's or message's
                id(argument)
                for group in amqp.iter("field")
                if group.get("name") == "amqp.method.arguments"
                for argument in group
            }
            for field in amqp.iter("field"):
                name, show = field.get("name", ""), field.get("show", "")
                if name == "amqp.init.id":
                    frames.append([HEADERS[show], 8, {}])
                elif name == "amqp.length":
                    frames.append(["heartbeat", int(show), {}])
                elif name in ("amqp.performative", "amqp.sasl.method"):
                    frames[-1][0] = CARRIED[show]
                elif name in TSHARK_FIELDS and id(field) in arguments:
                    frames[-1][2].setdefault(TSHARK_FIELDS[name], show)
    return {d: [(n, size, f) for n, size, f in found[d]] for d in Direction}


def as_tshark_shows(frame: Frame) -> Seen:
    """A decoded frame as `tshark_frames` gives it."""
    body = frame.payload
    fields = body.fields if isinstance(body, Body) else {}
    shown = {
        ours: str(int(value)) if isinstance(value, int) else str(value)
        for ours in TSHARK_FIELDS.values()
        if (value := fields.get(ours)) is not None
    }
    return frame.name, frame.size, shown


def assert_tshark_agrees(capture: Capture, tmp_path: Path) -> None:
    found = tshark_frames(capture, tmp_path)
    for direction in Direction:
        frames = decode(capture.stream(direction), direction)
        assert found[direction] == [as_tshark_shows(f) for f in frames]


def test_tshark_dissects_the_fixture_as_we_decode_it(tmp_path: Path) -> None:
    assert_tshark_agrees(committed(), tmp_path)


def test_tshark_dissects_a_live_run_as_we_decode_it(
    run: tuple[Wire, User], tmp_path: Path
) -> None:
    wire, user = run
    assert_tshark_agrees(as_capture(wire, user), tmp_path)


def broker_frames(wire: Wire) -> list[Frame]:
    """The broker's frames, each timed by the chunk that completed it."""
    decoder = Amqp10Decoder(B2C)
    items = [
        item
        for event in wire.events
        if isinstance(event, Chunk) and event.direction is B2C
        for item in decoder.feed(event.data, event.t)
    ]
    assert decoder.close() is None
    return [i for i in items if isinstance(i, Frame)]


def fields_of(frames: list[Frame], name: str) -> dict[str, object]:
    (body,) = [f.payload for f in frames if f.name == name]
    assert isinstance(body, Body)
    return body.fields


def test_a_wrong_password_is_sasl_outcome_auth_after_3_s(user4: User) -> None:
    """4.0.5 answers code 1 (auth) 3 s late (its silent-close delay, which
    slows a password guesser), and resets TCP 3 s after the client's FIN."""
    wire = Wire(user4.name, "not-the-password")
    wire.connection.open()
    wire.finish()
    frames = broker_frames(wire)
    assert names(frames) == ["sasl-header", "sasl-mechanisms", "sasl-outcome"]
    assert fields_of(frames, "sasl-outcome")["code"] == 1
    mechanisms, outcome = frames[1:]
    assert outcome.t - mechanisms.t >= SILENT_CLOSE_DELAY
    ends = {e.direction: e for e in wire.events if isinstance(e, StreamEnd)}
    assert ends[B2C].reason == RESET_BY_BROKER
    assert ends[B2C].t - ends[C2B].t >= SILENT_CLOSE_DELAY


def test_an_unknown_vhost_gets_no_open_and_a_reset(user4: User) -> None:
    """4.0.5 sends its AMQP header, then resets the TCP connection: no open, no
    close with an error (its log says amqp:unauthorized-access, "virtual host
    ... does not exist")."""
    wire = Wire(user4.name, user4.password, hostname="vhost:explorer-no-such-vhost")
    wire.connection.open()
    wire.finish()
    frames = broker_frames(wire)
    assert names(frames) == [
        "sasl-header", "sasl-mechanisms", "sasl-outcome", "amqp-header",
    ]  # fmt: skip
    ends = [e.reason for e in wire.events if isinstance(e, StreamEnd)]
    assert RESET_BY_BROKER in ends


def test_attaching_to_a_missing_queue_ends_the_session(user4: User) -> None:
    """4.0.5 answers neither attach nor detach: it ends the session, with
    amqp:not-found naming the queue."""
    wire = Wire(user4.name, user4.password)
    wire.connection.open()
    session = wire.connection.session()
    session.open()
    sender = session.sender("explorer-sender")
    sender.target.address = "/queues/explorer-no-such-queue"
    sender.open()
    wire.pump(closed(session))
    session.close()
    wire.connection.close()
    wire.pump(closed(wire.connection))
    wire.finish()
    frames = broker_frames(wire)
    assert names(frames)[4:] == ["open", "begin", "end", "close"]
    error = fields_of(frames, "end")["error"]
    assert isinstance(error, Described)
    assert error.name == "error"
    assert error.fields["condition"] == Symbol("amqp:not-found")
    assert error.fields["description"] == (
        "no queue 'explorer-no-such-queue' in vhost '/'"
    )


def record() -> None:
    """Run the lifecycle once and write it as the committed fixture."""
    with contextlib.ExitStack() as stack:
        user = stack.enter_context(contextlib.contextmanager(throwaway_user)())
        queue = stack.enter_context(contextlib.contextmanager(declared_queue)())
        wire = lifecycle(user, queue)
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    save(as_capture(wire, user), FIXTURE)


if __name__ == "__main__":
    record()
