"""The broker's view of a live connection beside its wire (explorer.lab.brokerview,
viewdiff), on both brokers.

Each test opens a real connection through the explorer's engine, as a
throwaway user in a throwaway vhost (both removed afterwards), asking a
heartbeat, frame_max and channel_max that are not the broker's proposal; then
asks rabbitmqctl (both brokers) or the management API (the project's 4.0 node,
port 15673) what it recorded, and sets that beside the frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from pamqp import commands
from yarl import URL

from explorer.engine.core import Engine
from explorer.engine.events import EngineEvent, FrameObserved
from explorer.lab.brokerview import BrokerView, broker_view, follow
from explorer.lab.viewdiff import Difference, differences
from explorer.protocol.frames import B2C, C2B, Frame
from explorer.protocol.lifecycle import Phase
from explorer.protocol.queries import first_payload
from tests.conftest import BROKERS, answering, rabbitmqctl

#: What the connection asks for: none of it is RabbitMQ's proposal (60, 131072,
#: 2047).
ASKED = {"heartbeat": 7, "frame_max": 16384, "channel_max": 9}
NAME = "explorer-broker-view"


@contextlib.asynccontextmanager
async def tenant(broker_url: str, ctl: Callable[..., str]) -> AsyncIterator[URL]:
    """A vhost and a user of its own (tagged management), removed afterwards."""
    name = f"explorer-view-{secrets.token_hex(4)}"
    password = f"pw-{secrets.token_hex(12)}"
    await asyncio.to_thread(ctl, "add_vhost", name)
    try:
        await asyncio.to_thread(ctl, "add_user", name, password)
        try:
            await asyncio.to_thread(
                ctl, "set_permissions", "-p", name, name, ".*", ".*", ".*"
            )
            await asyncio.to_thread(ctl, "set_user_tags", name, "management")
            yield (
                URL(broker_url)
                .with_user(name)
                .with_password(password)
                .with_path(f"/{name}")
            )
        finally:
            await asyncio.to_thread(ctl, "delete_user", name)
    finally:
        await asyncio.to_thread(ctl, "delete_vhost", name)


class Run:
    """A connection the engine opened, up to its first channel."""

    def __init__(self, engine: Engine, events: list[EngineEvent]) -> None:
        self.engine = engine
        self.events = events

    @property
    def frames(self) -> list[Frame]:
        return [e.frame for e in self.events if isinstance(e, FrameObserved)]

    @property
    def port(self) -> int:
        return int(self.engine.tap.client_address.rsplit(":", 1)[1])

    def tune_ok(self) -> commands.Connection.TuneOk:
        tune_ok = first_payload(self.frames, C2B, commands.Connection.TuneOk)
        assert tune_ok is not None
        return tune_ok


@contextlib.asynccontextmanager
async def connected(url: URL) -> AsyncIterator[Run]:
    """The engine's connection to `url`, with a channel open; closed afterwards."""
    events: list[EngineEvent] = []
    engine = Engine(str(url.update_query(connection_name=NAME, **ASKED)), events.append)
    try:
        assert await engine.run(until=Phase.CHANNEL), events
        yield Run(engine, events)
    finally:
        await engine.aclose()


async def first_listed(port: int, url: URL) -> BrokerView:
    """The first view in which the broker lists the connection from `port`."""
    views: asyncio.Queue[BrokerView] = asyncio.Queue()
    task = asyncio.create_task(follow(port, str(url), views.put_nowait, every=0.5))
    try:
        async with asyncio.timeout(20):
            while not (view := await views.get()).listed:
                assert view.source is not None, view.problem
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return view


def row(rows: list[Difference], field: str) -> Difference:
    (found,) = [r for r in rows if r.field == field]
    return found


