"""The failure lab against the live broker: each experiment, and what it leaves.

Every failure experiment of `explorer.lab.registry.EXPERIMENTS` runs once (cached for
the module) and is checked against a table written from RabbitMQ 3.10.8's real
behaviour (amqp-facts.md §2.7, §3.1-3.4, §4.2, §4.4-4.6, §5): the reply frame,
code and text, or the silent drop and when it came; the broker's log; the
Waiting events; and that the broker is left as it was found. Then the lab is
interrupted the ways the app and Ctrl-C interrupt it, and swept.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest

from explorer.engine.core import Engine
from explorer.engine.events import (
    EngineEvent,
    FrameObserved,
    LifecycleEnded,
    PhaseFailed,
    PhaseReport,
    Waiting,
)
from explorer.lab import broker
from explorer.lab.experiment import LOG_WAIT
from explorer.lab.registry import EXPERIMENTS, lab_engine
from explorer.net.endpoint import parse
from explorer.protocol.fields import JSON
from explorer.protocol.frames import B2C, C2B
from explorer.protocol.lifecycle import Phase
from tests.conftest import run_cli

pytestmark = pytest.mark.broker

Ctl = Callable[..., str]
#: Seconds to wait for the broker to stop listing an experiment's connection.
UNLISTED_WITHIN: Final = 5.0
#: Seconds to wait for the broker's log to record the end of the connection.
LOGGED_WITHIN: Final = 10.0
#: Users made by this process's experiments start with this.
OUR_USERS: Final = f"{broker.USER_PREFIX}{os.getpid()}-"
#: Users the suite's `temp_user` fixture makes; this module makes none, so
#: any seen here belong to another test run sharing the broker.
OTHER_SUITES_USERS: Final = "explorer-test-"


@dataclass(frozen=True)
class Expect:
    """What RabbitMQ 3.10.8 does in one failure experiment."""

    #: The reply: (frame name, channel, reply code, fragments of its text).
    reply: tuple[str, int, int, tuple[str, ...]] | None = None
    #: A silent drop: seconds from `anchor` to the end of the broker's stream.
    drop: tuple[float, float] | None = None
    #: "tcp" (TCP accept), "last" (the client's last frame) or a client frame.
    anchor: str = ""
    #: The broker's frames after `anchor`, heartbeats left out (drops only).
    broker_after: tuple[str, ...] = ()
    #: Fragments of the broker's log lines about the connection.
    log: tuple[str, ...] = ()
    #: The Waiting event: its seconds and a fragment of what it waits for.
    waiting: tuple[float, str] | None = None
    #: The connection is still open afterwards, and closed cleanly.
    lives_on: bool = False


SILENT: Final = (2.3, 3.7)  # RabbitMQ's 3 s SILENT_CLOSE_DELAY, within 0.7 s
LOGIN_REFUSED: Final = ("PLAIN login refused", "invalid credentials")
EXPECTED: Final[dict[str, Expect]] = {
    "wrong-password": Expect(
        reply=("Connection.Close", 0, 403, (
            "ACCESS_REFUSED - Login was refused using authentication mechanism "
            "PLAIN",
        )),
        log=LOGIN_REFUSED,
    ),
    "wrong-password-silent": Expect(
        drop=SILENT, anchor="Connection.StartOk", log=LOGIN_REFUSED,
        waiting=(5.0, "3 s delay"),
    ),
    "unknown-vhost": Expect(
        reply=("Connection.Close", 0, 530, (
            "NOT_ALLOWED - vhost amqp-explorer-no-such-vhost not found",
        )),
        log=("vhost amqp-explorer-no-such-vhost not found",),
    ),
    "no-permission": Expect(
        reply=("Channel.Close", 1, 403, (
            # 3.10.8: "access to queue"; 4.0.5: "configure access to queue".
            "ACCESS_REFUSED - ", "access to queue", f"refused for user '{OUR_USERS}",
        )),
        log=("operation queue.declare caused a channel exception access_refused",),
        lives_on=True,
    ),
    "wrong-protocol": Expect(
        drop=(0.0, 1.0), anchor="ProtocolHeader", broker_after=("ProtocolHeader",),
        log=("{bad_version,{1,1,0,10}}",),
    ),
    "handshake-timeout": Expect(
        drop=(9.3, 10.7), anchor="tcp", broker_after=("Connection.Start",),
        log=("{handshake_timeout,frame_header}",),
        waiting=(12.0, "handshake_timeout"),
    ),
    "heartbeat-timeout": Expect(
        drop=(4.0, 6.5), anchor="last", broker_after=("Connection.OpenOk",),
        log=("missed heartbeats from client, timeout: 2s",),
        waiting=(8.0, "heartbeat intervals"),
    ),
    "channel-max": Expect(
        reply=("Connection.Close", 0, 530, (
            "number of channels opened (2) has reached the negotiated "
            "channel_max (2)",
        )),
        log=("connection exception not_allowed",),
    ),
    "frame-too-large": Expect(
        reply=("Connection.Close", 0, 501, ("FRAME_ERROR", "frame_too_large")),
        log=("connection exception frame_error", "frame_too_large"),
    ),
    "bad-frame-end": Expect(
        reply=("Connection.Close", 0, 501, (
            "FRAME_ERROR", "invalid_frame_end_marker",
        )),
        log=("connection exception frame_error", "invalid_frame_end_marker"),
    ),
    "tune-below-minimum": Expect(
        drop=SILENT, anchor="Connection.TuneOk",
        log=(
            "failed to negotiate connection parameters",
            "negotiated frame_max = 1024 is lower than the minimum allowed value",
        ),
        waiting=(5.0, "3 s delay"),
    ),
    "channel-max-above": Expect(
        drop=SILENT, anchor="Connection.TuneOk",
        log=(
            "failed to negotiate connection parameters",
            "negotiated channel_max = 4000 is higher than the maximum allowed value",
        ),
        waiting=(5.0, "3 s delay"),
    ),
    "prefetch-size": Expect(
        reply=("Connection.Close", 0, 540, (
            "NOT_IMPLEMENTED - prefetch_size!=0 (1000)",
        )),
        log=("operation basic.qos caused a connection exception not_implemented",),
    ),
    "forced-close": Expect(
        reply=("Connection.Close", 0, 320, (
            "CONNECTION_FORCED - closed by amqp-explorer's failure lab",
        )),
        log=("connection_forced", "closed by amqp-explorer's failure lab"),
        waiting=(broker.CTL_TIMEOUT, "rabbitmqctl close_connection"),
    ),
    "unroutable": Expect(
        reply=("Basic.Return", 1, 312, ("NO_ROUTE",)),
        log=("closing AMQP connection",),
        lives_on=True,
    ),
}  # fmt: skip
#: The 0-9-1 failures (the amqp10-* ones: tests/integration/test_amqp10_experiments.py).
FAILURES: Final = sorted(
    n
    for n, s in EXPERIMENTS.items()
    if s.kind == "failure" and s.dialect.key == "0-9-1"
)


def test_every_failure_experiment_has_its_expectations() -> None:
    assert set(FAILURES) == {
        "wrong-password", "wrong-password-silent", "unknown-vhost", "no-permission",
        "wrong-protocol", "handshake-timeout", "heartbeat-timeout", "channel-max",
        "frame-too-large", "bad-frame-end", "tune-below-minimum", "channel-max-above",
        "prefetch-size", "forced-close", "unroutable",
    }  # fmt: skip
    assert set(EXPECTED) == set(FAILURES)


@pytest.mark.parametrize("name", FAILURES)
def test_expectations_agree_with_the_scenario(name: str) -> None:
    scenario, want = EXPERIMENTS[name], expect(name)
    replied = None if want.reply is None else (want.reply[0], want.reply[2])
    assert scenario.reply == replied
    assert (scenario.drop_within is None) == (want.drop is None)
    assert scenario.lives_on == want.lives_on


# The broker's state, before and after ---

Snapshot = dict[str, frozenset[str]]


def snapshot(ctl: Ctl, vhost: str) -> Snapshot:
    """What an experiment could leave behind, read with rabbitmqctl at once."""
    queries = {
        "users": ("list_users",),
        "vhosts": ("list_vhosts",),
        "permissions": ("list_permissions", "-p", vhost),
        "global parameters": ("list_global_parameters",),
        "connections": ("list_connections", "peer_port"),
    }
    with ThreadPoolExecutor(len(queries)) as pool:
        outs = {
            key: pool.submit(ctl, *args, "--no-table-headers")
            for key, args in queries.items()
        }
        return {
            key: frozenset(line for line in out.result().splitlines() if line.strip())
            for key, out in outs.items()
        }


def _foreign(row: str) -> bool:
    """A user (or their permissions) that another live process owns."""
    user = row.split("\t")[0]
    if user.startswith(OTHER_SUITES_USERS):
        return True
    pid = user.removeprefix(broker.USER_PREFIX).split("-")[0]
    others = user.startswith(broker.USER_PREFIX) and pid != str(os.getpid())
    return others and Path(f"/proc/{pid}").exists()


def _own_ports() -> set[int] | None:
    """Local ports of this process's TCP sockets (None where /proc is missing)."""
    inodes = set()
    try:
        fds = os.listdir("/proc/self/fd")
        tables = [Path(f"/proc/self/net/{t}").read_text() for t in ("tcp", "tcp6")]
    except OSError:
        return None
    for fd in fds:
        with contextlib.suppress(OSError):  # closed meanwhile
            link = os.readlink(f"/proc/self/fd/{fd}")
            if link.startswith("socket:["):
                inodes.add(link.removeprefix("socket:[").removesuffix("]"))
    rows = [line.split() for table in tables for line in table.splitlines()[1:]]
    return {int(row[1].rsplit(":", 1)[1], 16) for row in rows if row[9] in inodes}


