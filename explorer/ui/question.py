"""The question screen: one predict-then-see question or quiz question at a time.

Owns QuestionScreen, a modal that shows a question (explorer.questions) and
dismisses with what the learner answered, or None when they skip it. Grading is
not done here: the app grades against the frames once they exist.
"""

from __future__ import annotations

from typing import ClassVar

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from explorer.questions import Question, letter


class QuestionScreen(ModalScreen[str | None]):
    """Asks one question: enter answers, escape skips."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "skip", "Skip")]

    def __init__(self, question: Question) -> None:
        """Ask `question`: choices as a list, otherwise a line to type in."""
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        """The kind of question, the prompt, the choices or an input, a hint."""
        question = self.question
        if question.kind == "predict":
            when = (
                f"the {question.experiment} experiment"
                if question.experiment
                else f"the {question.asked_before.value} step"
            )
            kind = f"Predict, then see · before {when}"
            hint = "enter answers · escape skips · graded when your broker answers"
        else:
            kind = f"Quiz · {question.phase.value}, from your own frames"
            hint = "enter answers · escape skips"
        with Vertical(id="question"):
            yield Static(kind, id="question-kind", markup=False)
            yield Static(question.prompt, id="question-prompt", markup=False)
            if question.choices:
                yield OptionList(
                    *(
                        Option(f"{letter(i)}) {choice}")
                        for i, choice in enumerate(question.choices)
                    ),
                    id="question-choices",
                    markup=False,
                )
            else:
                yield Input(placeholder="your answer", id="question-answer")
            yield Static(hint, id="question-hint", markup=False)

    def on_mount(self) -> None:
        """The first choice starts highlighted, so enter picks it."""
        for choices in self.query(OptionList):
            choices.highlighted = 0

    def on_key(self, event: events.Key) -> None:
        """A choice's letter picks it."""
        choices = self.question.choices
        for index, choice in enumerate(choices):
            if event.character == letter(index):
                event.stop()
                self.dismiss(choice)
                return

    @on(Input.Submitted)
    def _typed(self, message: Input.Submitted) -> None:
        message.stop()
        self.dismiss(message.value)

    @on(OptionList.OptionSelected)
    def _chosen(self, message: OptionList.OptionSelected) -> None:
        message.stop()
        self.dismiss(self.question.choices[message.option_index])

    def action_skip(self) -> None:
        """Leave the question unanswered."""
        self.dismiss(None)