def assert_recorded_as_tuned(view: BrokerView, run: Run, url: URL) -> None:
    """The view holds what TuneOk carried, the user and the vhost."""
    tune_ok = run.tune_ok()
    assert (tune_ok.heartbeat, tune_ok.frame_max, tune_ok.channel_max) == (7, 16384, 9)
    values = view.values
    assert values["timeout"] == tune_ok.heartbeat
    assert values["frame_max"] == tune_ok.frame_max
    assert values["channel_max"] == tune_ok.channel_max
    assert values["user"] == url.user
    assert values["vhost"] == url.path[1:]
    assert values["state"] == "running"
    properties = values["client_properties"]
    assert isinstance(properties, dict)
    assert properties["connection_name"] == NAME
    assert url.password is not None
    assert url.password not in json.dumps(values)
    rows = differences(view, run.frames)
    timeout = row(rows, "timeout")
    tune = first_payload(run.frames, B2C, commands.Connection.Tune)
    assert tune is not None
    assert tune.heartbeat != tune_ok.heartbeat
    assert (timeout.broker, timeout.wire, timeout.agrees) == (7, 7, True)
    assert f"where Tune proposed {tune.heartbeat}" in timeout.why
    name = row(rows, "name")
    assert name.broker == f"{run.engine.tap.client_address} -> {url.host}:{url.port}"
    assert (name.wire, name.agrees) == (NAME, False)
    for agreeing in ("user", "vhost", "auth_mechanism", "frame_max", "channel_max"):
        assert row(rows, agreeing).agrees, row(rows, agreeing)


async def test_rabbitmqctl_records_what_tune_ok_carried(
    broker_url: str, ctl: Callable[..., str]
) -> None:
    async with tenant(broker_url, ctl) as url, connected(url) as run:
        view = await broker_view(run.port, str(url))
        assert view.source == "rabbitmqctl", view.problem
        assert_recorded_as_tuned(view, run, url)
        assert view.values["channels"] == 1
        assert row(differences(view, run.frames), "state").agrees


@pytest.fixture
def broker4(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The project's RabbitMQ 4.0 (failing in CI without it), its tools set."""
    url = answering(BROKERS[1], request)
    for name, value in BROKERS[1].tools.items():
        monkeypatch.setenv(name, value)
    return url


async def test_the_management_api_records_the_same_on_4_0(
    broker4: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    async with tenant(broker4, rabbitmqctl) as url, connected(url) as run:
        with monkeypatch.context() as without_ctl:
            without_ctl.delenv("RABBITMQCTL")
            without_ctl.setenv("PATH", str(tmp_path))
            view = await first_listed(run.port, url)
        assert view.source == "management", view.problem
        assert view.asked.startswith("GET http://127.0.0.1:15673/api/connections")
        assert_recorded_as_tuned(view, run, url)


async def test_the_follower_tells_the_running_view_then_the_end(
    broker_url: str, ctl: Callable[..., str]
) -> None:
    told: list[BrokerView] = []
    first = asyncio.Event()

    def tell(view: BrokerView) -> None:
        told.append(view)
        first.set()

    async with tenant(broker_url, ctl) as url:
        async with connected(url) as run:
            task = asyncio.create_task(follow(run.port, str(url), tell, every=0.5))
            async with asyncio.timeout(20):
                await first.wait()
        async with asyncio.timeout(20):
            await task  # the connection is gone: it returns by itself
    assert told[0].values["state"] == "running"
    assert not told[-1].listed
    assert told[-1].source == "rabbitmqctl"
    assert all(v.listed for v in told[:-1])


async def test_a_relayed_connection_s_peer_is_the_relay(
    broker_url: str, ctl: Callable[..., str]
) -> None:
    broker = URL(broker_url)
    upstream: list[str] = []

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(broker.host, broker.port)
        upstream.append("{}:{}".format(*up_writer.get_extra_info("sockname")))

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while data := await src.read(65536):
                dst.write(data)
            dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    server = await asyncio.start_server(relay, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with (
            tenant(broker_url, ctl) as url,
            connected(url.with_port(port)) as run,
        ):
            (proxy,) = upstream
            view = await broker_view(int(proxy.rsplit(":", 1)[1]), str(url))
            assert view.listed, view.problem
            app = run.engine.tap.client_address
            peer = row(differences(view, run.frames, client=app), "peer")
            assert (peer.broker, peer.wire, peer.agrees) == (proxy, app, False)
            assert view.values["name"] == f"{proxy} -> {broker.host}:{broker.port}"
    finally:
        server.close()
        await server.wait_closed()
