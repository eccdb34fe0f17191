"""The learner's preferences, kept between launches: for now, the theme.

Owns the preferences file in the data directory (explorer.progress.data_dir),
reading it and writing it, and keeping an app's theme in it. A file that is
missing, unreadable or corrupt gives the defaults rather than an error; a disk
that refuses the write is ignored.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from textual.app import App
from textual.theme import Theme

from explorer.course.progress import data_dir

FILE: Final = "preferences.json"


@dataclass(slots=True)
class Preferences:
    """What the learner chose, to be chosen again at the next launch."""

    #: The Textual theme's name; None: the app's default theme.
    theme: str | None = None
    #: Where the preferences are kept (None: nowhere, save does nothing).
    path: Path | None = None

    @classmethod
    def load(cls, path: Path | None = None) -> Preferences:
        """The saved preferences (the defaults when there are none or they are bad).

        Args:
            path: the file to read; by default preferences.json in the data
                directory.
        """
        where = path or data_dir() / FILE
        try:
            data = json.loads(where.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # UnicodeDecodeError is a ValueError
            return cls(path=where)
        theme = data.get("theme") if isinstance(data, dict) else None
        return cls(theme if isinstance(theme, str) else None, where)

    def save(self) -> None:
        """Write the preferences, quietly giving up if the disk says no.

        The file is written beside its place and then moved there, so a crash
        mid-write leaves the old preferences rather than half a file.
        """
        if self.path is None:
            return
        partial = self.path.with_name(f".{self.path.name}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial.write_text(json.dumps({"theme": self.theme}), encoding="utf-8")
            os.replace(partial, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)


def keep_theme(app: App[Any]) -> None:
    """Start `app` with the theme chosen last time, and remember the next choice."""
    preferences = Preferences.load()
    if preferences.theme in app.available_themes:
        app.theme = preferences.theme

    def chosen(theme: Theme) -> None:
        preferences.theme = theme.name
        preferences.save()

    app.theme_changed_signal.subscribe(app, chosen)
