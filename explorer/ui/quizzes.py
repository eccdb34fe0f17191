"""Quizzes and predictions in the app: which to ask, against which frames.

Owns the app's side of the Quizmaster (quizzing.py, which asks and grades):
quizzing on a phase from this connection's frames, grading the pending
predictions against them (never a recording's, unless given frames), and
showing the results again in the lesson pane when they are about its lesson.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from explorer.course.questions import Grade, Question, questions_for
from explorer.protocol.frames import Frame
from explorer.protocol.lifecycle import Phase

if TYPE_CHECKING:
    from explorer.ui.app import ExplorerApp


class Quizzes:
    """Asks `app`'s quizzes and grades its predictions, through its Quizmaster."""

    def __init__(self, app: ExplorerApp) -> None:
        """Quiz on `app`'s connection."""
        self.app = app

    def quiz(self, phase: Phase) -> None:
        """Ask the quiz questions on `phase` whose answers the frames hold.

        They are the questions of the protocol the connection speaks.
        """
        every = questions_for(phase, "quiz", self.app.stepper.dialect.key)
        frames = self.app.pump.seen.frames
        ready = [q for q in every if q.answer(frames) is not None]
        if ready:
            self._run(ready)
        elif every:
            self.app.notify(
                f"The {phase.value} quiz is answered from its frames: "
                f"step through the {phase.value} phase first."
            )
        else:
            self.app.notify(f"No quiz on the {phase.value} phase.")

    def _run(self, questions: list[Question]) -> None:
        self.app.run_worker(self._ask(questions), group="quiz", exclusive=True)

    async def _ask(self, questions: list[Question]) -> None:
        app = self.app
        save = not app.stepper.recording
        graded = await app.quizmaster.quiz(questions, app.pump.seen.frames, save=save)
        self._refresh(graded)

    def grade_pending(
        self, frames: Sequence[Frame] | None = None, *, over: bool = True
    ) -> list[Grade]:
        """Grade the predictions whose answers the frames now hold; tell and save.

        Args:
            frames: The frames to grade against; by default this connection's
                (never a recording's).
            over: The run that made the frames has ended, so the broker's
                silence counts as an answer (a connection dropped without a
                Close). Stepping passes False.
        """
        app = self.app
        save = frames is not None or not app.stepper.recording
        if frames is None:
            if app.stepper.recording:
                return []
            frames = app.pump.seen.frames
        graded = app.quizmaster.grade(frames, over=over, save=save)
        self._refresh(graded)
        return graded

    def _refresh(self, graded: Sequence[Grade]) -> None:
        """Show new results in the lesson pane when they are about its lesson."""
        lessons = self.app.lessons
        shown = lessons.phase
        if shown is not None and any(g.question.phase is shown for g in graded):
            lessons.show_phase(shown)
