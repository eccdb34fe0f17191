"""Stepping the connection on screen: one step at a time, never cut short.

Owns running the app's stepper: one step (space), every step up to a phase
(the palette's jump), every step to the end (g), each step asking first the
predictions due before it, then applying what it showed and judging the
try-it checks and predictions against it.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from explorer.course.checks import CHECKS, judge
from explorer.protocol.frames import Frame
from explorer.protocol.lifecycle import ORDER, Phase

if TYPE_CHECKING:
    from explorer.ui.app import ExplorerApp


class Steps:
    """Runs `app`'s steps in workers of the group "step", one run at a time."""

    def __init__(self, app: ExplorerApp) -> None:
        """Nothing under way."""
        self.app = app
        #: Whether a step, or a run of them, is under way.
        self.busy = False

    def step(self) -> None:
        """Run the next step of the lifecycle."""
        if self.app.stepper.finished:
            self.app.notify(
                "This connection is over: connect your application again, or ] "
                "shows another one."
                if self.app.stepper.watched
                else "The lifecycle is over: ctrl+r starts a new connection."
            )
            return
        if not self.busy:  # a second press never cuts a step short
            self._run(self._one_step())

    def to(self, phase: Phase) -> None:
        """Step the connection until `phase` has run, then show its first frame."""
        if not self.busy:
            self._run(self._to(phase))

    def to_the_end(self) -> None:
        """Run every remaining step, one after another."""
        if not self.app.stepper.finished and not self.busy:
            self._run(self._to_the_end())

    def cancel(self) -> None:
        """Stop what is under way (its connection is going)."""
        self.app.workers.cancel_group(self.app, "step")

    def _run(self, steps: Coroutine[Any, Any, None]) -> None:
        self.busy = True

        async def run() -> None:
            try:
                await steps
            finally:
                self.busy = False

        self.app.run_worker(run(), group="step")

    async def _to(self, phase: Phase) -> None:
        while self._due_before(phase):
            await self._one_step()
        if self.app.stepper.next_phase is phase:
            await self._one_step()
        self._jump(phase)

    async def _to_the_end(self) -> None:
        while not self.app.stepper.finished:
            await self._one_step()

    async def _one_step(self) -> None:
        """Ask what is due, run the next step, then judge and grade what it showed."""
        app = self.app
        phase = app.stepper.next_phase
        if not app.stepper.recording and phase is not None:
            await app.quizmaster.before_step(
                phase, app.pump.seen.frames, app.stepper.dialect.key
            )
        await app.stepper.step()
        app.pump.drain()
        self._judge()
        app.quizzes.grade_pending(over=False)

    def _due_before(self, phase: Phase) -> bool:
        """Whether the next step is of a phase that comes before `phase`."""
        due = self.app.stepper.next_phase
        return due is not None and ORDER.index(due) < ORDER.index(phase)

    def _jump(self, phase: Phase) -> None:
        """Select the first frame of `phase`, or show its lesson when none came."""
        app = self.app
        frames = app.panes.frame_list
        for index, item in enumerate(frames.items):
            if isinstance(item, Frame) and app.pump.phase_of(item) is phase:
                frames.select(index)
                return
        app.lessons.show_phase(phase)
        app.notify(f"No frame of the {phase.value} phase yet: showing its lesson.")

    def _judge(self) -> None:
        """Judge every try-it check on this live connection; tell what passed.

        Not on a recording (not the learner's own broker) nor on a watched
        connection: a try-it task is done with the explorer's own connection,
        and an application's connection shows what the application chose.
        """
        app = self.app
        if app.stepper.recording or app.stepper.watched:
            return
        passed = []
        for lesson in app.lessons.course.everything:
            for name in lesson.checks:
                verdict = judge(name, app.pump.seen)
                if verdict.passed and app.progress.pass_check(name, verdict.detail):
                    passed.append(f"{CHECKS[name].task}: {verdict.detail}")
        for line in passed:
            app.notify(line, title="✓ Try it passed", timeout=10)
        if passed:
            app.progress.save()
