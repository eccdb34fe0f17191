"""RabbitMQ 4.0 beside 3.10: the same lifecycle, and the version claims seen live.

Like every live test, each runs on every broker (tests/conftest.py BROKERS:
the machine's 3.10.8, the project's 4.0.5 from scripts/rabbitmq4) and its id
names the one it ran on. What differs between versions is asserted from the
version the broker's own Connection.Start names, so the claim a lesson makes
is the one tested.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from typing import NamedTuple

import pytest
from pamqp import base, commands
from pamqp.frame import marshal
from pamqp.header import ProtocolHeader

from explorer.engine.core import Engine
from explorer.engine.events import EngineEvent, FrameObserved, PhaseStarted
from explorer.lab.broker import log_file, log_lines
from explorer.protocol.decoder import FrameDecoder
from explorer.protocol.fields import table_of
from explorer.protocol.frames import B2C, Frame
from explorer.protocol.lifecycle import Phase

#: Capabilities lesson 06 names: each only works if the client lists it too.
NAMED_CAPABILITIES = (
    "consumer_cancel_notify",
    "connection.blocked",
    "authentication_failure_close",
)

#: Protocol headers a client might send, by what they are.
HEADERS = {
    "AMQP 0-9-1": b"AMQP\x00\x00\x09\x01",
    "AMQP 0-9 (older)": b"AMQP\x00\x00\x09\x00",
    "AMQP 0-10": b"AMQP\x00\x00\x0a\x00",
    "AMQP 1.0 (SASL)": b"AMQP\x03\x01\x00\x00",
    "not AMQP": b"HELLO   ",
}
ANSWER_091 = b"AMQP\x00\x00\x09\x01"
ANSWER_10 = b"AMQP\x03\x01\x00\x00"


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


def answer_to(port: int, header: bytes) -> tuple[bytes, str]:
    """The bytes the broker sends back to a header, and the client's address."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.settimeout(5)
        client = "{}:{}".format(*sock.getsockname())
        sock.sendall(header)
        answer = b""
        while len(answer) < 8 and (chunk := sock.recv(8 - len(answer))):
            answer += chunk
        return answer, client


async def logged(client: str, text: str) -> list[str]:
    """The broker's log lines about `client` once one holds `text` (15 s at most)."""
    log = log_file()
    assert log is not None, "the broker's log is not readable here"
    lines: list[str] = []
    deadline = time.monotonic() + 15  # the log handler writes a few seconds late
    while time.monotonic() < deadline:
        lines = log_lines(log, client)
        if any(text in line for line in lines):
            break
        await asyncio.sleep(0.5)
    return lines


def login_anonymously(port: int) -> list[str]:
    """StartOk with mechanism ANONYMOUS: the frames the broker answers, or "reset"."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.settimeout(5)
        decoder = FrameDecoder(B2C)
        sock.sendall(ProtocolHeader().marshal())
        said: list[str] = []

        def send(method: base.Frame) -> None:
            sock.sendall(marshal(method, 0))

        while not said or said[-1] not in ("Connection.OpenOk", "Connection.Close"):
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                return [*said, "reset"]
            for frame in decoder.feed(data):
                if not isinstance(frame, Frame):
                    continue
                said.append(frame.name)
                if frame.name == "Connection.Start":
                    send(commands.Connection.StartOk(
                        client_properties={}, mechanism="ANONYMOUS", response="",
                    ))  # fmt: skip
                elif frame.name == "Connection.Tune":
                    tune = frame.payload
                    assert isinstance(tune, commands.Connection.Tune)
                    send(commands.Connection.TuneOk(
                        tune.channel_max, tune.frame_max, 0
                    ))  # fmt: skip
                    send(commands.Connection.Open(virtual_host="/"))
        return said


class Walked(NamedTuple):
    """A whole lifecycle, stepped: what the engine told, and the client's address."""

    events: list[EngineEvent]
    client: str


async def walk(url: str) -> Walked:
    """Every event of a whole lifecycle stepped at the learner's pace."""
    events: list[EngineEvent] = []
    engine = Engine(url, events.append)
    try:
        while await engine.step():
            pass
    finally:
        await engine.aclose()
    return Walked(events, engine.tap.client_address)


def start_of(events: list[EngineEvent]) -> Frame:
    return next(
        e.frame
        for e in events
        if isinstance(e, FrameObserved)
        and e.frame.direction is B2C
        and e.frame.name == "Connection.Start"
    )


