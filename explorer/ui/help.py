"""The help screen: every key the explorer answers to, and what it does.

Owns HelpScreen, built from the app's own bindings so it never drifts from them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

EXTRA = [
    ("ctrl+p", "Command palette: jump to a phase, open a lesson, restart, recordings"),
    ("up/down, home/end", "Move in the frame list (mouse clicks work too)"),
    ("tab", "Move between panes"),
    ("click a byte", "Select the field that holds it"),
    ("click a field", "Highlight its bytes"),
    ("click a phase", "Show its lesson"),
]


class HelpScreen(ModalScreen[None]):
    """Lists every key; any key closes it."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 76; height: auto; max-height: 90%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close")
    ]

    def __init__(self, bindings: Iterable[BindingType]) -> None:
        """List `bindings` and the mouse and palette gestures."""
        super().__init__()
        rows = [
            (b.key.replace(",", ", "), b.description)
            for b in bindings
            if isinstance(b, Binding)
        ]
        table = "\n".join(f"| `{key}` | {what} |" for key, what in [*rows, *EXTRA])
        self.text = (
            "# Keys\n\n| key | what it does |\n|---|---|\n"
            f"{table}\n\nPress escape to close."
        )

    def compose(self) -> ComposeResult:
        """The table of keys."""
        with VerticalScroll():
            yield Markdown(self.text)

    def on_key(self) -> None:
        """Any key closes the help."""
        self.dismiss()
