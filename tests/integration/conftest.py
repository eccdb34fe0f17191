"""Live-broker helpers: rabbitmqctl, throw-away users, and fake peers.

Every test here uses the live broker (the `broker_url` fixture); users it
creates are deleted afterwards, and nothing global on the broker is changed.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

import pytest
from yarl import URL

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def rabbitmqctl(*args: str) -> str:
    """Run rabbitmqctl quietly and return its output; raise if it fails."""
    binary = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    result = subprocess.run(
        [binary, "-q", *args], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"rabbitmqctl {' '.join(args)} failed: {result.stderr.strip()}"
        )
    return result.stdout


@pytest.fixture(scope="session")
def ctl(broker_url: str) -> Callable[..., str]:
    """rabbitmqctl, when this machine has it (the broker is local)."""
    binary = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    if not os.path.exists(binary):
        if os.environ.get("CI"):
            pytest.fail("rabbitmqctl is required in CI")
        pytest.skip("rabbitmqctl is not installed here")
    return rabbitmqctl


@dataclass(frozen=True)
class User:
    """A broker user made for one test."""

    name: str
    password: str

    def url(self, broker_url: str, password: str | None = None) -> str:
        return str(
            URL(broker_url)
            .with_user(self.name)
            .with_password(password or self.password)
        )


@pytest.fixture
def temp_user(ctl: Callable[..., str]) -> Iterator[User]:
    """A user with a distinct random password and full rights on vhost /."""
    user = User(f"explorer-test-{secrets.token_hex(4)}", f"pw-{secrets.token_hex(12)}")
    ctl("add_user", user.name, user.password)
    try:
        ctl("set_permissions", "-p", "/", user.name, ".*", ".*", ".*")
        yield user
    finally:
        ctl("delete_user", user.name)


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
