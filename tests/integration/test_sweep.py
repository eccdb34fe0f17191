"""Users left by a killed experiment are swept at every start, in the background.

A leftover is made by hand with the lab's naming scheme (the prefix, then the
id of a process that has exited); every user a test makes is deleted after it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from explorer.lab import broker
from tests.conftest import run_cli

#: Seconds the background sweep may take (rabbitmqctl starts an Erlang VM per call).
SWEEP_TIME = 30.0


def users(ctl: Callable[..., str]) -> set[str]:
    listed = ctl("list_users", "--no-table-headers")
    return {line.split("\t")[0] for line in listed.splitlines()}


def lab_user(pid: int) -> str:
    """A name as an experiment run by process `pid` would give its user."""
    return f"{broker.USER_PREFIX}{pid}-{secrets.token_hex(3)}"


def exited_pid() -> int:
    """The id of a process that has come and gone."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture(autouse=True)
def no_recent_sweep() -> None:
    """Starts sweep at most once a minute: forget the last sweep's time."""
    broker.sweep_stamp().unlink(missing_ok=True)


@pytest.fixture
def made_users(ctl: Callable[..., str]) -> Iterator[Callable[[str], str]]:
    """Creates users by name; whatever of them is left is deleted afterwards."""
    made: list[str] = []

    def make(name: str) -> str:
        ctl("add_user", name, secrets.token_urlsafe(12))
        made.append(name)
        return name

    yield make
    for name in made:
        with contextlib.suppress(RuntimeError):  # swept already
            ctl("delete_user", name)


def test_trace_sweeps_a_killed_experiments_user_and_spares_a_live_ones(
    broker_url: str, ctl: Callable[..., str], made_users: Callable[[str], str]
) -> None:
    leftover = made_users(lab_user(exited_pid()))
    running = made_users(lab_user(os.getpid()))  # this process is alive
    started = time.monotonic()
    result = run_cli("trace", broker_url)
    assert result.returncode == 0, result.stdout + result.stderr
    while leftover in users(ctl) and time.monotonic() - started < SWEEP_TIME:
        time.sleep(0.5)
    assert leftover not in users(ctl)
    assert running in users(ctl)


def test_a_rabbitmqctl_that_hangs_slows_no_start(
    broker_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sweep runs detached: the trace neither waits for it nor fails by it."""
    called = tmp_path / "called"
    fake = tmp_path / "rabbitmqctl"
    fake.write_text(
        f'#!/bin/sh\necho $$ > "{called}.new" && mv "{called}.new" "{called}"\n'
        "exec sleep 20\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("RABBITMQCTL", raising=False)
    if not broker.ctl_available():
        pytest.skip("rabbitmqctl is not available to this user: no sweep starts")
    env = dict(os.environ)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "explorer", "trace", broker_url],
        capture_output=True, text=True, timeout=60, check=False, env=env,
    )  # fmt: skip
    took = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert took < 15, "the trace waited for rabbitmqctl"
    deadline = time.monotonic() + SWEEP_TIME
    while not called.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert called.exists(), "the sweep ran the rabbitmqctl on PATH"
    with contextlib.suppress(ValueError, ProcessLookupError):
        os.kill(int(called.read_text()), 15)  # the fake this test started


def test_no_sweep_is_started_without_rabbitmqctl(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.delenv("RABBITMQCTL", raising=False)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a sweep was started")

    monkeypatch.setattr("subprocess.Popen", refuse)
    assert not broker.ctl_available()
    broker.sweep_in_background()


def test_starts_in_a_row_start_one_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[object] = []
    monkeypatch.setattr(broker, "ctl_available", lambda: True)
    monkeypatch.setattr("subprocess.Popen", lambda *a, **k: started.append(a))
    for _ in range(3):
        broker.sweep_in_background()
    assert len(started) == 1
