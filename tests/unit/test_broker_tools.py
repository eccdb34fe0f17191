"""Which rabbitmqctl the lab runs (explorer.lab.broker): $RABBITMQCTL, else PATH's."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import pytest

from explorer.lab.broker import LabError, ctl_available, ctl_command, rabbitmqctl


def test_a_configured_command_is_split_as_a_shell_would(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RABBITMQCTL", "'/opt/my broker/rabbitmq4' ctl")
    assert ctl_command() == ["/opt/my broker/rabbitmq4", "ctl"]
    assert ctl_available()


def test_without_one_the_command_on_path_is_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RABBITMQCTL", "  ")
    found = shutil.which("rabbitmqctl")
    assert ctl_command() == (None if found is None else [found])


def test_no_rabbitmqctl_anywhere_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RABBITMQCTL", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    assert ctl_command() is None
    assert not ctl_available()


def test_a_configured_command_that_is_not_one_is_a_clear_lab_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RABBITMQCTL", "'unbalanced")
    with pytest.raises(LabError, match=r"\$RABBITMQCTL is not a command line"):
        ctl_command()


async def test_a_configured_program_that_is_not_there_is_a_clear_lab_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RABBITMQCTL", "/nonexistent/rabbitmqctl")
    with pytest.raises(LabError, match=r"could not be started \(/nonexistent/"):
        await rabbitmqctl("list_users")


async def test_a_cancelled_rabbitmqctl_goes_with_its_child_in_a_session_of_its_own(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A stand-in that starts a child in a session of its own and waits for it,
    # as Debian's rabbitmqctl starts its Erlang VM through su.
    pid_file = tmp_path / "pid"
    stand_in = tmp_path / "rabbitmqctl"
    stand_in.write_text(f"#!/bin/sh\nsetsid sleep 30 &\necho $! > {pid_file}\nwait\n")
    stand_in.chmod(0o755)
    monkeypatch.setenv("RABBITMQCTL", str(stand_in))
    task = asyncio.ensure_future(rabbitmqctl("list_users"))
    pid = await asyncio.to_thread(_written_pid, pid_file)
    task.cancel()
    async with asyncio.timeout(5):  # not the child's 30 s: it holds the pipes
        with pytest.raises(asyncio.CancelledError):
            await task
    assert not _running(pid), "rabbitmqctl's child was left running"


def _written_pid(pid_file: Path) -> int:
    for _ in range(200):  # the shell may not have written it yet
        if pid_file.exists() and pid_file.read_text().strip():
            return int(pid_file.read_text())
        time.sleep(0.01)
    raise AssertionError("the stand-in never started its child")


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return state != "Z"
