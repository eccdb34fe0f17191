"""The wheel carries what the app needs: the lessons and the bundled recording."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_holds_every_lesson_and_the_recording(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "-q", "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("amqp_explorer-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    manifest = tomllib.loads((ROOT / "lessons" / "course.toml").read_text())
    for lesson in manifest["lesson"]:
        assert f"explorer/_lessons/{lesson['file']}" in names
    assert "explorer/_lessons/course.toml" in names
    assert "explorer/recording/bundled/lifecycle.jsonl" in names
    assert "explorer/ui/explorer.tcss" in names
    assert not [
        n
        for n in names
        if n.startswith("explorer/_lessons/") and not n.endswith((".md", ".toml"))
    ]
