"""Which rabbitmqctl the lab runs (explorer.lab.broker): $RABBITMQCTL, else PATH's."""

from __future__ import annotations

import shutil

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
