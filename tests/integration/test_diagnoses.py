"""Diagnoses of faults no broker shows on purpose: stalls, bad TLS files, a half close.

A stalling broker is a fake peer that answers with the real broker's frames
(from tests/captures/happy-path.jsonl) up to a point, then sends part of its
next answer, or nothing, and stays silent with the connection open. A half
close is a relay in front of the live broker that swallows its
Connection.CloseOk. Bad TLS files fail before any connection is made.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from yarl import URL

from explorer.engine.core import Engine
from explorer.engine.events import EngineEvent, LifecycleEnded, PhaseFailed
from explorer.protocol.decoder import FrameDecoder
from explorer.protocol.frames import B2C, C2B, Frame
from explorer.protocol.lifecycle import HANDSHAKE, Phase
from tests.conftest import capture_frames, run_cli, run_cli_async
from tests.integration.conftest import Handler, fake_trace, last_error, records

WAIT = 1.0


def answers() -> list[tuple[str, bytes]]:
    """The happy path's broker frames, each with the client frame it answered."""
    frames = capture_frames("happy-path")
    return [
        ([f for f in frames[:i] if f.direction is C2B][-1].name, frame.raw)
        for i, frame in enumerate(frames)
        if frame.direction is B2C
    ]


def stalling(answered: int, extra: int = 0) -> Handler:
    """A broker that answers as the real one did `answered` times, then stalls.

    Its next answer is cut after `extra` bytes (none: it sends nothing more);
    it keeps the connection open until the client closes it.
    """
    replies = answers()

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder, step = FrameDecoder(C2B), 0
        while data := await reader.read(65536):
            for frame in decoder.feed(data):
                assert isinstance(frame, Frame)
                while step < len(replies) and replies[step][0] == frame.name:
                    reply = replies[step][1]
                    writer.write(reply if step < answered else reply[:extra])
                    step = len(replies) if step == answered else step + 1
        writer.close()

    return peer


async def run(url: str, *, live: bool, reading: float = 0.0) -> list[EngineEvent]:
    """Every event of a lifecycle stepped to its end, reading `reading` s before
    each handshake step."""
    events: list[EngineEvent] = []
    engine = Engine(url, events.append, live_handshake=live, wait=WAIT)
    try:
        while not engine.finished:
            if engine.next_phase in HANDSHAKE:
                await asyncio.sleep(reading)
            await engine.step()
    finally:
        await engine.aclose()
    return events


def failures(events: list[EngineEvent]) -> list[PhaseFailed]:
    return [e for e in events if isinstance(e, PhaseFailed)]


PACES = pytest.mark.parametrize("live", [False, True], ids=["learner", "race"])
STALLS = [
    pytest.param(
        0, 100, Phase.HEADER, "ProtocolHeader",
        "100 bytes came back, the first 100 of the 504 bytes of a method frame on "
        "channel 0 (Connection.Start), then nothing",
        id="mid-start",
    ),
    pytest.param(
        1, 0, Phase.AUTH, "Connection.StartOk",
        "the broker has sent nothing since (its last frame was Connection.Start)",
        id="after-start",
    ),
    pytest.param(
        1, 5, Phase.AUTH, "Connection.StartOk",
        "5 bytes came back, not yet a whole frame header (7 bytes), then nothing",
        id="mid-tune-header",
    ),
    pytest.param(
        2, 0, Phase.OPEN, "Connection.Open",
        "the broker has sent nothing since (its last frame was Connection.Tune)",
        id="after-tune",
    ),
    pytest.param(
        3, 0, Phase.CHANNEL, "Channel.Open",
        "the broker has sent nothing since (its last frame was Connection.OpenOk)",
        id="after-open-ok",
    ),
]  # fmt: skip


@PACES
@pytest.mark.parametrize(("answered", "extra", "phase", "sent", "came"), STALLS)
async def test_a_stall_says_what_came_at_the_phase_where_it_stopped(
    fake_peer: Callable[[Handler], Awaitable[int]],
    live: bool,
    answered: int,
    extra: int,
    phase: Phase,
    sent: str,
    came: str,
) -> None:
    port = await fake_peer(stalling(answered, extra))
    events = await run(f"amqp://guest:guest@127.0.0.1:{port}/", live=live)
    (failure,) = failures(events)
    assert failure.phase is phase
    assert failure.message.startswith(f"no answer within 1 s: {sent} went out ")
    assert failure.message.endswith(f" and {came}; the connection is still open")
    assert "RabbitMQ answers this at once" in failure.advice
    assert events[-1] == LifecycleEnded(False)


@PACES
async def test_at_the_learners_pace_the_stall_counts_from_the_write(
    fake_peer: Callable[[Handler], Awaitable[int]], live: bool
) -> None:
    """By default StartOk went out when TCP opened, so the reading counts; held, it
    goes out at its step, and only the wait does."""
    port = await fake_peer(stalling(1))
    reading = 1.5
    events = await run(
        f"amqp://guest:guest@127.0.0.1:{port}/", live=live, reading=reading
    )
    (failure,) = failures(events)
    assert failure.phase is Phase.AUTH
    found = re.search(r"Connection\.StartOk went out ([\d.]+) s ago", failure.message)
    assert found is not None, failure.message
    ago = float(found.group(1))
    if live:
        assert WAIT - 0.1 <= ago < WAIT + 0.5
    else:  # header, start and auth each read for 1.5 s after TCP opened
        assert ago > 3 * reading


