"""The learner's progress: lessons finished, try-it checks passed, answers given.

Owns where progress lives (the platform's data directory, or
$AMQP_EXPLORER_DATA), reading and writing it, and resetting it. A file that
cannot be read is treated as no progress rather than an error.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

APP: Final = "amqp-explorer"
FILE: Final = "progress.json"


def data_dir() -> Path:
    """The per-user data directory for this platform."""
    override = os.environ.get("AMQP_EXPLORER_DATA")
    if override:
        return Path(override)
    home = Path.home()
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA", home / "AppData" / "Roaming")) / APP
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / APP
    return Path(os.environ.get("XDG_DATA_HOME", home / ".local" / "share")) / APP


@dataclass(slots=True)
class Progress:
    """Lessons finished and checks passed, with when and what was seen."""

    #: Phase name -> when its lesson was finished (ISO 8601).
    finished: dict[str, str] = field(default_factory=dict)
    #: Check name -> what the learner's own frames showed when it passed.
    passed: dict[str, str] = field(default_factory=dict)
    path: Path | None = None
    #: Question name -> the learner's latest result, right or wrong (a
    #: questions.Grade summary). Files written before questions existed have none.
    answers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None = None) -> Progress:
        """The saved progress (empty when there is none or it is unreadable)."""
        where = path or data_dir() / FILE
        try:
            data = json.loads(where.read_text(encoding="utf-8"))
            finished = {str(k): str(v) for k, v in dict(data["finished"]).items()}
            passed = {str(k): str(v) for k, v in dict(data["passed"]).items()}
            answers = {str(k): str(v) for k, v in dict(data.get("answers", {})).items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return cls(path=where)
        return cls(finished, passed, where, answers)

    def finish(self, phase: str) -> bool:
        """Mark a lesson finished; True if it was not before."""
        if phase in self.finished:
            return False
        self.finished[phase] = _now()
        return True

    def pass_check(self, name: str, detail: str) -> bool:
        """Mark a check passed; True if it was not before."""
        if name in self.passed:
            return False
        self.passed[name] = detail
        return True

    def record_answer(self, name: str, result: str) -> None:
        """Keep the learner's latest result for the question called `name`."""
        self.answers[name] = result

    def save(self) -> None:
        """Write the progress (quietly giving up if the disk says no)."""
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            data = {
                "finished": self.finished,
                "passed": self.passed,
                "answers": self.answers,
            }
            self.path.write_text(json.dumps(data, indent=2), encoding="utf-8")
        except OSError:
            pass

    def reset(self) -> None:
        """Forget everything, on disk too."""
        self.finished.clear()
        self.passed.clear()
        self.answers.clear()
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
