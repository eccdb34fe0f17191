"""`amqp-explorer watch` with real third-party clients pointed at it.

Each test runs `watch --json --listen 127.0.0.1:0 -o DIR` in a subprocess
(the port it printed first) and points a real client at it: pika, Node.js's
amqplib (installed from tests/fixtures/amqplib's lock file with `npm ci`) and
Debian's amqp-tools, each logging in as a throwaway user. What is asserted is
structure: one connection per client with all its frames in order, its phases,
its product from StartOk, the password nowhere, and a capture that replays to
the same frames.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest
from yarl import URL

from explorer.engine.events import EngineEvent, PhaseFailed
from explorer.engine.watched import Watch
from explorer.net import proxy
from explorer.protocol.lifecycle import Phase
from tests.conftest import ROOT, User, run_cli
from tests.integration.conftest import HANDSHAKE
from tests.wirecheck.capture import tool, tshark_capture, unavailable
from tests.wirecheck.clients import FRAME_MAX, Login, amqp_tools_client, pika_client

try:
    import pika  # type: ignore[import-untyped]
except ImportError:  # a test that needs it says so (tests.wirecheck.clients)
    pika = None

#: The phases a relayed client goes through, in order (no endpoint, resolve or
#: TLS: the proxy sees none of them).
LIFECYCLE: Final = [
    p.value
    for p in (
        Phase.TCP, Phase.HEADER, Phase.START, Phase.AUTH, Phase.TUNE, Phase.OPEN,
        Phase.CHANNEL, Phase.OPERATIONS, Phase.CLOSE,
    )
]  # fmt: skip
AMQPLIB: Final = ROOT / "tests" / "fixtures" / "amqplib"
#: How long watch may take to say where it listens, and to stop.
START: Final = 20.0
STOP: Final = 30.0


def watching(upstream: str, *options: str) -> subprocess.Popen[str]:
    """`amqp-explorer watch UPSTREAM OPTIONS` started, its output piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "explorer", "watch", upstream, *options],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@dataclass
class Watched:
    """What one `watch --json` run printed, by connection."""

    records: list[dict[str, Any]]
    stderr: str
    returncode: int

    @property
    def connections(self) -> list[str]:
        """The connections' names, in the order they first appeared."""
        names = [r["connection"] for r in self.records if "connection" in r]
        return list(dict.fromkeys(names))

    def of(self, name: str) -> list[dict[str, Any]]:
        """One connection's records (saved captures excepted)."""
        return [
            r
            for r in self.records
            if r.get("connection") == name and r["event"] != "saved"
        ]

    def capture(self, name: str) -> Path:
        """The capture file kept of one connection."""
        (saved,) = [
            r for r in self.records if r["event"] == "saved" and r["connection"] == name
        ]
        return Path(saved["path"])

    def event(self, kind: str) -> dict[str, Any]:
        """The one record of the watch itself of this kind."""
        (record,) = [r for r in self.records if r["event"] == kind]
        return record