async def test_trace_tells_a_stall_after_connection_start(
    fake_peer: Callable[[Handler], Awaitable[int]],
) -> None:
    error = await fake_trace(fake_peer, stalling(1), "--timeout", "1")
    assert error["phase"] == "auth"
    assert error["message"] == (
        "no answer within 1 s: Connection.StartOk went out 1.0 s ago and the broker "
        "has sent nothing since (its last frame was Connection.Start); the "
        "connection is still open"
    )


# TLS files ---


@pytest.fixture
def tls_urls(tls_files: tuple[Path, Path], tmp_path: Path) -> dict[str, str]:
    """TLS options (as a query) for each way a file can be wrong."""
    cert, key = tls_files
    text = tmp_path / "notes.pem"
    text.write_text("not a certificate\n")
    stranger = tmp_path / "stranger-key.pem"  # a key, but not the certificate's
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "RSA", "-out", str(stranger)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return {
        "cafile=/missing.pem": "cafile /missing.pem: No such file or directory",
        f"cafile={text}": f"cafile {text} is not a PEM certificate: no certificate",
        f"cafile={tmp_path}": f"cafile {tmp_path}: Is a directory",
        f"cafile={cert}&certfile=/missing.crt": (
            "certfile /missing.crt: No such file or directory"
        ),
        f"certfile={cert}&keyfile=/missing.key": (
            "keyfile /missing.key: No such file or directory"
        ),
        f"certfile={text}&keyfile={key}": f"certfile {text} is not a PEM certificate",
        f"certfile={cert}&keyfile={text}": f"keyfile {text} is not a PEM private key",
        f"certfile={cert}&keyfile={stranger}": (
            f"keyfile {stranger} is not the key of certfile {cert}: key values mismatch"
        ),
        f"certfile={cert}": f"certfile {cert} holds no private key",
    }


def test_tls_files_that_cannot_be_used_are_named_before_connecting(
    tls_urls: dict[str, str],
) -> None:
    for query, message in tls_urls.items():
        # Port 1: nothing listens there, and nothing may try.
        result = run_cli("trace", f"amqps://guest:guest@localhost:1/?{query}", "--json")
        assert result.returncode == 1, query
        error = last_error(result.stdout)
        assert error["phase"] == "endpoint", (query, error)
        assert error["message"].startswith("the URL's TLS files cannot be used: ")
        assert message in error["message"], (query, error["message"])
        phases = [r["phase"] for r in records(result.stdout) if r["event"] == "report"]
        assert phases == ["endpoint"], "nothing was resolved or connected"


# A close without Connection.CloseOk ---


@pytest.fixture
async def swallowing_relay(broker_url: str) -> AsyncIterator[str]:
    """A relay to the live broker that drops the broker's Connection.CloseOk.

    Yields the URL to connect to (the broker's, on the relay's port).
    """
    upstream = URL(broker_url)

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(
            upstream.host, upstream.port
        )

        async def to_broker() -> None:
            while data := await reader.read(65536):
                up_writer.write(data)
            up_writer.close()

        async def to_client() -> None:
            decoder = FrameDecoder(B2C)
            while data := await up_reader.read(65536):
                for frame in decoder.feed(data):
                    assert isinstance(frame, Frame)
                    if frame.name != "Connection.CloseOk":
                        writer.write(frame.raw)
            writer.close()

        await asyncio.gather(to_broker(), to_client(), return_exceptions=True)

    server = await asyncio.start_server(relay, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield str(upstream.with_port(port))
    finally:
        server.close()
        await server.wait_closed()


UNFINISHED = re.compile(
    r"the client sent Connection\.Close, and no Connection\.CloseOk came back before "
    r"the TCP connection ended ([\d.]+) s later \(closed by the client\): the close "
    r"did not finish"
)


@pytest.mark.parametrize("wait", [5.0, WAIT], ids=["wait-5s", "wait-1s"])
async def test_a_close_without_close_ok_is_not_clean(
    swallowing_relay: str, wait: float
) -> None:
    """aiormq waits 2 s for CloseOk, then closes TCP anyway; an explorer wait
    shorter than that does not cut aiormq's close short."""
    events: list[EngineEvent] = []
    engine = Engine(swallowing_relay, events.append, wait=wait)
    try:
        await engine.run()
    finally:
        await engine.aclose()
    (failure,) = failures(events)
    assert failure.phase is Phase.CLOSE
    found = UNFINISHED.fullmatch(failure.message)
    assert found is not None, failure.message
    assert 1.9 <= float(found.group(1)) <= 3.0, "aiormq's 2 s READER_CLOSE_TIMEOUT"
    assert engine.seen(C2B, "Connection.Close")
    assert not engine.seen(B2C, "Connection.CloseOk")
    assert events[-1] == LifecycleEnded(False)


async def test_trace_exits_1_for_a_close_without_close_ok(
    swallowing_relay: str,
) -> None:
    result = await run_cli_async("trace", swallowing_relay, "--json")
    assert result.returncode == 1, result.stdout
    error = last_error(result.stdout)
    assert error["phase"] == "close"
    assert UNFINISHED.fullmatch(error["message"]), error["message"]
    close = next(
        r
        for r in records(result.stdout)
        if r["event"] == "report" and r["phase"] == "close"
    )
    assert close["facts"]["tcp"]["client"] == "closed by the client"
    text = await run_cli_async("trace", swallowing_relay)
    assert "closed cleanly" not in text.stdout
    assert text.returncode == 1
