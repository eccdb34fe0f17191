"""Predict, then see, and quizzes on screen: asking, grading, telling, keeping.

Owns the Quizmaster. It asks the questions of explorer.course.questions in a modal
screen (the predictions due at one moment together, on one screen), grades
what the learner said against frames, tells the learner each grade, keeps it
with the learner's progress, and lists a lesson's questions with their
results. The app decides when to ask; the Quizmaster does the rest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from textual.app import App

from explorer.course.lessons import Lesson
from explorer.course.progress import Progress
from explorer.course.questions import (
    QUESTIONS,
    Grade,
    Question,
    grade,
    predictions_before,
    predictions_for,
    questions_for,
    was_right,
)
from explorer.protocol.frames import Frame
from explorer.protocol.lifecycle import Phase
from explorer.ui.question import QuestionScreen


class Quizmaster:
    """Asks, grades and remembers the learner's predictions and quiz answers."""

    def __init__(self, app: App[int], progress: Progress, *, predict: bool) -> None:
        """Ask on `app`'s screen; keep results in `progress`.

        Args:
            app: Where questions are shown and grades told.
            progress: Where results are saved.
            predict: Ask predictions before steps and experiments.
        """
        self.app = app
        self.progress = progress
        self.predict = predict
        #: Predictions waiting for the broker's answer: question name -> given.
        self.predicted: dict[str, str] = {}
        #: Predictions skipped (escape) in this session: not asked again.
        self.skipped: set[str] = set()
        #: Results graded in this session, a recording's (never saved) too.
        self.results: dict[str, str] = {}

    async def before_step(
        self, phase: Phase, frames: Sequence[Frame], protocol: str
    ) -> None:
        """Ask the predictions due before `phase`, unless the frames answer them.

        Args:
            phase: The step about to run.
            frames: The connection's frames so far.
            protocol: The protocol the connection speaks ("0-9-1" or "1.0"):
                only its frames can answer.
        """
        if self.predict:
            due = predictions_before(phase, protocol)  # and not on screen already:
            await self._predict([q for q in due if q.answer(frames) is None])

    async def before_experiment(self, name: str) -> None:
        """Ask the predictions tied to the experiment called `name`."""
        if self.predict:
            await self._predict(predictions_for(name))

    async def _predict(self, questions: Sequence[Question]) -> None:
        """Ask, on one screen, those not waiting, skipped or already right."""
        due = [
            q
            for q in questions
            if q.name not in self.predicted
            and q.name not in self.skipped
            and not was_right(self.progress.answers.get(q.name, ""))
        ]
        if not due:
            return
        given = await self.ask(due)
        for question in due:
            if question.name in given:
                self.predicted[question.name] = given[question.name]
            else:
                self.skipped.add(question.name)

    def grade(self, frames: Sequence[Frame], *, over: bool, save: bool) -> list[Grade]:
        """Grade the predictions whose answers `frames` hold; tell and keep them.

        `over` says the run that made the frames has ended, so the broker's
        silence counts as an answer (a connection dropped without a Close).
        """
        graded = []
        for name, given in list(self.predicted.items()):
            result = grade(QUESTIONS[name], given, frames, over=over)
            if result is not None:
                del self.predicted[name]
                graded.append(result)
        self.tell(graded, save=save)
        return graded

    async def quiz(
        self, questions: Sequence[Question], frames: Sequence[Frame], *, save: bool
    ) -> list[Grade]:
        """Ask each question in turn, grading each answer at once."""
        graded = []
        for question in questions:
            given = (await self.ask([question])).get(question.name)
            result = None if given is None else grade(question, given, frames)
            if result is not None:
                self.tell([result], save=save)
                graded.append(result)
        return graded

    async def ask(self, questions: Sequence[Question]) -> dict[str, str]:
        """Show `questions` on one screen; the answers given, by question name.

        A question skipped (left blank, or all of them with escape) has none.
        Await it from a worker or a task, not a message handler: the question
        screen needs the app's message loop.
        """
        answered: asyncio.Future[dict[str, str]] = (
            asyncio.get_running_loop().create_future()
        )

        def done(given: dict[str, str] | None) -> None:
            if not answered.done():
                answered.set_result(given or {})

        screen = QuestionScreen(questions)
        self.app.push_screen(screen, done)
        try:
            return await answered
        except asyncio.CancelledError:  # a restart, say: take the questions away
            if screen.is_active:  # (not when the app is shutting down)
                self.app.pop_screen()
            raise

    def tell(self, grades: Sequence[Grade], *, save: bool) -> None:
        """Tell the learner each grade; keep it unless it came from a recording."""
        for result in grades:
            kind = "Predict, then see" if result.question.kind == "predict" else "Quiz"
            self.app.notify(
                result.summary,
                title=kind if save else f"{kind} (a recording: not saved)",
                severity="information" if result.right else "warning",
                timeout=15,
                markup=False,
            )
            self.results[result.question.name] = result.summary
            if save:
                self.progress.record_answer(result.question.name, result.summary)
        if grades and save:
            self.progress.save()

    def text(self, lesson: Lesson) -> str:
        """The lesson's questions and the learner's results, as Markdown.

        Without predictions the list appears once one of them has a result.
        """
        asked = (
            questions_for(lesson.phase, protocol=lesson.protocol)
            if lesson.phase is not None
            else []
        )
        results = {
            q.name: self.results.get(q.name) or self.progress.answers.get(q.name)
            for q in asked
        }
        if not asked or not (self.predict or any(results.values())):
            return ""
        lines = ["", "---", "", "**Predict, then see; quiz (press a)**", ""]
        for question in asked:
            result = results[question.name]
            if question.name in self.predicted:
                given = self.predicted[question.name]
                result = f"you predicted {given}; waiting for the broker's answer"
            lines.append(f"- {question.prompt} {escaped(result or 'not answered yet')}")
        return "\n".join(lines) + "\n"


def escaped(text: str) -> str:
    """`text` with Markdown's special characters shown as themselves."""
    return "".join(f"\\{c}" if c in "\\`*_[]<>#|" else c for c in text)
