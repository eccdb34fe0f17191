"""RabbitMQ 4.0 beside 3.10: the same lifecycle, and the version claims seen live.

Each test names the broker it ran on ("3.10" is the shared broker at
$AMQP_URL, "4.0" the project's own from scripts/rabbitmq4). What differs
between the versions is asserted per version, from the version the broker's
own Connection.Start names, so the claim the lessons make is the one tested.
"""

from __future__ import annotations

import socket

import pytest

from explorer.engine.core import Engine
from explorer.engine.events import EngineEvent, FrameObserved, PhaseStarted
from explorer.protocol.fields import table_of
from explorer.protocol.frames import B2C, Frame
from explorer.protocol.lifecycle import Phase

BROKERS = ["3.10", "4.0"]

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


@pytest.fixture(params=BROKERS)
def url(request: pytest.FixtureRequest) -> str:
    """The URL of the broker this test runs on."""
    name = "broker_url" if request.param == "3.10" else "broker4_url"
    value: str = request.getfixturevalue(name)
    return value


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


def answer_to(port: int, header: bytes) -> bytes:
    """The bytes the broker sends back to a header, until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.settimeout(5)
        sock.sendall(header)
        answer = b""
        while len(answer) < 8 and (chunk := sock.recv(8 - len(answer))):
            answer += chunk
        return answer


async def walk(url: str) -> list[EngineEvent]:
    """Every event of a whole lifecycle stepped at the learner's pace."""
    events: list[EngineEvent] = []
    engine = Engine(url, events.append)
    try:
        while await engine.step():
            pass
    finally:
        await engine.aclose()
    return events


def start_of(events: list[EngineEvent]) -> Frame:
    return next(
        e.frame
        for e in events
        if isinstance(e, FrameObserved)
        and e.frame.direction is B2C
        and e.frame.name == "Connection.Start"
    )


def major_minor(start: Frame) -> tuple[int, int]:
    version = str(table_of(start, "server_properties").get("version", ""))
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def mechanisms(start: Frame) -> list[str]:
    raw = getattr(start.payload, "mechanisms", b"")
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return text.split()


async def test_the_whole_lifecycle_runs_alike(url: str, broker_url: str) -> None:
    """Every phase in the same order, with the same frames, on each broker."""
    here, reference = await walk(url), await walk(broker_url)

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
async def test_the_header_answer(url: str, header: str) -> None:
    """3.x answers every other header with 0-9-1; 4.x answers 1.0 unless 0-9/0-10."""
    major, _ = major_minor(start_of(await walk(url)))
    sent = HEADERS[header]
    answer = answer_to(port_of(url), sent)
    if sent == ANSWER_091:  # the header it speaks: Connection.Start, channel 0
        assert answer[:3] == b"\x01\x00\x00"
        return
    zero_nine_or_later = sent[:6] == b"AMQP\x00\x00" and sent[6] >= 9
    assert answer == (ANSWER_091 if major < 4 or zero_nine_or_later else ANSWER_10)


async def test_anonymous_is_offered_from_4(url: str) -> None:
    """4.x lists ANONYMOUS among Connection.Start's mechanisms; 3.10 does not."""
    start = start_of(await walk(url))
    offered = mechanisms(start)
    assert "PLAIN" in offered
    assert "AMQPLAIN" in offered
    assert ("ANONYMOUS" in offered) is (major_minor(start)[0] >= 4)
