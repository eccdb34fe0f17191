"""The experiment picker: which of a lesson's experiments to run.

Owns ExperimentPicker, a small modal list: each experiment's name and what it
does, never what the broker should do (that would answer the prediction asked
before it runs). It dismisses with the chosen name, or None when the learner
presses escape.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option


class ExperimentPicker(ModalScreen[str | None]):
    """Choose one experiment; escape chooses none."""

    DEFAULT_CSS = """
    ExperimentPicker { align: center middle; }
    ExperimentPicker > Vertical {
        width: 80%; max-width: 100; height: auto; max-height: 80%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    ExperimentPicker OptionList { height: auto; max-height: 24; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, choices: Sequence[tuple[str, str]]) -> None:
        """Offer `choices`: (name, what it does)."""
        super().__init__()
        self.heading = title
        self.choices = list(choices)

    def compose(self) -> ComposeResult:
        """A heading, then one option per experiment."""
        with Vertical():
            yield Label(self.heading)
            options = []
            for name, title in self.choices:
                text = Text.assemble((name, "bold"), f"  {title}")
                options.append(Option(text, id=name))
            yield OptionList(*options)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """Run the chosen experiment."""
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        """Run nothing."""
        self.dismiss(None)
