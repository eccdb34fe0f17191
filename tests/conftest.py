"""Shared fixtures: the committed captures, the live broker and its users.

Live-broker tests use the `broker_url` fixture, which runs each of them on
every broker in BROKERS: the machine's, and the project's RabbitMQ 4.0. Without
a broker they are skipped with the reason, except in CI (CI set) or with
--require-broker, where a missing broker fails the run instead.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from pamqp import base, commands
from pamqp.frame import FrameTypes, marshal
from yarl import URL

from explorer.course.checks import Seen
from explorer.engine.events import EngineEvent, FrameObserved, PhaseFailed, PhaseReport
from explorer.lab.broker import ctl_command
from explorer.protocol import Direction
from explorer.protocol.decoder import FrameDecoder
from explorer.protocol.fields import table_of
from explorer.protocol.frames import Frame
from explorer.recording.capture import Capture, load

# Property tests check behaviour, never speed (bench/ measures that): no
# deadline, so a busy 2-CPU machine cannot fail them.
settings.register_profile("explorer", deadline=None)
settings.load_profile("explorer")

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = Path(__file__).parent / "captures"
CAPTURE_FILES = sorted(CAPTURES.glob("*.jsonl"))
DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/"
#: Frames that are not methods, under the names the decoder gives them.
SPECIAL_FRAMES: Final = ("ProtocolHeader", "Heartbeat", "ContentHeader", "ContentBody")
#: Every method pamqp knows, by its frame name.
METHODS: Final[dict[str, type[base.Frame]]] = {
    method.name: method
    for method in commands.INDEX_MAPPING.values()
    if issubclass(method, base.Frame)
}
#: Every frame name the decoder gives: the one list of frame names for all tests.
FRAME_NAMES: Final = frozenset(METHODS) | frozenset(SPECIAL_FRAMES)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--require-broker",
        action="store_true",
        help="fail, rather than skip, tests that need a broker when none answers",
    )


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`amqp-explorer ARGS` in a subprocess, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "explorer", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def run_cli_async(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a subprocess, while this event loop keeps serving fake peers."""
    return await asyncio.to_thread(run_cli, *args)


def seen_of(events: Sequence[EngineEvent]) -> Seen:
    """What a run's events showed, as the try-it checks judge it."""
    return Seen(
        [e.frame for e in events if isinstance(e, FrameObserved)],
        [e for e in events if isinstance(e, PhaseFailed)],
        [e for e in events if isinstance(e, PhaseReport)],
    )


def load_capture(name: str) -> Capture:
    """A committed capture by its file stem, e.g. "happy-path"."""
    return load(CAPTURES / f"{name}.jsonl")


def capture_frames(name: str) -> list[Frame]:
    """A committed capture's frames, both directions, in the order they came."""
    capture = load_capture(name)
    decoded = [item for d in Direction for item in capture.decode(d)]
    return sorted((f for f in decoded if isinstance(f, Frame)), key=lambda f: f.t)


def named_frame(direction: Direction, name: str) -> Frame:
    """A frame carrying only a name: the lifecycle rules look at nothing else."""

    class Named:
        pass

    payload = Named()
    payload.name = name  # type: ignore[attr-defined]
    return Frame(direction, 0, 0, b"", payload)  # type: ignore[arg-type]


def wire(
    *sent: tuple[Direction, FrameTypes] | tuple[Direction, FrameTypes, int],
) -> list[Frame]:
    """Frames made with pamqp and decoded again, as if they crossed the wire.

    Each is (direction, pamqp object) or (direction, pamqp object, channel).
    """
    decoders = {d: FrameDecoder(d) for d in Direction}
    frames: list[Frame] = []
    for direction, payload, *channel in sent:
        data = marshal(payload, channel[0] if channel else 0)
        frames += [f for f in decoders[direction].feed(data) if isinstance(f, Frame)]
    return frames


#: Each direction of three committed captures, for property tests to mutate.
STREAMS = [
    load_capture(name).stream(direction)
    for name in ("happy-path", "wrong-password", "unknown-vhost")
    for direction in Direction
]


def _mutated(stream: bytes, mutations: list[tuple[int, int]]) -> bytes:
    data = bytearray(stream)
    for position, value in mutations:
        data[position % len(data)] = value
    return bytes(data)


#: A committed stream with up to four of its bytes overwritten.
MUTATED_STREAMS = st.builds(
    _mutated,
    st.sampled_from(STREAMS),
    st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=4),
)


# Frames written byte by byte, for what pamqp would refuse to write ---


def frame_bytes(frame_type: int, channel: int, payload: bytes) -> bytes:
    """A frame around `payload`: type, channel, size, then the frame end."""
    return struct.pack(">BHI", frame_type, channel, len(payload)) + payload + b"\xce"


def frame_of(frame_type: int, channel: int, payload: bytes) -> Frame:
    """That frame from the broker, decoded."""
    (frame,) = FrameDecoder(Direction.BROKER_TO_CLIENT).feed(
        frame_bytes(frame_type, channel, payload)
    )
    assert isinstance(frame, Frame), frame
    return frame


def longstr(data: bytes) -> bytes:
    """A long string (or a table's body): its length, then `data`."""
    return struct.pack(">I", len(data)) + data


def entry(key: str, value: bytes) -> bytes:
    """A table entry: key, then the tagged value."""
    name = key.encode()
    return bytes([len(name)]) + name + value


