"""The question screen: the questions due at one moment, answered on one screen.

Owns QuestionScreen, a modal that shows one or more questions
(explorer.course.questions), each with its choices or a line to type in, and
dismisses once with what the learner answered (escape: nothing), and Choices,
the list a multiple-choice question is answered in. Grading is not done here:
the app grades against the frames once they exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, OptionList, Static

from explorer.course.questions import Question, letter


class Choices(OptionList):
    """A multiple-choice question's choices: one is chosen, marked with a dot."""

    def __init__(self, choices: Sequence[str], *, classes: str | None = None) -> None:
        """Offer `choices`, none chosen yet."""
        self.choices = tuple(choices)
        #: The index of the chosen choice; None until the learner chooses.
        self.chosen: int | None = None
        super().__init__(*map(self._prompt, range(len(choices))), classes=classes)

    def on_mount(self) -> None:
        """The first choice starts highlighted, so enter chooses it."""
        self.highlighted = 0

    def choose(self, index: int) -> None:
        """Choose the choice at `index` (the one chosen before is let go)."""
        before, self.chosen = self.chosen, index
        for changed in {index} if before is None else {before, index}:
            self.replace_option_prompt_at_index(changed, self._prompt(changed))
        self.highlighted = index

    @property
    def answer(self) -> str:
        """The chosen choice's text, or "" while none is chosen."""
        return "" if self.chosen is None else self.choices[self.chosen]

    def _prompt(self, index: int) -> str:
        mark = "●" if index == self.chosen else "○"
        return f"{mark} {letter(index)}) {self.choices[index]}"


class QuestionScreen(ModalScreen[dict[str, str]]):
    """Asks the questions due at one moment; the learner confirms once.

    Each question shows its prompt and its choices (enter, a letter or a click
    chooses) or a line to type in. Enter goes on to the next question and, on
    the last one, confirms; tab and the mouse move anywhere. Confirm dismisses
    with the answers given, by question name (a blank one is skipped); escape
    skips them all.
    """

    DEFAULT_CSS = """
    /* The heading and the buttons stay; the questions between them scroll. */
    QuestionScreen #question { max-height: 100%; }
    QuestionScreen #question-kind { dock: top; }
    QuestionScreen #question-foot { dock: bottom; height: auto; margin-top: 1; }
    QuestionScreen .question { height: auto; margin-top: 1; }
    /* One row per answer line, marked on the left; the focused one in accent. */
    QuestionScreen .answer {
        height: auto; border: none; border-left: tall $border-blurred;
        padding: 0 1; background: $boost;
    }
    QuestionScreen Input.answer { height: 1; }
    QuestionScreen .answer:focus { border: none; border-left: tall $accent; }
    QuestionScreen #question-buttons { height: 1; }
    QuestionScreen #question-buttons Button { margin-right: 1; }
    QuestionScreen #question-later { color: $text-muted; }
    """
    AUTO_FOCUS = ".answer"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "skip", "Skip all"),
        # Before the focused widget's own enter: an input would submit, a
        # list would choose, and neither would go on to the next question.
        Binding("enter", "next", "Next", show=False, priority=True),
    ]

    def __init__(self, questions: Sequence[Question]) -> None:
        """Ask `questions` (at least one), all asked at the same moment."""
        super().__init__()
        self.questions = tuple(questions)
        #: Where each question is answered, in the order of `questions`.
        self.answers: list[Input | Choices] = [
            Choices(q.choices, classes="answer")
            if q.choices
            else Input(placeholder="your answer", classes="answer")
            for q in self.questions
        ]

    def compose(self) -> ComposeResult:
        """When the questions are asked, each question, the buttons, a hint."""
        first = self.questions[0]
        many = len(self.questions) > 1
        if first.kind == "predict":
            when = (
                f"the {first.experiment} experiment"
                if first.experiment
                else f"the {first.asked_before.value} step"
            )
            kind = f"Predict, then see · before {when}"
            later = "graded when your broker answers"
        else:
            kind = f"Quiz · {first.phase.value}, from your own frames"
            later = "graded at once"
        hint = (
            "enter: next (the last sends) · blank: skipped · escape: skip all"
            if many
            else "enter sends · escape skips"
        )
        with VerticalScroll(id="question") as scroll:
            scroll.can_focus = False  # tab goes from answer to answer
            yield Static(kind, id="question-kind", markup=False)
            for number, (question, answer) in enumerate(
                zip(self.questions, self.answers, strict=True), 1
            ):
                prompt = f"{number}. {question.prompt}" if many else question.prompt
                with Vertical(classes="question"):
                    yield Static(prompt, classes="question-prompt", markup=False)
                    yield answer
            with Vertical(id="question-foot"):
                with Horizontal(id="question-buttons"):
                    yield Button(
                        "Confirm", id="confirm", variant="primary", compact=True
                    )
                    yield Button(
                        "Skip all" if many else "Skip", id="skip", compact=True
                    )
                    yield Static(later, id="question-later", markup=False)
                yield Static(hint, id="question-hint", markup=False)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """Bring the whole question into view, its prompt too, not only its answer."""
        parent = event.widget.parent
        if isinstance(parent, Widget) and parent.has_class("question"):
            parent.scroll_visible(animate=False)

    def on_key(self, event: events.Key) -> None:
        """In a list of choices, a choice's letter chooses it and goes on."""
        choices = self.focused
        if not isinstance(choices, Choices):
            return
        for index in range(len(choices.choices)):
            if event.character == letter(index):
                event.stop()
                choices.choose(index)
                self._go_on(choices)
                return

    @on(OptionList.OptionSelected)
    def _clicked(self, message: OptionList.OptionSelected) -> None:
        """A click on a choice chooses it (enter is handled by action_next)."""
        message.stop()
        if isinstance(message.option_list, Choices):
            message.option_list.choose(message.option_index)

    @on(Button.Pressed, "#confirm")
    def confirm(self) -> None:
        """Send every answer given; the blank ones are skipped."""
        given = {
            question.name: answer.value if isinstance(answer, Input) else answer.answer
            for question, answer in zip(self.questions, self.answers, strict=True)
        }
        self.dismiss({name: text for name, text in given.items() if text.strip()})

    @on(Button.Pressed, "#skip")
    def action_skip(self) -> None:
        """Leave every question unanswered."""
        self.dismiss({})

    def action_next(self) -> None:
        """Enter: choose the highlighted choice, then go on (or press a button)."""
        focused = self.focused
        if isinstance(focused, Button):
            focused.press()
            return
        if isinstance(focused, Choices) and focused.highlighted is not None:
            focused.choose(focused.highlighted)
        self._go_on(focused)

    def _go_on(self, answered: Widget | None) -> None:
        """To the question after `answered`; after the last one, confirm."""
        following: list[Input | Choices | None] = [*self.answers[1:], None]
        for answer, after in zip(self.answers, following, strict=True):
            if answer is answered:
                if after is None:
                    self.confirm()
                else:
                    after.focus()
                return
        self.answers[0].focus()  # nothing of ours focused: start again
