"""Shared fixtures: the committed captures and the live broker.

Live-broker tests use the `broker_url` fixture. Without a broker they are
skipped with the reason, except in CI (CI set) or with --require-broker, where
a missing broker fails the run instead.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from explorer.capture import Capture, load
from explorer.protocol import Direction

CAPTURES = Path(__file__).parent / "captures"
CAPTURE_FILES = sorted(CAPTURES.glob("*.jsonl"))
DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--require-broker",
        action="store_true",
        help="fail, rather than skip, tests that need a broker when none answers",
    )


def load_capture(name: str) -> Capture:
    """A committed capture by its file stem, e.g. "happy-path"."""
    return load(CAPTURES / f"{name}.jsonl")


@pytest.fixture(params=CAPTURE_FILES, ids=[p.stem for p in CAPTURE_FILES])
def capture(request: pytest.FixtureRequest) -> Capture:
    """Each committed capture in turn."""
    path: Path = request.param
    return load(path)


@pytest.fixture(params=list(Direction), ids=[d.value for d in Direction])
def direction(request: pytest.FixtureRequest) -> Direction:
    """Each direction in turn."""
    value: Direction = request.param
    return value


def _probe(host: str, port: int) -> str | None:
    """None when an AMQP broker answers the protocol header, else why not."""
    try:
        with socket.create_connection((host, port), timeout=3) as sock:
            sock.settimeout(3)
            sock.sendall(b"AMQP\x00\x00\x09\x01")
            if not sock.recv(8):
                return f"the peer at {host}:{port} closed without answering"
    except OSError as exc:
        return f"no RabbitMQ answers at {host}:{port} ({exc})"
    return None


@pytest.fixture(scope="session")
def broker_url(request: pytest.FixtureRequest) -> str:
    """The URL of a live broker that answers, from $AMQP_URL or the default."""
    from yarl import URL

    url = os.environ.get("AMQP_URL", DEFAULT_BROKER_URL)
    parsed = URL(url)
    problem = _probe(parsed.host or "127.0.0.1", parsed.port or 5672)
    if problem is not None:
        if os.environ.get("CI") or request.config.getoption("--require-broker"):
            pytest.fail(f"live-broker tests cannot run: {problem}")
        pytest.skip(problem)
    return url
