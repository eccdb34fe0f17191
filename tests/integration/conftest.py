"""Live-broker helpers: fake peers, a TLS relay, reading `trace --json` (users:
tests/conftest.py).

Every test here uses the live broker (the `broker_url` fixture); users it
creates are deleted afterwards, and nothing global on the broker is changed.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from yarl import URL

from tests.conftest import run_cli_async

#: The first frames of every lifecycle, as (sender, name), heartbeats left out.
HANDSHAKE = [
    ("client", "ProtocolHeader"), ("broker", "Connection.Start"),
    ("client", "Connection.StartOk"), ("broker", "Connection.Tune"),
    ("client", "Connection.TuneOk"), ("client", "Connection.Open"),
    ("broker", "Connection.OpenOk"), ("client", "Channel.Open"),
]  # fmt: skip

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def records(stdout: str) -> list[dict[str, Any]]:
    """The JSON lines `trace --json` printed."""
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def last_error(stdout: str) -> dict[str, Any]:
    """The failure a `trace --json` ended with (it must end with one)."""
    lines = records(stdout)
    assert lines[-1]["event"] == "failed", lines[-1]
    return lines[-1]


async def fake_trace(
    fake_peer: Callable[[Handler], Awaitable[int]], handler: Handler, *extra: str
) -> dict[str, Any]:
    """`trace --json` against a fake peer playing `handler`: how it failed."""
    port = await fake_peer(handler)
    result = await run_cli_async(
        "trace", f"amqp://guest:guest@127.0.0.1:{port}/", "--json", *extra
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    return last_error(result.stdout)


@pytest.fixture
async def fake_peer() -> AsyncIterator[Callable[[Handler], Awaitable[int]]]:
    """Start a tiny TCP server on 127.0.0.1 playing what a broker cannot."""
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> int:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        servers.append(server)
        port: int = server.sockets[0].getsockname()[1]
        return port

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and its key: (cert, key)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed here")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@pytest.fixture
async def tls_relay(
    broker_url: str, tls_files: tuple[Path, Path]
) -> AsyncIterator[tuple[int, Path]]:
    """A TLS terminator on 127.0.0.1 in front of the live broker.

    Yields the port it listens on and the certificate to trust (its own,
    self-signed for localhost); the server is closed afterwards.
    """
    cert, key = tls_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    upstream = URL(broker_url)
    relays: set[asyncio.Task[None]] = set()

    async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        except (OSError, ssl.SSLError):
            pass  # the other side went away: close ours too
        finally:
            dst.close()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        relays.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection(
                upstream.host, upstream.port
            )
            await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        except OSError:
            writer.close()  # the broker is not there: drop the client
        finally:
            relays.discard(task)

    server = await asyncio.start_server(relay, "127.0.0.1", 0, ssl=context)
    port: int = server.sockets[0].getsockname()[1]
    try:
        yield port, cert
    finally:
        server.close()
        for task in list(relays):
            task.cancel()
        await asyncio.gather(*relays, return_exceptions=True)
        await server.wait_closed()
