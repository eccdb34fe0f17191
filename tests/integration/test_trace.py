"""`amqp-explorer trace` against the live broker and against fake peers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from yarl import URL

from explorer.protocol.frames import Direction
from tests.conftest import User, run_cli
from tests.integration.conftest import (
    HANDSHAKE,
    Handler,
    fake_trace,
    last_error,
    records,
)

PHASES = [
    "endpoint", "resolve", "tcp", "header", "start", "auth", "tune", "open",
    "channel", "operations", "operations", "operations", "operations",
    "heartbeat", "close",
]  # fmt: skip


def test_json_trace_walks_every_phase_in_order(broker_url: str) -> None:
    result = run_cli("trace", broker_url, "--json")
    assert result.returncode == 0, result.stderr + result.stdout
    lines = records(result.stdout)
    assert [r["phase"] for r in lines if r["event"] == "report"] == PHASES
    assert not [r for r in lines if r["event"] == "failed"]
    frames = [r for r in lines if r["event"] == "frame"]
    names = [
        (Direction(r["dir"]).sender, r["name"])
        for r in frames
        if r["name"] != "Heartbeat"
    ]
    assert names[: len(HANDSHAKE)] == HANDSHAKE
    for expected in (
        "Basic.Deliver",
        "Basic.GetOk",
        "Basic.GetEmpty",
        "Confirm.SelectOk",
    ):
        assert ("broker", expected) in names
    assert names[-1] == ("broker", "Connection.CloseOk")
    assert all(set(r) >= {"channel", "size", "fields", "t", "phase"} for r in frames)
    tune = next(r for r in lines if r["event"] == "report" and r["phase"] == "tune")
    tune_ok = next(r for r in frames if r["name"] == "Connection.TuneOk")
    assert (
        tune["facts"]["frame_max"]["tune_ok_carried"] == tune_ok["fields"]["frame_max"]
    )
    operations = [
        r for r in lines if r["event"] == "report" and r["phase"] == "operations"
    ]
    assert [o["facts"]["operation"] for o in operations] == [
        "declare",
        "publish",
        "consume",
        "get",
    ]
    assert operations[0]["facts"]["permissions_checked"] == ["configure on the queue"]
    assert operations[2]["facts"]["broker_sent"][:2] == [
        "Basic.ConsumeOk",
        "Basic.Deliver",
    ]
    assert operations[3]["facts"]["broker_sent"][-1] == "Basic.GetEmpty"


def test_url_options_reach_the_wire(broker_url: str) -> None:
    url = URL(broker_url).update_query(
        heartbeat=2, channel_max=9, frame_max=16384, connection_name="explorer-options"
    )
    lines = records(run_cli("trace", str(url), "--json").stdout)
    tune_ok = next(r for r in lines if r.get("name") == "Connection.TuneOk")
    assert tune_ok["fields"] == {"channel_max": 9, "frame_max": 16384, "heartbeat": 2}
    start_ok = next(r for r in lines if r.get("name") == "Connection.StartOk")
    assert (
        start_ok["fields"]["client_properties"]["connection_name"] == "explorer-options"
    )
    heartbeat = next(
        r for r in lines if r.get("phase") == "heartbeat" and r["event"] == "report"
    )
    assert heartbeat["facts"]["heartbeats_from_broker"] >= 1


def test_text_trace_hides_the_password_unless_revealed(
    broker_url: str, temp_user: User
) -> None:
    url = temp_user.url(broker_url)
    for args in (["trace", url], ["trace", url, "--json"]):
        result = run_cli(*args)
        assert result.returncode == 0, result.stderr
        assert temp_user.password not in result.stdout + result.stderr
        assert temp_user.name in result.stdout
    revealed = run_cli("trace", url, "--json", "--reveal-secrets")
    assert temp_user.password in revealed.stdout


def test_until_stops_after_the_phase(broker_url: str) -> None:
    result = run_cli("trace", broker_url, "--json", "--until", "tune")
    assert result.returncode == 0
    phases = [r["phase"] for r in records(result.stdout) if r["event"] == "report"]
    assert phases == PHASES[:7]


def test_wrong_password_fails_at_auth_with_the_brokers_reason(
    broker_url: str, temp_user: User
) -> None:
    result = run_cli(
        "trace", temp_user.url(broker_url, "wrong-" + temp_user.password), "--json"
    )
    assert result.returncode == 1
    error = last_error(result.stdout)
    assert (error["phase"], error["reply_code"]) == ("auth", 403)
    assert error["reply_text"].startswith("ACCESS_REFUSED")
    assert temp_user.password not in result.stdout


def test_unknown_vhost_fails_at_open_with_530(broker_url: str) -> None:
    result = run_cli("trace", broker_url.rstrip("/") + "/no-such-vhost", "--json")
    error = last_error(result.stdout)
    assert (error["phase"], error["reply_code"]) == ("open", 530)
    assert "no-such-vhost" in error["reply_text"]
    assert result.returncode == 1


def test_operation_without_permission_is_a_channel_error(
    broker_url: str, temp_user: User, ctl: Callable[..., str]
) -> None:
    ctl("set_permissions", "-p", "/", temp_user.name, "", ".*", ".*")  # no configure
    result = run_cli("trace", temp_user.url(broker_url), "--json")
    assert result.returncode == 1
    lines = records(result.stdout)
    error = last_error(result.stdout)
    assert (error["phase"], error["reply_code"]) == ("operations", 403)
    names = [r["name"] for r in lines if r["event"] == "frame"]
    assert "Channel.Close" in names
    assert names[-1] == "Connection.CloseOk", (
        "the connection lived on and closed cleanly"
    )


@pytest.mark.parametrize(
    ("url", "phase", "message"),
    [
        ("amqp://guest:guest@127.0.0.1:1/", "tcp", "127.0.0.1:1 refused"),
        ("amqp://guest:guest@no-such-host.invalid/", "resolve", "does not resolve"),
    ],
)
def test_failures_before_amqp_are_explained(url: str, phase: str, message: str) -> None:
    result = run_cli("trace", url, "--json")
    assert result.returncode == 1
    error = last_error(result.stdout)
    assert error["phase"] == phase
    assert message in error["message"]
    text = run_cli("trace", url)
    assert text.returncode == 1
    tail = text.stdout.strip().splitlines()[-3:]
    assert [line for line in tail if line.startswith(f"✗ {phase}:") and message in line]
    assert "Traceback" not in text.stdout + text.stderr


async def test_http_server_is_not_amqp(
    fake_peer: Callable[[Handler], Awaitable[int]],
) -> None:
    async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(8)
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await writer.drain()
        writer.close()

    error = await fake_trace(fake_peer, http)
    assert error["phase"] == "header"
    assert "cannot be read as AMQP 0-9-1" in error["message"]
    assert "HTTP/1.1 400" in error["message"]


async def test_silent_peer_is_a_bounded_wait(
    fake_peer: Callable[[Handler], Awaitable[int]],
) -> None:
    async def silent(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await reader.read()

    error = await fake_trace(fake_peer, silent, "--timeout", "1")
    assert error["phase"] == "header"
    assert "no answer within 1 s" in error["message"]


async def test_refused_protocol_version_names_the_offer(
    fake_peer: Callable[[Handler], Awaitable[int]],
) -> None:
    async def newer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(8)
        writer.write(b"AMQP\x03\x01\x00\x00")  # what RabbitMQ 4.x answers
        await writer.drain()
        writer.close()

    error = await fake_trace(fake_peer, newer)
    assert error["phase"] == "header"
    assert "AMQP 3-1-0-0" in error["message"]
    assert "SASL" in error["message"]


def test_a_bad_url_is_bad_usage_told_first() -> None:
    for output in ((), ("--json",)):
        result = run_cli(
            "trace", "amqp://guest:guest@localhost/?channel_max=x", *output
        )
        assert result.returncode == 2
        assert result.stdout == "", "no lifecycle line comes before the error"
        assert "not a whole number" in result.stderr.splitlines()[0]