class WatchRun:
    """`amqp-explorer watch --json --listen 127.0.0.1:0` running in a subprocess."""

    def __init__(
        self, upstream: str, output: Path, *extra: str, views: bool = False
    ) -> None:
        """Watch, relaying to `upstream`; the broker's views only with `views`
        (each look runs rabbitmqctl, about a second of CPU)."""
        options = ["--listen", "127.0.0.1:0", "-o", str(output), *extra]
        if not views:
            options.append("--no-broker-view")
        self.process = watching(upstream, "--json", *options)
        # Read as it prints: a full pipe would stall the proxy, and the client.
        self.lines: list[str] = []
        self._printed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        with self._printed:
            self._printed.wait_for(lambda: self.lines, START)
        if not self.lines or not self.lines[0]:
            self.process.kill()
            _, err = self.process.communicate()
            raise AssertionError(f"watch did not start listening: {err}")
        self.listening: dict[str, Any] = json.loads(self.lines[0])
        self.port = int(self.listening["address"].rpartition(":")[2])

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._printed:
                self.lines.append(line)
                self._printed.notify_all()
        with self._printed:
            self.lines.append("")  # the end
            self._printed.notify_all()

    def wait_for(self, event: str) -> dict[str, Any]:
        """The first record of `event` watch prints, waiting for it."""

        def found() -> dict[str, Any] | None:
            records = (json.loads(line) for line in self.lines if line.strip())
            return next((r for r in records if r["event"] == event), None)

        with self._printed:
            self._printed.wait_for(lambda: found() or self.lines[-1] == "", START)
        record = found()
        assert record is not None, f"no {event!r} record came"
        return record

    def login(self, user: User) -> Login:
        """Where a client logs in as `user` through the proxy."""
        return Login("127.0.0.1", self.port, user.name, user.password)

    def url(self, user: User) -> str:
        """The AMQP URL of the proxy, as `user`."""
        return user.url(f"amqp://127.0.0.1:{self.port}/")

    def finish(self, stop: bool = False) -> Watched:
        """Wait for watch to end (after SIGTERM, with `stop`); what it printed."""
        if stop:
            self.process.send_signal(signal.SIGTERM)
        self.process.wait(STOP)
        self._reader.join(STOP)
        assert self.process.stderr is not None
        err = self.process.stderr.read()
        assert "Traceback" not in err, err
        records = [json.loads(line) for line in self.lines if line.strip()]
        return Watched(records, err, self.process.returncode)

    def kill(self) -> None:
        """Stop it whatever state it is in (after a failed test)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


@pytest.fixture
def watch(tmp_path: Path) -> Iterator[type[WatchRun]]:
    """Start watch runs (`watch(upstream, output, *options)`); killed afterwards."""
    runs: list[WatchRun] = []

    class Run(WatchRun):
        def __init__(
            self, upstream: str, output: Path, *extra: str, views: bool = False
        ) -> None:
            super().__init__(upstream, output, *extra, views=views)
            runs.append(self)

    yield Run
    for run in runs:
        run.kill()


@pytest.fixture(scope="session")
def amqplib() -> list[str]:
    """The command that runs tests/fixtures/amqplib/client.js (amqplib installed)."""
    node = tool("node", "nodejs")
    if not (AMQPLIB / "node_modules" / "amqplib").is_dir():
        npm = tool("npm", "npm")
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=AMQPLIB,
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            unavailable("amqplib", f"npm ci in {AMQPLIB}: {result.stderr[-400:]}")
    return [node, str(AMQPLIB / "client.js")]


def queue_name() -> str:
    return f"explorer-watch-{secrets.token_hex(4)}"


def phases(records: list[dict[str, Any]]) -> list[str]:
    """The phases a connection's records went through, in order."""
    seen: list[str] = []
    for record in records:
        phase = record.get("phase")
        if phase is not None and (not seen or seen[-1] != phase):
            seen.append(phase)
    return seen


