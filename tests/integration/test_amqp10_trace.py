"""`trace`, `record` and `replay` with --protocol 1.0, live on RabbitMQ 4.0.5.

A throwaway user's whole lifecycle, traced as JSON: every performative named
in order each way, the password in no line (neither as text, nor hex, nor
base64); recorded, then replayed: the same frames in the same phases as the
recorded live run; and RabbitMQ 3.10.8 (no AMQP 1.0 plugin) refusing the 1.0
header. Run through the command line in a subprocess, as a learner runs it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from explorer.protocol.frames import Direction, Frame
from explorer.protocol.queries import broker_named
from explorer.recording.capture import load
from tests.conftest import BROKERS, User, answering, run_cli
from tests.integration.test_amqp10_bytes import (
    BROKER4,
    BROKER_FRAMES,
    CLIENT_FRAMES,
    throwaway_user,
)

pytestmark = pytest.mark.broker


@pytest.fixture
def user4(request: pytest.FixtureRequest) -> Iterator[User]:
    """A throwaway user on RabbitMQ 4.0.5, deleted after the test."""
    answering(BROKER4, request)
    yield from throwaway_user()


URL4 = "amqp://{user}:{password}@127.0.0.1:5673/"


def url_of(user: User) -> str:
    return URL4.format(user=user.name, password=user.password)


def forms(secret: str) -> list[str]:
    """A password as text, as hex (either case) and as base64."""
    data = secret.encode()
    return [secret, data.hex(), data.hex().upper(), base64.b64encode(data).decode()]


def records(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def frames_each_way(found: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The frames of each sender in order, the empty ones (heartbeats) left out."""
    return {
        way: [
            r["name"]
            for r in found
            if r["event"] == "frame" and r["dir"] == way and r["name"] != "heartbeat"
        ]
        for way in ("c2b", "b2c")
    }


def steps(found: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Every event as a replay must tell it: a frame by its sender, stream
    offset, phase, note and violation; a report or wait whole (trace prints no
    phase starts, nor the end, and its failures last: see `failures`)."""
    keys = ("event", "phase", "dir", "offset", "note", "violation", "facts")
    return [
        tuple(r.get(k) for k in keys)
        for r in found
        if r["event"] not in ("started", "ended", "failed")
    ]


def failures(found: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The failures told: each one's phase and message."""
    return [(r["phase"], r["message"]) for r in found if r["event"] == "failed"]


def test_trace_json_names_every_performative_and_hides_the_password(
    user4: User,
) -> None:
    done = run_cli("trace", "--protocol", "1.0", "--json", url_of(user4))
    assert done.returncode == 0, done.stdout + done.stderr
    for form in forms(user4.password):
        assert form not in done.stdout
        assert form not in done.stderr
    found = records(done.stdout)
    assert frames_each_way(found) == {"c2b": CLIENT_FRAMES, "b2c": BROKER_FRAMES}
    phases = [r["phase"] for r in found if r["event"] == "frame"]
    assert sorted(set(phases), key=phases.index) == [
        "header", "auth", "open", "channel", "operations", "heartbeat", "close",
    ]  # fmt: skip
    (init,) = [r for r in found if r.get("name") == "sasl-init"]
    assert init["fields"]["mechanism"] == "PLAIN"
    assert init["fields"]["initial-response"].startswith(f"\0{user4.name}\0*")
    (opened,) = [r for r in found if r["event"] == "report" and r["phase"] == "open"]
    broker_open = next(
        r for r in found if r.get("name") == "open" and r["dir"] == "b2c"
    )
    for name in ("max-frame-size", "channel-max", "idle-time-out"):
        assert opened["facts"][name]["broker"] == broker_open["fields"][name]
    assert not [r for r in found if r["event"] == "failed"]


def test_record_then_replay_steps_like_the_live_run(
    user4: User, tmp_path: Path
) -> None:
    capture = tmp_path / "amqp10.jsonl"
    done = run_cli("record", "--protocol", "1.0", "-o", str(capture), url_of(user4))
    assert done.returncode == 0, done.stdout + done.stderr
    written = capture.read_text()
    for form in forms(user4.password):
        assert form not in written
    lines = records(written)
    assert lines[0]["client"].startswith("python-qpid-proton ")
    assert lines[0]["broker"] == broker_named(  # the broker's open names it
        f for d in Direction for f in load(capture).decode(d) if isinstance(f, Frame)
    )
    assert lines[0]["broker"].startswith("RabbitMQ ")
    # The URL Proton was handed, as the endpoint report says: no aiormq options.
    assert lines[0]["url"].endswith("/%2F?heartbeat=2")
    assert ":***@" in lines[0]["url"]
    live = [r for r in lines[1:] if "event" in r]
    replayed = run_cli("replay", str(capture), "--print", "--json")
    assert replayed.returncode == 0, replayed.stderr
    for form in forms(user4.password):
        assert form not in replayed.stdout
    again = records(replayed.stdout)
    assert steps(again) == steps(live)
    assert frames_each_way(again) == {"c2b": CLIENT_FRAMES, "b2c": BROKER_FRAMES}


def test_rabbitmq_3_without_its_plugin_refuses_the_1_0_header(
    request: pytest.FixtureRequest,
) -> None:
    answering(BROKERS[0], request)
    done = run_cli("trace", "--protocol", "1.0", "amqp://guest:guest@127.0.0.1:5672/")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "✗ header:" in done.stdout
    assert "rabbitmq_amqp1_0 plugin" in done.stdout


@pytest.mark.parametrize(
    ("scenario", "phase"),
    [
        ("amqp10-wrong-password", "auth"),
        ("amqp10-unknown-vhost", "open"),
        ("amqp10-missing-queue", "operations"),
    ],
)
def test_a_recorded_1_0_failure_replays_as_it_ran(
    scenario: str, phase: str, user4: User, tmp_path: Path
) -> None:
    capture = tmp_path / f"{scenario}.jsonl"
    done = run_cli("record", "--scenario", scenario, "-o", str(capture), url_of(user4))
    assert done.returncode == 0, done.stdout + done.stderr
    written = capture.read_text()
    for form in forms(user4.password):
        assert form not in written
    live = [r for r in records(written)[1:] if "event" in r]
    replayed = run_cli("replay", str(capture), "--print", "--json")
    assert replayed.returncode == 1, replayed.stderr
    again = records(replayed.stdout)
    assert steps(again) == steps(live)
    assert failures(again) == failures(live)
    assert [where for where, _ in failures(again)] == [phase]