def listed(ctl: Ctl, port: int) -> bool:
    """Whether the broker lists a connection from `port`."""
    out = ctl("list_connections", "peer_port", "--no-table-headers")
    return str(port) in out.split()


def wait_unlisted(ctl: Ctl, port: int) -> bool:
    """Wait for the broker to stop listing `port`; False if it still does."""
    deadline = time.monotonic() + UNLISTED_WITHIN
    while listed(ctl, port):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def lab_users(ctl: Ctl) -> set[str]:
    out = ctl("list_users", "--no-table-headers")
    names = {line.split("\t")[0] for line in out.splitlines()}
    return {n for n in names if n.startswith(broker.USER_PREFIX)}


def logged_since(path: Path, offset: int, client: str) -> list[str]:
    """The log entries about `client` written after `offset`, once it logged its end.

    The broker's log handler writes to the file a few seconds late, so this
    waits (up to LOGGED_WITHIN) for the connection's "closing" entry.
    """
    deadline = time.monotonic() + LOGGED_WITHIN
    with tempfile.TemporaryDirectory() as tmp:
        since = Path(tmp) / "since.log"
        while True:
            with path.open("rb") as log:
                log.seek(offset if offset <= path.stat().st_size else 0)
                since.write_bytes(log.read())
            lines = broker.log_lines(since, client)
            ended = any("closing AMQP connection" in line for line in lines)
            if ended or time.monotonic() > deadline:
                return lines
            time.sleep(0.2)