def nested(depth: int, tag: bytes = b"F") -> bytes:
    """A table's one entry: a table (or array) holding one ... `depth` levels."""
    value = tag + longstr(b"")
    for _ in range(depth - 1):
        value = tag + longstr(value if tag == b"A" else b"\x01k" + value)
    return b"\x01k" + value


def _start(table: bytes) -> bytes:
    """Connection.Start's arguments around a server_properties `table`."""
    version = struct.pack(">HHBB", 10, 10, 0, 9)
    return version + table + longstr(b"PLAIN") + longstr(b"en_US")


def start_frame(server_properties: bytes) -> bytes:
    """Connection.Start whose server_properties table holds `server_properties`."""
    return frame_bytes(1, 0, _start(longstr(server_properties)))


def start_with(table: bytes) -> Frame:
    """A Connection.Start whose server_properties are `table` (length first)."""
    return frame_of(1, 0, _start(table))


def content_header(flag_words: list[int], properties: bytes) -> bytes:
    """A content header on channel 1 with these property-flag words."""
    words = b"".join(struct.pack(">H", word) for word in flag_words)
    return frame_bytes(2, 1, struct.pack(">HHQ", 60, 0, 5) + words + properties)


@pytest.fixture(scope="module")
def happy_frames() -> list[Frame]:
    """Both directions of the happy-path capture, in the order they happened."""
    return capture_frames("happy-path")


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


def probe(host: str, port: int) -> str | None:
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


@dataclass(frozen=True)
class Broker:
    """A live broker the suite runs on, and how the lab reaches its tools."""

    #: The name a test's id carries: which broker it ran on.
    name: str
    url: str
    #: Environment under which the lab finds its rabbitmqctl and its log.
    tools: dict[str, str]
    #: How to start it when it does not answer.
    start: str


#: The project's RabbitMQ 4.0 in its chroot, and where that script keeps its log.
RABBITMQ4 = ROOT / "scripts" / "rabbitmq4"
RABBITMQ4_LOG = subprocess.run(
    [RABBITMQ4, "log"], capture_output=True, text=True, check=True
).stdout.strip()
BROKERS: Final = (
    Broker(
        "rabbitmq",
        os.environ.get("AMQP_URL", DEFAULT_BROKER_URL),
        {},
        "rabbitmq-server -detached (as root), or set AMQP_URL",
    ),
    Broker(
        "rabbitmq4",
        "amqp://guest:guest@127.0.0.1:5673/",
        {
            "RABBITMQCTL": f"{RABBITMQ4} ctl",
            "RABBITMQ_LOGS": RABBITMQ4_LOG,
        },
        "sudo scripts/rabbitmq4 start",
    ),
)


def answering(broker: Broker, request: pytest.FixtureRequest) -> str:
    """The broker's URL once it answers; skip (fail in CI) when it does not."""
    parsed = URL(broker.url)
    problem = probe(parsed.host or "127.0.0.1", parsed.port or 5672)
    if problem is not None:
        problem += f" (start it: {broker.start})"
        if os.environ.get("CI") or request.config.getoption("--require-broker"):
            pytest.fail(f"live-broker tests cannot run on {broker.name}: {problem}")
        pytest.skip(problem)
    return broker.url


@pytest.fixture(scope="session", params=BROKERS, ids=[b.name for b in BROKERS])
def broker_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of each live broker in turn: every live test runs on both.

    While a broker's tests run, the lab's environment names its tools, so an
    experiment's rabbitmqctl and log lines are that broker's.
    """
    broker: Broker = request.param
    url = answering(broker, request)
    saved = {name: os.environ.get(name) for name in broker.tools}
    os.environ.update(broker.tools)
    yield url
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def broker_major(broker_url: str) -> int:
    """The major version the broker under test names in its Connection.Start."""
    parsed = URL(broker_url)
    with socket.create_connection(
        (parsed.host or "127.0.0.1", parsed.port or 5672), timeout=5
    ) as sock:
        sock.settimeout(5)
        sock.sendall(b"AMQP\x00\x00\x09\x01")
        decoder = FrameDecoder(Direction.BROKER_TO_CLIENT)
        while not (decoded := decoder.feed(sock.recv(4096))):
            pass
    (start,) = [d for d in decoded if isinstance(d, Frame)][:1]
    version = str(table_of(start, "server_properties").get("version", "0"))
    return int(version.split(".")[0])


@pytest.fixture(scope="session")
def reference_url(request: pytest.FixtureRequest) -> str:
    """The machine's own broker, which tests compare another broker with."""
    return answering(BROKERS[0], request)


def rabbitmqctl(*args: str) -> str:
    """Run the broker's rabbitmqctl (the lab's: $RABBITMQCTL, else PATH's) quietly.

    Raises:
        RuntimeError: it failed.
    """
    command = ctl_command() or ["/usr/sbin/rabbitmqctl"]
    result = subprocess.run(
        [*command, "-q", *args], capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(
            f"rabbitmqctl {' '.join(args)} failed: {result.stderr.strip()}"
        )
    return result.stdout


@pytest.fixture(scope="session")
def ctl(broker_url: str) -> Callable[..., str]:
    """rabbitmqctl, when this machine has it (the broker is local)."""
    if ctl_command() is None and not os.path.exists("/usr/sbin/rabbitmqctl"):
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


@pytest.fixture(autouse=True)
def private_progress(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Progress goes to a fresh directory: tests never touch the learner's own."""
    monkeypatch.setenv("AMQP_EXPLORER_DATA", str(tmp_path_factory.mktemp("progress")))
