"""`amqp-explorer watch` relaying AMQP 1.0 clients to RabbitMQ 4.0, live.

`watch --json -o DIR` (tests/integration/test_watch.py's WatchRun) relays to
the project's RabbitMQ 4.0.5 on 127.0.0.1:5673; Qpid Proton connects through
it as a throwaway user and sends and receives one message on a queue declared
for the test: the explorer's Amqp10Client over a plain socket to the proxy
(its tap only records its own side), and Proton's own BlockingConnection.
What is asserted: each frame named by its performative, in order, both ways;
the phases of 1.0's plan; the password in no output nor capture; the capture
replaying to the same frames; a pika (0-9-1) connection relayed at the same
time read as 0-9-1; and the broker's view of a 1.0 connection (rabbitmqctl's
list_connections, protocol {1,0}) beside its opens.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest

from explorer.lab.brokerview import BrokerView
from explorer.lab.viewdiff10 import differences_1_0
from explorer.net.amqp10 import Amqp10Client
from explorer.net.tap import Tap
from explorer.protocol.frames import Direction, Frame
from explorer.protocol.lifecycle import Phase
from explorer.recording.capture import load
from tests.conftest import RABBITMQ4, User, answering, run_cli
from tests.integration.test_amqp10_bytes import (
    BODY,
    BROKER4,
    BROKER_FRAMES,
    CLIENT_FRAMES,
    HOST,
    PORT,
    declared_queue,
    throwaway_user,
)
from tests.integration.test_watch import (
    LIFECYCLE,
    Watched,
    WatchRun,
    assert_secret,
    frames,
    phases,
    queue_name,
    watch,
)
from tests.wirecheck.clients import pika_client

pytestmark = pytest.mark.broker

__all__ = ["watch"]  # the fixture, used by name

UPSTREAM: Final = f"amqp://{HOST}:{PORT}/"
#: The phases of a relayed 1.0 client: no endpoint, resolve or TLS (the proxy
#: sees none of them), no start or tune (1.0 has none).
LIFECYCLE_1_0: Final = [
    p.value
    for p in (
        Phase.TCP, Phase.HEADER, Phase.AUTH, Phase.OPEN, Phase.CHANNEL,
        Phase.OPERATIONS, Phase.CLOSE,
    )
]  # fmt: skip


@pytest.fixture
def user4(request: pytest.FixtureRequest) -> Iterator[User]:
    answering(BROKER4, request)
    yield from throwaway_user()


@pytest.fixture
def queue4(user4: User) -> Iterator[str]:
    yield from declared_queue()


def proton_client(user: User) -> Amqp10Client:
    """The explorer's Proton client, for the proxy (its own tap records it)."""
    return Amqp10Client(Tap(hide_handshake_heartbeats=False), user.name, user.password)


async def send_and_receive(client: Amqp10Client, port: int, queue: str) -> object:
    """Through the proxy at `port`: one message sent to `queue` and taken back."""
    await client.connect("127.0.0.1", port)
    await client.open()
    await client.begin()
    await client.attach_sender(f"/queues/{queue}")
    await client.send(BODY)
    await client.attach_receiver(f"/queues/{queue}")
    received = await client.receive()
    await client.close()
    return received


def performatives(records: list[dict[str, Any]], direction: str) -> list[str]:
    """One side's frames by name, in order, empty frames left out."""
    return [
        f["name"]
        for f in frames(records)
        if f["dir"] == direction and f["name"] != "heartbeat"
    ]


def assert_1_0_lifecycle(watched: Watched, name: str) -> list[dict[str, Any]]:
    """`name`'s 1.0 connection: every performative in order both ways, each
    stream without a gap, 1.0's phases, a clean end; its capture names the
    client by its container-id and replays to the same frames."""
    records = watched.of(name)
    assert performatives(records, "c2b") == CLIENT_FRAMES
    assert performatives(records, "b2c") == BROKER_FRAMES
    for direction in ("c2b", "b2c"):
        at = 0
        for frame in (f for f in frames(records) if f["dir"] == direction):
            assert frame["offset"] == at, (direction, frame["name"])
            at += frame["size"]
    assert phases(records) == LIFECYCLE_1_0
    assert records[-1]["event"] == "ended"
    assert records[-1]["clean"] is True
    path = watched.capture(name)
    header = json.loads(path.read_text().splitlines()[0])
    assert header["client"] == "AMQP 1.0 client (container-id amqp-explorer)"
    assert header["client_address"] == name
    assert [r["what"] for r in header["redacted"]] == ["password"]
    replayed = run_cli("replay", str(path), "--print", "--json")
    assert replayed.returncode == 0, replayed.stderr
    assert frames([json.loads(line) for line in replayed.stdout.splitlines()]) == (
        frames(records)
    )
    return records


async def test_a_proton_client_through_watch(
    watch: type[WatchRun], user4: User, queue4: str, tmp_path: Path
) -> None:
    run = watch(UPSTREAM, tmp_path, "--connections", "1")
    client = proton_client(user4)
    assert await send_and_receive(client, run.port, queue4) == BODY
    watched = await asyncio.to_thread(run.finish)
    assert watched.returncode == 0, watched.stderr
    (name,) = watched.connections
    records = assert_1_0_lifecycle(watched, name)
    (init,) = [f for f in frames(records) if f["name"] == "sasl-init"]
    assert init["fields"]["mechanism"] == "PLAIN"
    (opened,) = [r for r in records if r["event"] == "report" and r["phase"] == "open"]
    facts = opened["facts"]
    assert facts["hostname"] == "vhost:/"
    assert facts["max-frame-size"]["client"] == 32768
    assert facts["max-frame-size"]["broker"] == 131072
    assert (facts["product"], facts["version"]) == ("RabbitMQ", "4.0.5")
    assert_secret(watched, user4, tmp_path)