# Running each experiment once ---


@dataclass
class Run:
    """One experiment run to its end, and the broker around it."""

    engine: Engine
    events: list[EngineEvent]
    before: Snapshot
    after: Snapshot
    #: The client's port, and whether the broker still listed it afterwards.
    port: int
    lingered: bool
    #: The broker's log entries about the connection, read by the test itself
    #: (only what was written since the run began), or why they cannot be read.
    log: list[str] | str

    @property
    def facts(self) -> dict[str, JSON]:
        """The close phase's report: what the broker did, as `conclude` read it."""
        reports = [e for e in self.events if isinstance(e, PhaseReport)]
        assert reports, "the experiment reported nothing"
        assert reports[-1].phase is Phase.CLOSE
        return reports[-1].facts

    def waits(self) -> list[Waiting]:
        return [e for e in self.events if isinstance(e, Waiting)]


async def _experiment(url: str, name: str, events: list[EngineEvent]) -> Engine:
    engine = lab_engine(url, name, events.append, live_handshake=False)
    try:
        await engine.run()
    finally:
        await engine.aclose()
    return engine


class Lab:
    """Runs each experiment the first time a test asks for it."""

    def __init__(self, url: str, ctl: Ctl) -> None:
        self.url, self.ctl = url, ctl
        self.vhost = parse(url).vhost
        self.runs: dict[str, Run] = {}

    def run(self, name: str) -> Run:
        if name not in self.runs:
            path = broker.log_file()
            log_from = path.stat().st_size if path is not None else 0
            before = snapshot(self.ctl, self.vhost)
            events: list[EngineEvent] = []
            engine = asyncio.run(_experiment(self.url, name, events))
            address = engine.tap.client_address
            assert address, f"{name}: the experiment never connected"
            port = int(address.rsplit(":", 1)[1])
            deadline = time.monotonic() + UNLISTED_WITHIN
            after = snapshot(self.ctl, self.vhost)
            while str(port) in after["connections"] and time.monotonic() < deadline:
                time.sleep(0.2)
                after = snapshot(self.ctl, self.vhost)
            lingered = str(port) in after["connections"]
            log = (
                logged_since(path, log_from, address)
                if path is not None
                else "no readable RabbitMQ log file on this machine"
            )
            self.runs[name] = Run(engine, events, before, after, port, lingered, log)
        return self.runs[name]


