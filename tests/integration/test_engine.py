"""The engine stepping a live connection: really paused, and true to the broker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from yarl import URL

from explorer.engine.core import Engine
from explorer.engine.events import (
    EngineEvent,
    FrameObserved,
    LifecycleEnded,
    PhaseFailed,
    PhaseReport,
    PhaseStarted,
)
from explorer.protocol import Direction
from explorer.protocol.frames import B2C, C2B
from explorer.protocol.lifecycle import Phase
from explorer.protocol.stream import Chunk


class Recorder:
    """Collects engine events."""

    def __init__(self) -> None:
        self.events: list[EngineEvent] = []

    def __call__(self, event: EngineEvent) -> None:
        self.events.append(event)

    def frames(self, direction: Direction) -> list[str]:
        return [
            e.frame.name
            for e in self.events
            if isinstance(e, FrameObserved) and e.frame.direction is direction
        ]

    def failures(self) -> list[PhaseFailed]:
        return [e for e in self.events if isinstance(e, PhaseFailed)]

    def report(self, phase: Phase) -> PhaseReport:
        return next(
            e for e in self.events if isinstance(e, PhaseReport) and e.phase is phase
        )


@pytest.fixture
async def stepping(
    broker_url: str,
) -> AsyncIterator[Callable[..., tuple[Engine, Recorder]]]:
    engines: list[Engine] = []

    def make(url: str = broker_url, **options: object) -> tuple[Engine, Recorder]:
        """An engine that holds the handshake (race mode) unless told otherwise."""
        options.setdefault("live_handshake", True)
        recorder = Recorder()
        engine = Engine(url, recorder, **options)  # type: ignore[arg-type]
        engines.append(engine)
        return engine, recorder

    yield make
    for engine in engines:
        await engine.aclose()


def client_bytes(engine: Engine) -> int:
    return sum(
        len(e.data)
        for e in engine.tap.events
        if isinstance(e, Chunk) and e.direction is C2B
    )


async def step_to(engine: Engine, phase: Phase) -> None:
    while engine.next_phase is not phase:
        assert await engine.step(), f"the lifecycle ended before {phase}"
    await engine.step()


async def test_nothing_of_the_next_phase_leaves_before_its_step(
    stepping: Callable[..., tuple[Engine, Recorder]],
) -> None:
    engine, recorder = stepping()
    expected = {
        Phase.HEADER: ["ProtocolHeader"],
        Phase.START: ["ProtocolHeader"],
        Phase.AUTH: ["ProtocolHeader", "Connection.StartOk"],
        Phase.TUNE: ["ProtocolHeader", "Connection.StartOk", "Connection.TuneOk"],
    }
    await step_to(engine, Phase.TCP)
    assert client_bytes(engine) == 0
    left = engine.handshake_time_left()
    assert left is not None
    assert 9 < left <= 10
    for phase, sent in expected.items():
        await engine.step()
        await asyncio.sleep(0.3)  # a write that escaped would be on the wire by now
        assert recorder.frames(C2B) == sent, phase
    assert engine.tap.held == 1, "Connection.Open waits for its step"
    later = engine.handshake_time_left()
    assert later is not None
    assert later < left
    await engine.step()
    assert recorder.frames(B2C)[-1] == "Connection.OpenOk"
    assert engine.handshake_time_left() is None
    assert not recorder.failures()


async def test_negotiated_values_match_what_the_broker_reports(
    broker_url: str,
    stepping: Callable[..., tuple[Engine, Recorder]],
    ctl: Callable[..., str],
) -> None:
    url = URL(broker_url).update_query(
        heartbeat=7,
        channel_max=9,
        frame_max=16384,
        connection_name="explorer-engine-test",
    )
    engine, recorder = stepping(str(url))
    await step_to(engine, Phase.CHANNEL)
    tune = recorder.report(Phase.TUNE).facts
    port = engine.tap.client_address.rsplit(":", 1)[1]
    items = "peer_port user vhost auth_mechanism frame_max channel_max timeout"
    items += " channels state"
    rows = await asyncio.to_thread(ctl, "list_connections", *items.split())
    (row,) = [
        line.split("\t") for line in rows.splitlines() if line.split("\t")[0] == port
    ]
    broker = dict(zip(items.split(), row, strict=True))
    assert broker["user"] == URL(broker_url).user
    assert broker["vhost"] == "/"
    assert broker["auth_mechanism"] == "PLAIN"
    assert broker["state"] == "running"
    assert broker["channels"] == "1"
    for name in ("frame_max", "channel_max", "heartbeat"):
        row_name = "timeout" if name == "heartbeat" else name
        negotiated = tune[name]
        assert isinstance(negotiated, dict)
        assert int(broker[row_name]) == negotiated["tune_ok_carried"]
    assert broker["timeout"] == "7"
    names = await asyncio.to_thread(
        ctl, "list_connections", "peer_port", "client_properties"
    )
    assert "explorer-engine-test" in next(
        line for line in names.splitlines() if line.startswith(port)
    )


async def test_broker_closing_the_connection_is_reported_where_it_happens(
    stepping: Callable[..., tuple[Engine, Recorder]], ctl: Callable[..., str]
) -> None:
    engine, recorder = stepping()
    await step_to(engine, Phase.CHANNEL)
    port = engine.tap.client_address.rsplit(":", 1)[1]
    rows = await asyncio.to_thread(ctl, "list_connections", "pid", "peer_port")
    (pid,) = [
        line.split("\t")[0] for line in rows.splitlines() if line.endswith("\t" + port)
    ]
    await asyncio.to_thread(ctl, "close_connection", pid, "explorer test says goodbye")
    await engine.until(lambda: engine.gone, 5)
    (failure,) = recorder.failures()
    assert (failure.phase, failure.reply_code) == (Phase.CHANNEL, 320)
    assert "explorer test says goodbye" in str(failure.reply_text)
    assert engine.next_phase is Phase.CLOSE
    await engine.step()
    assert engine.finished
    assert recorder.frames(C2B)[-1] == "Connection.CloseOk", "aiormq answered the Close"


async def test_connection_lost_mid_session_is_reported(
    broker_url: str, stepping: Callable[..., tuple[Engine, Recorder]]
) -> None:
    """A relay in front of the broker that cuts the connection with a reset."""
    upstream = URL(broker_url)
    cut = asyncio.Event()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(
            upstream.host, upstream.port
        )

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while data := await src.read(65536):
                dst.write(data)

        pumps = asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        await cut.wait()
        pumps.cancel()
        writer.transport.abort()
        up_writer.close()

    server = await asyncio.start_server(relay, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        engine, recorder = stepping(str(upstream.with_port(port)))
        await step_to(engine, Phase.CHANNEL)
        cut.set()
        await engine.until(lambda: engine.gone, 5)
    finally:
        server.close()
    (failure,) = recorder.failures()
    assert failure.phase is Phase.CHANNEL
    assert "the connection was lost" in failure.message
    assert engine.next_phase is Phase.CLOSE


async def test_holding_the_handshake_too_long_meets_handshake_timeout(
    stepping: Callable[..., tuple[Engine, Recorder]],
) -> None:
    engine, recorder = stepping()
    await step_to(engine, Phase.AUTH)
    left = engine.handshake_time_left()
    assert left is not None
    await engine.until(lambda: engine.gone, left + 3)
    (failure,) = recorder.failures()
    assert failure.phase is Phase.TUNE, "TuneOk was held when the broker gave up"
    assert "handshake_timeout" in failure.message
    assert engine.next_phase is Phase.CLOSE


async def test_the_engine_runs_the_step_table_it_is_given() -> None:
    ran: list[tuple[Phase, str]] = []

    async def note(engine: Engine) -> None:
        phase = engine.next_phase or Phase.CLOSE
        ran.append(
            (phase, engine.operations.pop(0) if phase is Phase.OPERATIONS else "")
        )

    recorder = Recorder()
    engine = Engine("amqp://127.0.0.1/", recorder, steps=dict.fromkeys(Phase, note))
    assert await engine.run()
    operations = [
        (Phase.OPERATIONS, n) for n in ("declare", "publish", "consume", "get")
    ]
    phases = list(Phase)  # nothing connected, and no step of the table's dropped tls
    at = phases.index(Phase.OPERATIONS)
    assert ran == [(p, "") for p in phases[:at]] + operations + [
        (p, "") for p in phases[at + 1 :]
    ]
    started = [
        (e.phase, e.step) for e in recorder.events if isinstance(e, PhaseStarted)
    ]
    assert started == ran
    assert recorder.events[-1] == LifecycleEnded(False)  # no Connection.CloseOk came
