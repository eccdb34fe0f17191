"""Which rabbitmqctl the lab runs (explorer.lab.broker): $RABBITMQCTL, else PATH's."""

from __future__ import annotations

import shutil

import pytest

from explorer.lab.broker import ctl_available, ctl_command


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