@pytest.fixture(scope="module")
def lab(broker_url: str, ctl: Ctl) -> Lab:
    return Lab(broker_url, ctl)


def expect(name: str) -> Expect:
    if name not in EXPECTED:
        pytest.fail(f"no expectations written for the failure experiment {name!r}")
    return EXPECTED[name]


def anchor_time(engine: Engine, anchor: str) -> float:
    if anchor == "tcp":
        assert engine.tcp_at is not None
        return engine.tcp_at
    client = [f for f in engine.frames if f.direction is C2B]
    if anchor == "last":
        return client[-1].t
    sent = engine.frame(C2B, anchor)
    assert sent is not None, f"the client never sent {anchor}"
    return sent.t


# What the broker did ---


@pytest.mark.parametrize("name", FAILURES)
def test_broker_does_what_the_experiment_expects(lab: Lab, name: str) -> None:
    want, run = expect(name), lab.run(name)
    engine, facts = run.engine, run.facts
    assert engine.outcome is True, facts
    assert facts["as_expected"] is True
    assert facts["experiment"] == name
    assert sum(isinstance(e, LifecycleEnded) for e in run.events) == 1
    broker_frames = [f for f in engine.frames if f.direction is B2C]
    if want.reply is not None:
        frame_name, channel, code, text = want.reply
        replies = [f for f in broker_frames if f.name == frame_name]
        assert replies, f"the broker sent no {frame_name}"
        payload = replies[0].payload
        assert replies[0].channel == channel
        assert getattr(payload, "reply_code", None) == code
        reply_text = str(getattr(payload, "reply_text", ""))
        for fragment in text:
            assert fragment in reply_text
        reply = facts["reply"]
        assert isinstance(reply, dict)
        assert (reply["frame"], reply["channel"]) == (frame_name, channel)
        assert (reply["reply_code"], reply["reply_text"]) == (code, reply_text)
        told = [e for e in run.events if isinstance(e, PhaseFailed) and e.reply_code]
        if frame_name == "Basic.Return":
            assert not told, "a returned message is not a failure"
        else:
            assert told, "the learner is not told of the broker's Close"
            assert (told[0].reply_code, told[0].reply_text) == (code, reply_text)
    if want.drop is not None:
        low, high = want.drop
        assert "Connection.Close" not in [f.name for f in broker_frames]
        assert "reply" not in facts
        end = engine.ended[B2C]
        assert end.reason.startswith(
            ("closed by the broker", "reset by the broker", "connection lost")
        )
        since = anchor_time(engine, want.anchor)
        assert low <= end.t - since <= high, end
        dropped = facts["dropped_after_s"]
        assert isinstance(dropped, float | int)
        assert low <= dropped <= high
        after = [f.name for f in broker_frames if f.t >= since]
        assert [n for n in after if n != "Heartbeat"] == list(want.broker_after)
    if want.lives_on:
        assert facts["connection_lived_on"] is True
        assert engine.seen(C2B, "Connection.Close")
        assert engine.seen(B2C, "Connection.CloseOk")
    else:
        assert "connection_lived_on" not in facts


