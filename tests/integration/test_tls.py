"""`amqp-explorer trace` over amqps, through a TLS terminator to the live broker.

The terminator (the `tls_relay` fixture) runs on the test's event loop with a
self-signed certificate for localhost, so the CLI runs in a thread and the URL
names `localhost`, the certificate's name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from yarl import URL

from explorer.protocol.frames import Direction
from explorer.protocol.lifecycle import ORDER
from tests.conftest import run_cli_async
from tests.integration.conftest import HANDSHAKE, records


def amqps(broker_url: str, port: int, **query: str) -> str:
    """The broker's credentials, through the relay on localhost:`port`."""
    upstream = URL(broker_url)
    url = f"amqps://{upstream.user}:{upstream.password}@localhost:{port}/"
    return str(URL(url).with_query(query)) if query else url


def tls_phase(lines: list[dict[str, Any]]) -> dict[str, Any]:
    return next(
        r["facts"] for r in lines if r["event"] == "report" and r["phase"] == "tls"
    )


def assert_no_traceback(stdout: str, stderr: str) -> None:
    assert "Traceback" not in stdout + stderr, stdout + stderr


async def test_trace_over_tls_reports_the_tls_phase_and_decodes_every_frame(
    broker_url: str, tls_relay: tuple[int, Path]
) -> None:
    port, cafile = tls_relay
    result = await run_cli_async(
        "trace", amqps(broker_url, port, cafile=str(cafile)), "--json"
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert_no_traceback(result.stdout, result.stderr)
    lines = records(result.stdout)
    assert not [r for r in lines if r["event"] == "failed"]
    phases = [r["phase"] for r in lines if r["event"] == "report"]
    assert phases[:5] == ["endpoint", "resolve", "tcp", "tls", "header"]
    assert phases[-1] == "close"
    tls = tls_phase(lines)
    assert str(tls["tls_version"]).startswith("TLSv1.")
    assert tls["cipher"]
    assert "CN=localhost" in tls["subject"]
    assert "CN=localhost" in tls["issuer"]  # self-signed: its own issuer
    assert tls["verified"] is True
    frames = [r for r in lines if r["event"] == "frame"]
    order = [p.value for p in ORDER]
    # Every frame belongs to a phase after TLS, in the order phases happen.
    assert all(order.index(f["phase"]) > order.index("tls") for f in frames)
    frame_phases = [order.index(f["phase"]) for f in frames]
    assert frame_phases == sorted(frame_phases)
    names = [
        (Direction(r["dir"]).sender, r["name"])
        for r in frames
        if r["name"] != "Heartbeat"
    ]
    assert names[: len(HANDSHAKE)] == HANDSHAKE
    assert frames[0]["phase"] == "header"
    assert names[-1] == ("broker", "Connection.CloseOk")
    assert ("broker", "Basic.Deliver") in names
    assert all(set(r) >= {"channel", "size", "fields", "t", "phase"} for r in frames)


async def test_an_unverifiable_certificate_fails_at_the_tls_phase(
    broker_url: str, tls_relay: tuple[int, Path]
) -> None:
    port, _ = tls_relay
    for args in (["--json"], []):
        result = await run_cli_async("trace", amqps(broker_url, port), *args)
        assert result.returncode == 1, result.stderr + result.stdout
        assert_no_traceback(result.stdout, result.stderr)
        if args:
            lines = records(result.stdout)
            errors = [r for r in lines if r["event"] == "failed"]
            assert len(errors) == 1
            assert lines[-1] is errors[0]
            assert errors[0]["phase"] == "tls"
            message = errors[0]["message"]
            assert "certificate verify failed" in message
            assert "self-signed certificate" in message
            assert not [r for r in lines if r["event"] == "frame"]
            phases = [r["phase"] for r in lines if r["event"] == "report"]
            assert "tls" not in phases
            assert "header" not in phases
        else:
            assert "✗ tls: " in result.stdout
            assert "certificate verify failed" in result.stdout


async def test_no_verify_ssl_connects_and_says_the_certificate_was_not_verified(
    broker_url: str, tls_relay: tuple[int, Path]
) -> None:
    port, _ = tls_relay
    url = amqps(broker_url, port, no_verify_ssl="1")
    result = await run_cli_async("trace", url, "--json")
    assert result.returncode == 0, result.stderr + result.stdout
    assert_no_traceback(result.stdout, result.stderr)
    lines = records(result.stdout)
    assert not [r for r in lines if r["event"] == "failed"]
    tls = tls_phase(lines)
    assert tls["verified"] is False
    assert str(tls["tls_version"]).startswith("TLSv1.")
    frames = [r for r in lines if r["event"] == "frame"]
    assert frames[0]["name"] == "ProtocolHeader"
    assert frames[0]["phase"] == "header"
    assert frames[-1]["name"] == "Connection.CloseOk"
