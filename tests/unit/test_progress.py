"""Progress is kept per user, survives a broken file, and can be reset."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from explorer.course.progress import FILE, Progress, data_dir


def test_progress_round_trips_and_resets(tmp_path: Path) -> None:
    path = tmp_path / "deep" / FILE
    progress = Progress.load(path)
    assert progress.finish("tune")
    assert not progress.finish("tune")
    assert progress.pass_check("heartbeat-changed", "TuneOk carried 5 s")
    progress.save()
    again = Progress.load(path)
    assert again.passed == {"heartbeat-changed": "TuneOk carried 5 s"}
    assert list(again.finished) == ["tune"]
    again.reset()
    assert not path.exists()
    assert Progress.load(path).passed == {}


def test_a_broken_file_is_no_progress(tmp_path: Path) -> None:
    path = tmp_path / FILE
    path.write_text("{not json")
    assert Progress.load(path).passed == {}


def test_cli_resets_the_progress_in_the_data_directory() -> None:
    progress = Progress.load()
    assert progress.path is not None
    assert progress.path.parent == data_dir()  # the test's private directory
    progress.pass_check("connection-named", "x")
    progress.save()
    result = subprocess.run(
        [sys.executable, "-m", "explorer", "--reset-progress"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "progress reset" in result.stdout
    assert Progress.load().passed == {}


def test_answers_round_trip_and_old_files_still_load(tmp_path: Path) -> None:
    path = tmp_path / FILE
    path.write_text('{"finished": {"tune": "2026-01-01"}, "passed": {}}')
    old = Progress.load(path)  # written before questions existed
    assert old.finished == {"tune": "2026-01-01"}
    assert old.answers == {}
    old.record_answer("tune-frame-max", "✗ you predicted 8192")
    old.record_answer("tune-frame-max", "✓ you predicted 131072")
    old.save()
    again = Progress.load(path)
    assert again.answers == {"tune-frame-max": "✓ you predicted 131072"}
    assert again.finished == {"tune": "2026-01-01"}
    again.reset()
    assert Progress.load(path).answers == {}