def test_wrong_protocol_gets_the_brokers_own_header(
    lab: Lab, broker_major: int
) -> None:
    """3.x answers with its 0-9-1 header; 4.x with AMQP 1.0's (its other protocol)."""
    engine = lab.run("wrong-protocol").engine
    sent, answer = engine.first(C2B), engine.first(B2C)
    assert sent is not None
    assert answer is not None
    assert sent.raw == b"AMQP\x01\x01\x00\x0a"
    assert answer.name == "ProtocolHeader"
    own = "00 00 09 01" if broker_major < 4 else "03 01 00 00"
    assert answer.raw == bytes.fromhex("41 4d 51 50" + own)


def test_channel_max_refuses_the_third_channel(lab: Lab) -> None:
    engine = lab.run("channel-max").engine
    opened = [f.channel for f in engine.frames if f.name == "Channel.Open"]
    assert opened == [1, 2, 3]
    tune_ok = engine.frame(C2B, "Connection.TuneOk")
    assert tune_ok is not None
    assert getattr(tune_ok.payload, "channel_max", None) == 2


def test_heartbeat_timeout_client_stays_silent(lab: Lab) -> None:
    engine = lab.run("heartbeat-timeout").engine
    tune_ok = engine.frame(C2B, "Connection.TuneOk")
    assert tune_ok is not None
    assert getattr(tune_ok.payload, "heartbeat", None) == 2
    assert engine.count(C2B, "Heartbeat") == 0
    assert engine.count(B2C, "Heartbeat") >= 2  # the broker's, every second


def readable(lines: object) -> list[str]:
    """Log lines, or a failure in CI (a skip elsewhere) when the log is unreadable."""
    if isinstance(lines, str):
        problem = f"the broker's log is not readable here: {lines}"
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)
    assert isinstance(lines, list)
    return [str(line) for line in lines]


@pytest.mark.parametrize("name", FAILURES)
def test_broker_log_tells_why(lab: Lab, name: str) -> None:
    run = lab.run(name)
    lines = readable(run.log)
    assert lines, "the broker logged nothing about the connection"
    assert "accepting AMQP connection" in lines[0]
    assert f"{run.engine.tap.client_address} -> " in lines[0]
    text = "\n".join(lines)
    assert "closing AMQP connection" in text
    for fragment in expect(name).log:
        assert fragment in text


@pytest.mark.parametrize("name", FAILURES)
def test_reported_log_lines_are_this_connections(lab: Lab, name: str) -> None:
    run = lab.run(name)
    reported, logged = readable(run.facts["broker_log"]), readable(run.log)
    assert reported
    assert reported[0] == logged[0]
    assert set(reported) <= set(logged)
    text = "\n".join(reported)
    for fragment in expect(name).log:
        assert fragment in text