def frames(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The frame records, without the connection's name."""
    return [
        {k: v for k, v in r.items() if k != "connection"}
        for r in records
        if r["event"] == "frame"
    ]


def assert_whole(records: list[dict[str, Any]]) -> None:
    """Every frame of the connection, in order: each direction's stream has no gap."""
    shown = frames(records)
    sent = [(("client" if f["dir"] == "c2b" else "broker"), f["name"]) for f in shown]
    assert [s for s in sent if s[1] != "Heartbeat"][: len(HANDSHAKE)] == HANDSHAKE
    for direction in ("c2b", "b2c"):
        at = 0
        for frame in (f for f in shown if f["dir"] == direction):
            assert frame["offset"] == at, (direction, frame["name"])
            at += frame["size"]
    assert [f["name"] for f in shown][-2:] == [
        "Connection.Close",
        "Connection.CloseOk",
    ]


def assert_lifecycle(watched: Watched, name: str, product: str) -> list[dict[str, Any]]:
    """`name`'s connection went through the whole lifecycle and closed cleanly;
    its capture names `product` as the client and replays to the same frames."""
    records = watched.of(name)
    assert phases(records) == LIFECYCLE
    assert_whole(records)
    assert records[-1] == {"connection": name, "t": records[-1]["t"],
                           "event": "ended", "clean": True}  # fmt: skip
    tcp = records[0]
    assert (tcp["event"], tcp["facts"]["client"]) == ("report", name)
    path = watched.capture(name)
    header = json.loads(path.read_text().splitlines()[0])
    assert header["client"].startswith(product), header["client"]
    assert header["client_address"] == name
    assert header["broker"].startswith("RabbitMQ ")
    assert [r["what"] for r in header["redacted"]] == ["password"]
    replayed = run_cli("replay", str(path), "--print", "--json")
    assert replayed.returncode == 0, replayed.stderr
    assert frames([json.loads(line) for line in replayed.stdout.splitlines()]) == (
        frames(records)
    )
    return records


def assert_secret(watched: Watched, user: User, output: Path) -> None:
    """The password is in nothing watch printed or kept, as text or as bytes."""
    kept = "".join(path.read_text() for path in output.iterdir())
    everything = json.dumps(watched.records) + watched.stderr + kept
    assert user.password not in everything
    assert user.password.encode().hex() not in everything


@pytest.mark.broker
def test_pika_through_watch(
    watch: type[WatchRun], broker_url: str, temp_user: User, tmp_path: Path
) -> None:
    run = watch(broker_url, tmp_path, "--connections", "1")
    read = pika_client(run.login(temp_user), queue_name())
    watched = run.finish()
    assert read["consumed"] == b"second"
    assert watched.returncode == 0, watched.stderr
    (name,) = watched.connections
    records = assert_lifecycle(watched, name, "Pika Python Client Library")
    tune_ok = next(f for f in frames(records) if f["name"] == "Connection.TuneOk")
    assert tune_ok["fields"]["frame_max"] == FRAME_MAX
    assert watched.event("stopped")["connections"] == 1
    assert_secret(watched, temp_user, tmp_path)


@pytest.mark.broker
def test_amqplib_through_watch(
    watch: type[WatchRun],
    amqplib: list[str],
    broker_url: str,
    temp_user: User,
    tmp_path: Path,
) -> None:
    run = watch(broker_url, tmp_path, "--connections", "1")
    client = subprocess.run(
        [*amqplib, run.url(temp_user), queue_name()],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    watched = run.finish()
    assert client.returncode == 0, client.stderr
    assert json.loads(client.stdout) == {"got": "from amqplib", "consumed": "second"}
    (name,) = watched.connections
    records = assert_lifecycle(watched, name, "amqplib")
    names = [f["name"] for f in frames(records)]
    assert {"Basic.Publish", "Basic.GetOk", "Basic.Consume", "Basic.Deliver"} <= set(
        names
    )
    assert_secret(watched, temp_user, tmp_path)


@pytest.mark.broker
def test_amqp_tools_through_watch(
    watch: type[WatchRun], broker_url: str, temp_user: User, tmp_path: Path
) -> None:
    """amqp-tools makes one connection per command: six, one after another."""
    tool("amqp-publish", "amqp-tools")
    run = watch(broker_url, tmp_path, "--connections", "6")
    read = amqp_tools_client(run.login(temp_user), queue_name())
    watched = run.finish()
    assert read["consumed"] == b"second"
    assert len(watched.connections) == 6
    operations = []
    for name in watched.connections:
        records = assert_lifecycle(watched, name, "rabbitmq-c")
        first = next(r for r in records if r.get("phase") == "operations")
        operations.append(first["name"])
    # amqp-consume sets its prefetch (Basic.Qos) before its Basic.Consume.
    assert operations == [
        "Queue.Declare", "Basic.Publish", "Basic.Publish", "Basic.Get",
        "Basic.Qos", "Queue.Delete",
    ]  # fmt: skip
    assert_secret(watched, temp_user, tmp_path)


def assert_broker_view(
    view: dict[str, Any], records: list[dict[str, Any]], user: User
) -> None:
    """The broker's record of a watched connection says what its frames said:
    the proxy's port, TuneOk's frame_max, channel_max and heartbeat, the user."""
    assert view["source"] in ("rabbitmqctl", "management"), view
    values = view["values"]
    tcp = records[0]["facts"]
    assert values["peer_port"] == int(tcp["proxy_to_broker"].rpartition(":")[2])
    tune_ok = next(f for f in frames(records) if f["name"] == "Connection.TuneOk")
    fields = tune_ok["fields"]
    assert (values["frame_max"], values["channel_max"], values["timeout"]) == (
        fields["frame_max"], fields["channel_max"], fields["heartbeat"],
    )  # fmt: skip
    opened = next(f for f in frames(records) if f["name"] == "Connection.Open")
    assert (values["user"], values["vhost"], values["state"]) == (
        user.name, opened["fields"]["virtual_host"], "running",
    )  # fmt: skip


@pytest.mark.broker
def test_the_brokers_view_of_a_watched_connection_matches_its_frames(
    watch: type[WatchRun], broker_url: str, temp_user: User, tmp_path: Path
) -> None:
    """pika held open until watch prints what the broker lists for it."""
    if pika is None:
        unavailable("pika", "pip install -e '.[test]'")
    run = watch(broker_url, tmp_path, "--connections", "1", views=True)
    parameters = pika.ConnectionParameters(
        "127.0.0.1", run.port, credentials=pika.PlainCredentials(
            temp_user.name, temp_user.password
        ), frame_max=FRAME_MAX, channel_max=64, heartbeat=20,
    )  # fmt: skip
    connection = pika.BlockingConnection(parameters)
    view = run.wait_for("broker")
    channel = connection.channel()
    queue = channel.queue_declare("", exclusive=True).method.queue
    channel.basic_publish("", queue, b"seen by the broker")
    assert channel.basic_get(queue, auto_ack=True)[2] == b"seen by the broker"
    connection.close()
    watched = run.finish()
    (name,) = watched.connections
    assert view["connection"] == name
    records = assert_lifecycle(watched, name, "Pika Python Client Library")
    assert_broker_view(view, records, temp_user)
    assert view["values"]["client_properties"]["product"] == (
        "Pika Python Client Library"
    )
    assert_secret(watched, temp_user, tmp_path)


def products(watched: Watched) -> dict[str, str]:
    """Each connection's client library, from its auth report (its StartOk)."""
    found = {}
    for name in watched.connections:
        auth = next(
            r
            for r in watched.of(name)
            if r["event"] == "report" and r["phase"] == "auth"
        )
        found[name] = auth["facts"]["client_properties"]["product"]
    return found


@pytest.mark.broker
def test_two_clients_at_once_keep_their_own_frames(
    watch: type[WatchRun],
    amqplib: list[str],
    broker_url: str,
    temp_user: User,
    tmp_path: Path,
) -> None:
    """amqplib holds its connection open (until the broker's view of it came)
    while pika runs a whole lifecycle."""
    run = watch(broker_url, tmp_path, "--connections", "2", views=True)
    held = subprocess.Popen(
        [*amqplib, run.url(temp_user), queue_name(), "hold"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert held.stdout is not None
        assert held.stdout.readline() == "open\n"
        view = run.wait_for("broker")
        pika_client(run.login(temp_user), queue_name())
        _, err = held.communicate("go\n", timeout=60)
    finally:
        if held.poll() is None:
            held.kill()
    assert held.returncode == 0, err
    watched = run.finish()
    by_product = {product: name for name, product in products(watched).items()}
    assert sorted(by_product) == ["Pika Python Client Library", "amqplib"]
    node, python = by_product["amqplib"], by_product["Pika Python Client Library"]
    for name, product in ((node, "amqplib"), (python, "Pika Python Client Library")):
        assert_lifecycle(watched, name, product)
    assert view["connection"] == node
    assert_broker_view(view, watched.of(node), temp_user)
    assert view["values"]["client_properties"]["product"] == "amqplib"
    # amqplib had its channel open before pika came, and published after it left.
    order = [(r.get("connection"), r["event"], r.get("name")) for r in watched.records]
    assert order.index((node, "frame", "Channel.OpenOk")) < order.index(
        (python, "frame", "ProtocolHeader")
    )
    assert order.index((python, "frame", "Connection.CloseOk")) < order.index(
        (node, "frame", "Basic.Publish")
    )
    assert_secret(watched, temp_user, tmp_path)


@pytest.mark.broker
def test_stopping_keeps_an_open_connection_as_a_cut_capture(
    watch: type[WatchRun], broker_url: str, tmp_path: Path
) -> None:
    if pika is None:
        unavailable("pika", "pip install -e '.[test]'")
    run = watch(broker_url, tmp_path)
    credentials = URL(broker_url)
    connection = pika.BlockingConnection(
        pika.URLParameters(str(credentials.with_port(run.port)))
    )
    connection.channel()
    watched = run.finish(stop=True)
    with pytest.raises(pika.exceptions.StreamLostError):  # watch closed it
        connection.process_data_events(time_limit=5)
    assert watched.returncode == 0, watched.stderr
    (name,) = watched.connections
    assert phases(watched.of(name)) == LIFECYCLE[:7]  # tcp ... channel
    saved = next(r for r in watched.records if r["event"] == "saved")
    assert saved["cut"] is True
    assert watched.records[-1] == {"event": "stopped", "connections": 1}
    replayed = run_cli("replay", saved["path"], "--print", "--json")
    assert replayed.returncode == 1
    last = json.loads(replayed.stdout.splitlines()[-1])
    assert last["event"] == "failed"
    assert "cut" in last["message"]


@pytest.mark.broker
async def test_an_amqps_upstream_is_spoken_to_in_tls(
    watch: type[WatchRun],
    broker_url: str,
    tls_relay: tuple[int, Path],
    temp_user: User,
    tmp_path: Path,
) -> None:
    """The client speaks plain AMQP to watch, watch speaks TLS to the broker."""
    port, cafile = tls_relay
    upstream = str(URL(f"amqps://localhost:{port}/").with_query(cafile=str(cafile)))
    run = watch(upstream, tmp_path, "--connections", "1")
    assert run.listening["tls"] is True
    await asyncio.to_thread(pika_client, run.login(temp_user), queue_name())
    watched = await asyncio.to_thread(run.finish)
    (name,) = watched.connections
    assert_lifecycle(watched, name, "Pika Python Client Library")
    tcp = watched.of(name)[0]
    assert tcp["facts"]["upstream_tls"] is True
    assert str(tcp["facts"]["upstream_tls_version"]).startswith("TLSv1.")
    assert any("TLS" in note for note in tcp["notes"])
    assert_secret(watched, temp_user, tmp_path)


def unused_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (just released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_a_watch_nobody_connects_to_says_so(
    watch: type[WatchRun], tmp_path: Path
) -> None:
    run = watch(f"amqp://127.0.0.1:{unused_port()}/", tmp_path)
    watched = run.finish(stop=True)
    assert watched.returncode == 0
    assert [r["event"] for r in watched.records] == ["listening", "stopped"]
    assert watched.records[-1]["connections"] == 0
    assert f"no client connected to 127.0.0.1:{run.port}" in watched.stderr
    assert not list(tmp_path.iterdir())


def header_then_answer(port: int) -> bytes:
    """Connect to `port`, send a 0-9-1 header, read the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.settimeout(10)
        sock.sendall(b"AMQP\x00\x00\x09\x01")
        return sock.recv(8)


def test_an_unreachable_upstream_fails_the_clients_connection_clearly(
    watch: type[WatchRun], tmp_path: Path
) -> None:
    broker = unused_port()
    run = watch(f"amqp://127.0.0.1:{broker}/", tmp_path, "--connections", "1")
    # The proxy resets the client once the broker refuses the proxy: as the
    # client sends its header or as it waits for the answer, whichever is the
    # later (the refusal takes well under a millisecond here).
    with pytest.raises((ConnectionResetError, BrokenPipeError)):
        header_then_answer(run.port)
    watched = run.finish()
    assert watched.returncode == 0
    (name,) = watched.connections
    failed, ended = watched.of(name)
    assert (failed["event"], failed["phase"]) == ("failed", "tcp")
    assert f"could not reach the broker at 127.0.0.1:{broker}" in failed["message"]
    assert "refused" in failed["message"].lower()
    assert ended == {"connection": name, "t": 0.0, "event": "ended", "clean": False}


def test_bad_input_is_a_clear_message(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("watch", "--json", "--listen", f"127.0.0.1:{port}")
    assert result.returncode == 1
    assert result.stderr.startswith(f"amqp-explorer: cannot listen on 127.0.0.1:{port}")
    assert "in use" in result.stderr
    for bad in ("5670", "localhost:", "127.0.0.1:70000", "host:port"):
        result = run_cli("watch", "--json", "--listen", bad)
        assert result.returncode == 2, bad
        assert "is not HOST:PORT" in result.stderr
    result = run_cli("watch", "--connections", "1")  # the app: until it is quit
    assert (result.returncode, result.stderr) == (
        2, "amqp-explorer: --connections N needs --print or --json\n",
    )  # fmt: skip
    for bad_input in (("http://broker/",), ("-o", "/etc/passwd/kept")):
        result = run_cli("watch", "--json", *bad_input)
        assert result.returncode == 2, bad_input
        assert result.stderr.count("\n") == 1, result.stderr  # one clear line


def test_print_names_each_line_with_its_connection() -> None:
    listen = unused_port()
    with watching(
        f"amqp://127.0.0.1:{unused_port()}/", "--print",
        "--listen", f"127.0.0.1:{listen}", "--connections", "1",
    ) as process:  # fmt: skip
        assert process.stderr is not None
        assert "watching: listening on" in process.stderr.readline()
        with socket.create_connection(("127.0.0.1", listen), timeout=10) as sock:
            name = "{}:{}".format(*sock.getsockname())
            with pytest.raises(ConnectionResetError):
                sock.recv(8)
        out, _ = process.communicate(timeout=STOP)
    assert process.returncode == 0
    lines = [line for line in out.splitlines() if line]
    assert all(line.startswith(f"{name}  ") for line in lines), lines
    assert f"{name}  ── {Phase.TCP.number}. tcp ─" in out
    assert f"{name}  ✗ tcp: the proxy could not reach the broker" in out


@pytest.mark.broker
def test_a_tcpdump_of_two_clients_replays_each_as_watch_showed_it(
    watch: type[WatchRun], reference_url: str, tmp_path: Path
) -> None:
    """Two pika connections open at once, watched and captured by tshark on
    the proxy's port: `replay FILE.pcap` names each as watch did, same frames."""
    if pika is None:
        unavailable("pika", "pip install -e '.[test]'")
    run = watch(reference_url, tmp_path / "kept", "--connections", "2")
    pcap = tmp_path / "clients.pcap"
    parameters = pika.URLParameters(str(URL(reference_url).with_port(run.port)))
    with tshark_capture(run.port, pcap):
        first, second = (pika.BlockingConnection(parameters) for _ in range(2))
        channels = [first.channel(), second.channel()]
        queue = channels[0].queue_declare("", exclusive=True).method.queue
        channels[0].basic_publish("", queue, b"one")
        assert channels[0].basic_get(queue, auto_ack=True)[2] == b"one"
        second_queue = channels[1].queue_declare("", exclusive=True).method.queue
        channels[1].basic_publish("", second_queue, b"two")
        assert channels[1].basic_get(second_queue, auto_ack=True)[2] == b"two"
        first.close()
        second.close()
    watched = run.finish()
    assert len(watched.connections) == 2
    replayed = run_cli("replay", str(pcap), "--print", "--json")
    assert replayed.returncode == 0, replayed.stderr
    sniffed = Watched(
        [json.loads(line) for line in replayed.stdout.splitlines()], "", 0
    )
    assert sniffed.connections == watched.connections
    for name in watched.connections:
        assert phases(sniffed.of(name)) == LIFECYCLE[1:]  # the pcap has no tcp report
        assert untimed(frames(sniffed.of(name))) == untimed(frames(watched.of(name)))


def untimed(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records without their times (a pcap's clock starts at the SYN)."""
    return [{k: v for k, v in r.items() if k != "t"} for r in records]


def test_a_reader_that_goes_away_stops_watch_quietly(tmp_path: Path) -> None:
    """`watch --json | head -1`: once its output is gone, watch stops, exit 1."""
    listen = unused_port()
    with watching(
        f"amqp://127.0.0.1:{unused_port()}/", "--json",
        "--listen", f"127.0.0.1:{listen}", "-o", str(tmp_path),
    ) as process:  # fmt: skip
        assert process.stdout is not None
        assert process.stderr is not None
        assert json.loads(process.stdout.readline())["event"] == "listening"
        process.stdout.close()  # the reader goes away
        socket.create_connection(("127.0.0.1", listen), timeout=10).close()
        assert process.wait(STOP) == 1
        err = process.stderr.read()
    assert "Traceback" not in err
    assert [path.suffix for path in tmp_path.iterdir()] == [".jsonl"]


async def test_a_broker_that_never_answers_times_the_clients_connection_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An upstream that drops the SYN: the proxy gives up and resets the client."""
    monkeypatch.setattr(proxy, "CONNECT_TIMEOUT", 0.5)
    with socket.socket() as silent:  # a full backlog: further SYNs are dropped
        silent.bind(("127.0.0.1", 0))
        silent.listen(0)
        fillers = [socket.socket() for _ in range(3)]
        for filler in fillers:
            filler.setblocking(False)
            filler.connect_ex(silent.getsockname())
        told: list[EngineEvent] = []
        watch = Watch(
            proxy.upstream_for("amqp://{}:{}/".format(*silent.getsockname())),
            lambda connection: None,
            lambda relay: told.append,
            follow=True,
        )
        await watch.start("127.0.0.1", 0)
        host, port = watch.address.rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"AMQP\x00\x00\x09\x01")
        with pytest.raises(ConnectionResetError):
            await asyncio.wait_for(reader.read(8), 5)
        writer.close()
        await watch.aclose()
        for filler in fillers:
            filler.close()
    failed = next(e for e in told if isinstance(e, PhaseFailed))
    assert failed.phase is Phase.TCP
    assert failed.message.endswith(f": {os.strerror(errno.ETIMEDOUT)}")