def mechanisms(start: Frame) -> list[str]:
    raw = getattr(start.payload, "mechanisms", b"")
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return text.split()


async def test_the_whole_lifecycle_runs_alike(
    broker_url: str, reference_url: str
) -> None:
    """Every phase in the same order, with the same frames, as on the machine's."""
    here, reference = (
        (await walk(broker_url)).events,
        (await walk(reference_url)).events,
    )

    def shape(events: list[EngineEvent]) -> list[tuple[str, str]]:
        return [
            ("phase", e.phase.value)
            if isinstance(e, PhaseStarted)
            else (e.frame.direction.value, e.frame.name)
            for e in events
            if isinstance(e, PhaseStarted)
            or (isinstance(e, FrameObserved) and e.frame.name != "Heartbeat")
        ]

    assert shape(here) == shape(reference)
    phases = [e.phase for e in here if isinstance(e, PhaseStarted)]
    assert Phase.CLOSE in phases
    assert phases.index(Phase.OPEN) < phases.index(Phase.CHANNEL)


@pytest.mark.parametrize("header", list(HEADERS), ids=list(HEADERS))
async def test_the_header_answer(
    broker_url: str, broker_major: int, header: str
) -> None:
    """3.x answers every other header with 0-9-1; 4.x answers 1.0 unless 0-9/0-10."""
    sent = HEADERS[header]
    answer, _ = answer_to(port_of(broker_url), sent)
    if sent == ANSWER_091:  # the header it speaks: Connection.Start, channel 0
        assert answer[:3] == b"\x01\x00\x00"
        return
    zero_nine_or_later = sent[:6] == b"AMQP\x00\x00" and sent[6] >= 9
    expected = ANSWER_091 if broker_major < 4 or zero_nine_or_later else ANSWER_10
    assert answer == expected


async def test_anonymous_is_offered_from_4(broker_url: str, broker_major: int) -> None:
    """4.x lists ANONYMOUS among Connection.Start's mechanisms; 3.10 does not."""
    start = start_of((await walk(broker_url)).events)
    offered = mechanisms(start)
    assert "PLAIN" in offered
    assert "AMQPLAIN" in offered
    assert ("ANONYMOUS" in offered) is (broker_major >= 4)


async def test_the_capabilities_lesson_06_names(broker_url: str) -> None:
    start = start_of((await walk(broker_url)).events)
    capabilities = table_of(start, "server_properties").get("capabilities")
    assert isinstance(capabilities, dict)
    for name in NAMED_CAPABILITIES:
        assert capabilities.get(name) is True, name


def test_the_sockets_line_is_gone_from_4(
    broker_major: int, ctl: Callable[..., str]
) -> None:
    """rabbitmqctl status counts sockets on 3.x; 4.x shows file descriptors only."""
    status = ctl("status")
    assert "File Descriptors" in status
    assert ("Sockets:" in status) is (broker_major < 4)


async def test_the_close_log_line_says_its_duration_from_4(
    broker_url: str, broker_major: int
) -> None:
    """4.x ends "closing AMQP connection" with `duration: '16ms'`; 3.10 does not."""
    client = (await walk(broker_url)).client
    lines = await logged(client, "closing AMQP connection")
    closing = [line for line in lines if "closing AMQP connection" in line]
    assert closing, f"no close of {client} logged: {lines}"
    assert ("duration:" in closing[0]) is (broker_major >= 4)


async def test_a_header_that_is_not_amqp_is_logged_as_bad_header(
    broker_url: str,
) -> None:
    """3.10.8 and 4.0.5 log {bad_header,...}; 4.1's own wording is not seen here."""
    _, client = answer_to(port_of(broker_url), HEADERS["not AMQP"])
    lines = await logged(client, "bad_header")
    assert any('{bad_header,<<"HELLO   ">>}' in line for line in lines), lines


def test_anonymous_logs_guest_in_from_4(broker_url: str, broker_major: int) -> None:
    """4.x takes ANONYMOUS as its anonymous_login_user, guest; 3.10 resets."""
    said = login_anonymously(port_of(broker_url))
    assert said[0] == "Connection.Start"
    if broker_major >= 4:
        assert said[1:] == ["Connection.Tune", "Connection.OpenOk"]
    else:  # no Close: the mechanism is not one it offered
        assert said[1:] == ["reset"]
