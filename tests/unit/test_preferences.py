"""Preferences survive a relaunch, and a bad file or disk never stops the app."""

from __future__ import annotations

from pathlib import Path

import pytest

from explorer.course.progress import data_dir
from explorer.ui.preferences import FILE, Preferences


def test_the_theme_round_trips_in_the_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AMQP_EXPLORER_DATA", str(tmp_path / "data"))
    preferences = Preferences.load()
    assert preferences == Preferences(theme=None, path=data_dir() / FILE)
    preferences.theme = "gruvbox"
    preferences.save()
    assert Preferences.load().theme == "gruvbox"
    assert [p.name for p in (tmp_path / "data").iterdir()] == [FILE]  # no temp left


def test_no_theme_round_trips(tmp_path: Path) -> None:
    Preferences(theme="nord", path=tmp_path / FILE).save()
    Preferences(theme=None, path=tmp_path / FILE).save()
    assert Preferences.load(tmp_path / FILE).theme is None


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"[1, 2]", b'{"theme": 42}', b"\xff\xfe", b"null", b""],
    ids=["broken", "a-list", "not-a-name", "not-utf8", "null", "empty"],
)
def test_a_bad_file_gives_the_defaults(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / FILE
    path.write_bytes(content)
    assert Preferences.load(path) == Preferences(theme=None, path=path)


def test_an_unreadable_file_gives_the_defaults(tmp_path: Path) -> None:
    (tmp_path / FILE).mkdir()  # a directory where the file should be
    assert Preferences.load(tmp_path / FILE).theme is None


def test_a_disk_that_refuses_the_write_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "blocked").write_text("a file, not a directory")
    path = tmp_path / "blocked" / FILE
    Preferences(theme="nord", path=path).save()
    assert Preferences.load(path).theme is None


def test_a_failed_write_keeps_the_old_preferences(tmp_path: Path) -> None:
    path = tmp_path / FILE
    Preferences(theme="nord", path=path).save()
    (tmp_path / f".{FILE}.tmp").mkdir()  # the temporary file cannot be written
    Preferences(theme="dracula", path=path).save()
    assert Preferences.load(path).theme == "nord"