@pytest.mark.parametrize("name", FAILURES)
def test_timed_waits_are_announced(lab: Lab, name: str) -> None:
    want, run = expect(name), lab.run(name)
    waits = run.waits()
    if isinstance(run.facts["broker_log"], list):  # then its lines were waited for
        assert waits, "no wait for the broker's log"
        log_wait = waits.pop()
        assert "the broker's log" in log_wait.what
        assert log_wait.seconds == LOG_WAIT + 1
    if want.waiting is None:
        assert waits == []
        return
    seconds, what = want.waiting
    assert len(waits) == 1
    assert waits[0].seconds == pytest.approx(seconds, abs=0.3)
    assert what in waits[0].what
    if want.drop is not None:
        # Told before the broker's timer ran out, and long enough to cover it.
        end = run.engine.ended[B2C].t
        assert waits[0].t < end <= waits[0].t + waits[0].seconds
    else:
        reply = run.facts["reply"]
        assert isinstance(reply, dict)
        trigger = run.engine.trigger_at
        assert trigger is not None
        replied = trigger + float(str(reply["after_s"]))
        assert waits[0].t < replied <= waits[0].t + waits[0].seconds


# Nothing left behind ---


@pytest.mark.parametrize("name", FAILURES)
def test_experiment_leaves_the_broker_as_it_found_it(lab: Lab, name: str) -> None:
    run = lab.run(name)
    assert not run.lingered, (
        f"the broker still lists the connection from port {run.port} "
        f"{UNLISTED_WITHIN:g} s after the run"
    )
    for key in ("users", "vhosts", "permissions", "global parameters"):
        before = {r for r in run.before[key] if not _foreign(r)}
        after = {r for r in run.after[key] if not _foreign(r)}
        assert after == before, key
    assert not [u for u in run.after["users"] if u.startswith(OUR_USERS)]
    new = run.after["connections"] - run.before["connections"]
    own = _own_ports()
    leaked = new if own is None else {p for p in new if int(p) in own}
    assert not leaked, f"connections of this process still open: {leaked}"


# Interrupted: the app quitting, Ctrl-C ---


