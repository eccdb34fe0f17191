"""`amqp-explorer record` against the live broker and against fake peers."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from pamqp import commands
from yarl import URL

from explorer.protocol import Direction, Frame
from explorer.protocol.frames import B2C, C2B
from explorer.recording.capture import Capture, load
from tests.conftest import User, run_cli, run_cli_async
from tests.integration.conftest import Handler


def names(capture: Capture, direction: Direction) -> list[str]:
    return [item.name for item in capture.decode(direction)]


def test_record_happy_path_walks_the_whole_lifecycle(
    broker_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "happy.jsonl"
    result = run_cli("record", broker_url, "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "recorded" in result.stdout
    capture = load(out)
    assert capture.broker.startswith("RabbitMQ")
    assert names(capture, C2B) == [
        "ProtocolHeader",
        "Connection.StartOk",
        "Connection.TuneOk",
        "Connection.Open",
        "Channel.Open",
        "Confirm.Select",
        "Queue.Declare",
        "Basic.Publish", "ContentHeader", "ContentBody",
        "Basic.Consume",
        "Basic.Ack",
        "Basic.Cancel",
        "Basic.Publish", "ContentHeader", "ContentBody",
        "Basic.Get",
        "Basic.Ack",
        "Basic.Get",
        "Channel.Close",
        "Connection.Close",
    ]  # fmt: skip
    broker = [n for n in names(capture, B2C) if n != "Heartbeat"]
    assert broker[:4] == [
        "Connection.Start",
        "Connection.Tune",
        "Connection.OpenOk",
        "Channel.OpenOk",
    ]
    for expected in (
        "Basic.Deliver",
        "Basic.GetOk",
        "Basic.GetEmpty",
        "Channel.CloseOk",
    ):
        assert expected in broker
    assert broker[-1] == "Connection.CloseOk"
    assert capture.client_address.startswith("127.0.0.1:")
    assert capture.broker_address.endswith(f":{URL(broker_url).port}")


def test_password_appears_nowhere(
    broker_url: str, temp_user: User, tmp_path: Path
) -> None:
    out = tmp_path / "user.jsonl"
    result = run_cli("record", temp_user.url(broker_url), "-o", str(out))
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    secret = temp_user.password
    for where in (text, result.stdout, result.stderr):
        assert secret not in where
        assert secret.encode().hex() not in where
    capture = load(out)
    assert temp_user.name in capture.url
    start_ok = next(
        i
        for i in capture.decode(C2B)
        if isinstance(i, Frame) and i.name == "Connection.StartOk"
    )
    assert isinstance(start_ok.payload, commands.Connection.StartOk)
    assert start_ok.payload.response == f"\0{temp_user.name}\0" + "*" * len(secret)


def test_wrong_password_is_refused_with_the_brokers_text(
    broker_url: str, temp_user: User, tmp_path: Path
) -> None:
    out = tmp_path / "wrong.jsonl"
    wrong = "not-" + temp_user.password
    result = run_cli("record", temp_user.url(broker_url, wrong), "-o", str(out))
    assert result.returncode == 1
    assert "✗ auth: the broker closed the connection" in result.stderr
    assert "the broker said: 403 ACCESS_REFUSED" in result.stderr
    assert "Traceback" not in result.stderr
    assert wrong not in result.stderr + out.read_text()
    assert names(load(out), B2C) == ["Connection.Start", "Connection.Close"]


def test_unknown_vhost_keeps_the_530_text_aiormq_loses(
    broker_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "vhost.jsonl"
    result = run_cli(
        "record", broker_url.rstrip("/") + "/no-such-vhost", "-o", str(out)
    )
    assert result.returncode == 1
    assert "✗ open:" in result.stderr
    assert "530 NOT_ALLOWED - vhost no-such-vhost not found" in result.stderr
    assert names(load(out), C2B)[-1] == "Connection.Open"


def test_closed_port_and_unknown_host_are_explained(tmp_path: Path) -> None:
    out = tmp_path / "none.jsonl"
    refused = run_cli("record", "amqp://guest:guest@127.0.0.1:1/", "-o", str(out))
    assert refused.returncode == 1
    assert "✗ tcp: no address accepted a TCP connection (127.0.0.1:1 refused)" in (
        refused.stderr
    )
    unknown = run_cli(
        "record", "amqp://guest:guest@no-such-host.invalid/", "-o", str(out)
    )
    assert unknown.returncode == 1
    assert "does not resolve" in unknown.stderr
    for result in (refused, unknown):
        assert "Traceback" not in result.stderr
        assert "guest:guest" not in result.stderr


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://localhost/", "an AMQP URL starts with amqp:// or amqps://"),
        ("amqp://localhost/a/b", "has more than one segment"),
        ("amqp://localhost/?heartbeat=soon", "heartbeat='soon' is not a whole number"),
        ("amqp://u:secret@[::1/", "is not a valid URL"),
    ],
)
def test_bad_urls_get_a_message_naming_the_bad_part(
    url: str, message: str, tmp_path: Path
) -> None:
    result = run_cli("record", url, "-o", str(tmp_path / "x.jsonl"))
    assert result.returncode == 2
    assert message in result.stderr
    assert "secret" not in result.stderr
    assert "Traceback" not in result.stderr


async def test_non_amqp_peer_is_named_as_such(
    fake_peer: Callable[[Handler], Awaitable[int]], tmp_path: Path
) -> None:
    async def http_server(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await reader.read(8)
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    port = await fake_peer(http_server)
    out = tmp_path / "http.jsonl"
    result = await run_cli_async(
        "record", f"amqp://guest:guest@127.0.0.1:{port}/", "-o", str(out)
    )
    assert result.returncode == 1
    assert "cannot be read as AMQP 0-9-1" in result.stderr
    assert "'HTTP/1.1 400 Bad'" in result.stderr
    assert names(load(out), C2B) == ["ProtocolHeader"]


async def test_silent_peer_times_out(
    fake_peer: Callable[[Handler], Awaitable[int]], tmp_path: Path
) -> None:
    async def silent(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await reader.read()  # say nothing until the client goes away

    port = await fake_peer(silent)
    out = tmp_path / "silent.jsonl"
    result = await run_cli_async(
        "record",
        f"amqp://guest:guest@127.0.0.1:{port}/",
        "-o",
        str(out),
        "--timeout",
        "1",
    )
    assert result.returncode == 1
    assert "no answer within 1 s" in result.stderr
    assert names(load(out), C2B) == ["ProtocolHeader"]


async def test_peer_closing_mid_frame_is_reported(
    fake_peer: Callable[[Handler], Awaitable[int]], tmp_path: Path
) -> None:
    async def cut_short(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await reader.read(8)
        writer.write(
            b"\x01\x00\x00\x00\x00\x01\xf0\x00\x0a"
        )  # a Start cut after 9 bytes
        await writer.drain()
        writer.close()

    port = await fake_peer(cut_short)
    out = tmp_path / "cut.jsonl"
    result = await run_cli_async(
        "record", f"amqp://guest:guest@127.0.0.1:{port}/", "-o", str(out)
    )
    assert result.returncode == 1
    assert "the connection closed in the middle of a frame" in result.stderr
    assert "Traceback" not in result.stderr


def _ctrl_c_as_at_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def record_until(
    args: list[str], out: Path, seen: str, sig: signal.Signals
) -> subprocess.Popen[str]:
    """`record ... -o out` in a subprocess, sent `sig` once `seen` is in the file."""
    process = subprocess.Popen(
        [sys.executable, "-m", "explorer", "record", *args, "-o", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As from a terminal: a suite started in the background (`cmd &`)
        # inherits SIGINT ignored, and Python then installs no ctrl+c handler.
        preexec_fn=_ctrl_c_as_at_a_terminal,
    )
    deadline = time.monotonic() + 20
    while seen not in (out.read_text() if out.exists() else ""):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{seen!r} never written"
        time.sleep(0.05)
    process.send_signal(sig)
    process.wait(timeout=20)
    return process


#: What each signal leaves: ctrl+c and SIGTERM close the connection first and
#: say so; SIGKILL leaves only what was flushed.
STOPS = {
    "SIGINT": (signal.SIGINT, 1, "interrupted: what was recorded up to then is in"),
    "SIGTERM": (signal.SIGTERM, 1, "interrupted: what was recorded up to then is in"),
    "SIGKILL": (signal.SIGKILL, -signal.SIGKILL, ""),
}


@pytest.mark.parametrize(("sig", "status", "said"), STOPS.values(), ids=STOPS.keys())
def test_a_recording_cut_mid_run_replays_what_it_saw(
    broker_url: str, tmp_path: Path, sig: signal.Signals, status: int, said: str
) -> None:
    out = tmp_path / "cut.jsonl"
    start = '"dir": "b2c", "hex": "010000'  # the broker's Connection.Start came
    args = [broker_url, "--scenario", "handshake-timeout"]
    process = record_until(args, out, start, sig)
    assert process.returncode == status
    stderr = process.stderr.read() if process.stderr else ""
    assert said in stderr
    assert "Traceback" not in stderr
    capture = load(out)
    assert capture.cut
    assert names(capture, B2C)[0] == "Connection.Start"
    replayed = run_cli("replay", str(out), "--print")
    assert replayed.returncode == 1
    assert "Connection.Start" in replayed.stdout
    assert "the capture was cut" in replayed.stdout + replayed.stderr
    assert "Traceback" not in replayed.stderr


def test_a_recording_killed_after_the_login_holds_no_password(
    broker_url: str, temp_user: User, tmp_path: Path
) -> None:
    out = tmp_path / "killed.jsonl"
    args = [temp_user.url(broker_url), "--scenario", "heartbeat-timeout"]
    record_until(args, out, '"redacted": [{', signal.SIGKILL)
    text = out.read_text()
    assert temp_user.password not in text
    assert temp_user.password.encode().hex() not in text
    capture = load(out)
    assert capture.cut
    assert [r.what for r in capture.redactions] == ["password"]
    assert "Connection.StartOk" in names(capture, C2B)