def blocking_client(port: int, user: User, queue: str) -> object:
    """Proton's own BlockingConnection (its container, its socket): one
    message sent and received, then close."""
    from proton import Message
    from proton.utils import BlockingConnection

    url = f"amqp://{user.name}:{user.password}@127.0.0.1:{port}"
    connection = BlockingConnection(url, virtual_host="vhost:/", timeout=10)
    try:
        connection.create_sender(f"/queues/{queue}").send(Message(body=BODY))
        receiver = connection.create_receiver(f"/queues/{queue}")
        message = receiver.receive(timeout=10)
        receiver.accept()
        return message.body
    finally:
        connection.close()


async def test_a_proton_blocking_connection_and_pika_at_once(
    watch: type[WatchRun], user4: User, queue4: str, tmp_path: Path
) -> None:
    """Proton's BlockingConnection and pika (0-9-1) through one watch: each
    read in its own protocol."""
    run = watch(UPSTREAM, tmp_path, "--connections", "2")
    login = run.login(user4)
    got, read = await asyncio.gather(
        asyncio.to_thread(blocking_client, run.port, user4, queue4),
        asyncio.to_thread(pika_client, login, queue_name()),
    )
    watched = await asyncio.to_thread(run.finish)
    assert got == BODY
    assert read["consumed"] == b"second"
    by_first = {frames(watched.of(n))[0]["name"]: n for n in watched.connections}
    assert sorted(by_first) == ["ProtocolHeader", "sasl-header"]
    one_oh, pika = by_first["sasl-header"], by_first["ProtocolHeader"]
    records = watched.of(one_oh)
    assert phases(records) == LIFECYCLE_1_0
    # BlockingConnection sends begin and attach together, and closes without
    # detach or end; RabbitMQ answers each.
    assert performatives(records, "c2b") == [
        "sasl-header", "sasl-init", "amqp-header", "open", "begin", "attach",
        "transfer", "attach", "flow", "disposition", "close",
    ]  # fmt: skip
    assert records[-1]["clean"] is True
    assert phases(watched.of(pika)) == LIFECYCLE
    assert frames(watched.of(pika))[-1]["name"] == "Connection.CloseOk"
    kept = json.loads(watched.capture(one_oh).read_text().splitlines()[0])
    assert kept["client"].startswith("AMQP 1.0 client (container-id ")
    assert_secret(watched, user4, tmp_path)


def open_frames(watched: Watched, name: str) -> list[Frame]:
    """The kept connection's frames both ways, in time order, until the
    client began to close it: the connection as the broker was asked about it."""
    capture = load(watched.capture(name))
    both = [f for d in Direction for f in capture.decode(d) if isinstance(f, Frame)]
    until = min(f.t for f in both if f.name in ("detach", "end", "close"))
    return sorted((f for f in both if f.t < until), key=lambda f: f.t)


async def test_the_brokers_view_of_a_watched_1_0_connection(
    watch: type[WatchRun],
    user4: User,
    queue4: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The 4.0 node's rabbitmqctl lists the relayed 1.0 connection once it is
    open; what it lists agrees with the opens, as viewdiff10's rules say."""
    monkeypatch.setenv("RABBITMQCTL", f"{RABBITMQ4} ctl")
    run = watch(UPSTREAM, tmp_path, "--connections", "1", views=True)
    client = proton_client(user4)
    await client.connect("127.0.0.1", run.port)
    await client.open()
    await client.begin()
    view = await asyncio.to_thread(run.wait_for, "broker")
    await client.close()
    watched = await asyncio.to_thread(run.finish)
    (name,) = watched.connections
    assert view["connection"] == name
    assert view["source"] == "rabbitmqctl"
    values = view["values"]
    assert values["protocol"] == "AMQP 1-0"
    assert (values["user"], values["vhost"], values["state"]) == (
        user4.name, "/", "running",
    )  # fmt: skip
    assert values["peer_port"] == int(
        watched.of(name)[0]["facts"]["proxy_to_broker"].rpartition(":")[2]
    )
    opens = {
        f["dir"]: f["fields"] for f in frames(watched.of(name)) if f["name"] == "open"
    }
    assert values["frame_max"] == opens["c2b"]["max-frame-size"]
    assert values["channel_max"] == min(
        opens["c2b"]["channel-max"], opens["b2c"]["channel-max"]
    )
    assert values["timeout"] * 1000 == 2 * opens["b2c"]["idle-time-out"]
    seen = BrokerView("rabbitmqctl", values)
    rows = {r.field: r for r in differences_1_0(seen, open_frames(watched, name))}
    agreeing = {"state", "protocol", "user", "vhost", "auth_mechanism", "timeout",
                "frame_max", "channel_max", "client_properties"}  # fmt: skip
    assert {f for f in agreeing if not rows[f].agrees} == set()
    assert rows["channels"].broker == 1
    assert_secret(watched, user4, tmp_path)