def _process_exists(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def _user_of(engine: Engine) -> str:
    user = parse(engine.url).user
    assert user.startswith(OUR_USERS), user
    return user


async def _users(ctl: Ctl) -> set[str]:
    return await asyncio.to_thread(lab_users, ctl)


async def test_abandoned_after_setup_removes_the_user(
    broker_url: str, ctl: Ctl
) -> None:
    engine = lab_engine(
        broker_url, "no-permission", lambda e: None, live_handshake=True
    )
    await engine.step()
    assert engine.next_phase is Phase.RESOLVE
    user = _user_of(engine)
    assert user in await _users(ctl)
    await engine.aclose()  # the app quits, or restarts, without finishing
    assert user not in await _users(ctl)


async def test_cancelled_run_removes_the_user_and_the_connection(
    broker_url: str, ctl: Ctl
) -> None:
    tasks: list[asyncio.Task[bool]] = []

    def listener(event: EngineEvent) -> None:
        if isinstance(event, FrameObserved) and event.frame.name == "Connection.Start":
            tasks[0].cancel()  # what asyncio.run does on Ctrl-C, mid-handshake

    engine = lab_engine(broker_url, "no-permission", listener, live_handshake=True)
    tasks.append(asyncio.create_task(engine.run()))
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(tasks[0], timeout=10)
    # Cut before its own clean-up (at the close step), so the user is still
    # there: checked here, not while the run goes on, which raced its removal.
    user = _user_of(engine)
    assert user in await _users(ctl)
    await engine.aclose()
    assert user not in await _users(ctl)
    port = int(engine.tap.client_address.rsplit(":", 1)[1])
    assert await asyncio.to_thread(wait_unlisted, ctl, port)


async def test_cancelled_while_granting_permissions_removes_the_user(
    broker_url: str, ctl: Ctl, monkeypatch: pytest.MonkeyPatch
) -> None:
    granting = asyncio.Event()
    real = broker.rabbitmqctl

    async def rabbitmqctl(*args: str, stdin: str = "") -> str:
        if args[0] == "set_permissions":
            granting.set()
        return await real(*args, stdin=stdin)

    monkeypatch.setattr(broker, "rabbitmqctl", rabbitmqctl)
    before = await _users(ctl)
    engine = lab_engine(
        broker_url, "no-permission", lambda e: None, live_handshake=True
    )
    task = asyncio.create_task(engine.run())
    await asyncio.wait_for(granting.wait(), timeout=10)
    task.cancel()  # Ctrl-C while rabbitmqctl set_permissions runs
    with pytest.raises(asyncio.CancelledError):
        await task
    await engine.aclose()
    left = await _users(ctl) - before
    for user in left:  # do not leave it to the next test
        await asyncio.to_thread(ctl, "delete_user", user)
    assert not left


async def test_sweep_removes_users_of_dead_processes_only(ctl: Ctl) -> None:
    assert not _process_exists(999999), "pid 999999 runs: pick another"
    dead = f"{broker.USER_PREFIX}999999-dead00"
    alive = f"{OUR_USERS}{secrets.token_hex(3)}"
    for user in (dead, alive):
        await asyncio.to_thread(ctl, "add_user", user, secrets.token_hex(8))
    try:
        try:
            removed = await broker.sweep()
        except broker.LabError as exc:
            # Another process's experiment swept the same user a moment
            # earlier: sweep() does not yet tolerate that race (reported).
            if "does not exist" not in str(exc):
                raise
            removed = []
        users = await _users(ctl)
        assert dead not in users  # by this sweep, or by a concurrent one
        assert alive not in removed
        assert alive in users
    finally:
        for user in (dead, alive):
            if user in await _users(ctl):
                await asyncio.to_thread(ctl, "delete_user", user)


# trace --scenario ---


def test_trace_scenario_prints_the_brokers_reply(broker_url: str) -> None:
    result = run_cli("trace", broker_url, "--scenario", "unknown-vhost")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "530" in result.stdout
    assert "NOT_ALLOWED - vhost amqp-explorer-no-such-vhost not found" in result.stdout
    assert "Traceback" not in result.stderr


def test_trace_unknown_scenario_is_a_usage_error(broker_url: str) -> None:
    result = run_cli("trace", broker_url, "--scenario", "no-such-experiment")
    assert result.returncode == 2
    assert "invalid choice: 'no-such-experiment'" in result.stderr
    assert "wrong-password" in result.stderr  # the names it does know
    assert "Traceback" not in result.stderr + result.stdout
    assert not result.stdout


def test_trace_json_scenario_tells_its_wait(broker_url: str) -> None:
    result = run_cli(
        "trace", broker_url, "--json", "--scenario", "wrong-password-silent"
    )
    assert result.returncode == 0, result.stderr + result.stdout
    records: list[dict[str, Any]] = [
        json.loads(line) for line in result.stdout.splitlines() if line.strip()
    ]
    waiting = [r for r in records if r["event"] == "waiting"]
    assert waiting, "no waiting record"
    assert waiting[0]["seconds"] == 5.0
    assert "3 s delay" in waiting[0]["what"]
    assert all(
        set(r) == {"t", "event", "phase", "what", "seconds", "since"} for r in waiting
    )
    close = [
        r["facts"] for r in records if r["event"] == "report" and r["phase"] == "close"
    ]
    assert close[-1]["experiment"] == "wrong-password-silent"
    assert close[-1]["as_expected"] is True
    assert 2.3 <= close[-1]["dropped_after_s"] <= 3.7


async def test_without_rabbitmqctl_the_experiment_says_why_at_the_endpoint(
    broker_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("RABBITMQCTL", raising=False)
    failures: list[PhaseFailed] = []
    engine = lab_engine(
        broker_url,
        "no-permission",
        lambda e: failures.append(e) if isinstance(e, PhaseFailed) else None,
        live_handshake=False,
    )
    try:
        await engine.run()
    finally:
        await engine.aclose()
    assert [f.phase for f in failures] == [Phase.ENDPOINT]
    assert "needs rabbitmqctl" in failures[0].message
    assert engine.sock is None, "nothing was connected"
    assert engine.outcome is None
