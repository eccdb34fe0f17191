"""The lesson pane: which lesson is shown, filled from the frames, and showing it.

Owns the course (read when first needed: after the first paint), the lesson
on screen (a phase's, for the protocol the stepper's connection speaks) and
the one an experiment keeps there (pinned), each filled from the frames with
the learner's try-it checks and answers, and the updates of the Markdown
pane: one after another, never cut short, a burst of them costing one redraw.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Final

from textual.css.query import NoMatches
from textual.worker import Worker, WorkerCancelled

from explorer.course.checks import CHECKS
from explorer.course.lessons import (
    Course,
    CourseError,
    Lesson,
    experiment_title,
    load_course,
    render,
)
from explorer.protocol.frames import C2B
from explorer.protocol.lifecycle import Phase
from explorer.protocol.queries import client_product, first_named

if TYPE_CHECKING:
    from explorer.ui.app import ExplorerApp

#: The explorer's own client for each protocol: the one its lessons describe.
WRITTEN_WITH: Final = {"0-9-1": "aiormq", "1.0": "Qpid Proton"}


class LessonPane:
    """What `app`'s lesson pane shows, and bringing the pane up to date."""

    def __init__(self, app: ExplorerApp, course: Course | None = None) -> None:
        """Nothing shown yet; `course` is read when first needed if None."""
        self.app = app
        self._course = course
        #: The lesson on screen, and the one an experiment keeps there.
        self.lesson: Lesson | None = None
        self._pinned: Lesson | None = None
        self._pinned_anchor: str | None = None
        #: The lesson text that should be on screen, and the text that is.
        self._wanted = ""
        self._shown = ""
        self._anchor: str | None = None
        self._lock = asyncio.Lock()
        self._updates: list[Worker[None]] = []

    @property
    def course(self) -> Course:
        """The lessons, read when first needed: after the first paint."""
        if self._course is None:
            self._course = _load_course()
        return self._course

    @property
    def phase(self) -> Phase | None:
        """The phase whose lesson is on screen (None for a topic lesson)."""
        return self.lesson.phase if self.lesson is not None else None

    @property
    def pinned(self) -> bool:
        """Whether an experiment keeps its lesson on screen."""
        return self._pinned is not None

    def pin(self, name: str) -> None:
        """Keep the lesson that teaches experiment `name` on screen, at its section."""
        self._pinned = self.course.teaching(name)
        self._pinned_anchor = experiment_title(name)
        if self._pinned is not None:
            self.show(self._pinned, self._pinned_anchor)

    def unpin(self) -> None:
        """No experiment keeps its lesson on screen any more."""
        self._pinned = None

    def show_phase(
        self, phase: Phase, frame_name: str | None = None, *, auto: bool = False
    ) -> None:
        """Show the lesson for `phase`, scrolled to the section about a frame.

        `auto` is set when the lifecycle moves on by itself: while an
        experiment runs, its own lesson then stays on screen.
        """
        pinned = self._pinned
        if auto and pinned is not None:
            if frame_name is None and self._text_of(pinned) != self._wanted:
                self.show(pinned, self._pinned_anchor)  # values came in
            return
        try:
            lesson = self.course.lesson_for(phase, self.app.stepper.dialect.key)
        except CourseError:
            return
        anchor = lesson.anchor_for(frame_name) if frame_name else None
        self.show(lesson, anchor, again=frame_name is None)

    def show(
        self, lesson: Lesson, anchor: str | None = None, *, again: bool = True
    ) -> None:
        """Show `lesson` (filled from the frames unless shown already and not
        `again`), scrolled to the section headed `anchor`."""
        if lesson is not self.lesson or again:
            self.lesson = lesson
            self._wanted = self._text_of(lesson)
        self._anchor = anchor
        if self._wanted != self._shown or self._anchor:
            self._schedule()

    def _schedule(self) -> None:
        """Run an update after those asked for before it."""
        worker = self.app.run_worker(self._update(), group="lesson")
        self._updates = [u for u in self._updates if not u.is_finished]
        self._updates.append(worker)

    def refill(self) -> None:
        """Fill the lesson on screen again from the frames shown so far.

        A lesson is filled when it is shown; frames of its phase that come in
        afterwards (a watched client's Close after the step that revealed its
        phase, say) bring the values it names. Where it is scrolled stays.
        """
        if self.lesson is None:
            return
        self._wanted = self._text_of(self.lesson)
        if self._wanted != self._shown:
            self._schedule()

    async def settled(self) -> None:
        """Return once every update asked for so far is done (or cancelled)."""
        while busy := [u for u in self._updates if not u.is_finished]:
            with contextlib.suppress(WorkerCancelled):
                await busy[0].wait()

    @contextlib.asynccontextmanager
    async def between_updates(self) -> AsyncIterator[None]:
        """Hold the updates off: within, none is half done."""
        async with self._lock:
            yield

    def _text_of(self, lesson: Lesson) -> str:
        """The lesson filled from the frames, with the learner's checks and answers."""
        title, _, body = render(lesson.text, self.app.pump.seen.frames).partition("\n")
        return (
            f"{title}\n{self._whose(lesson)}{body}"
            + self._checks_text(lesson)
            + self.app.quizmaster.text(lesson)
        )

    def _whose(self, lesson: Lesson) -> str:
        """Under a phase lesson's title, when another client made the connection:
        the lesson speaks of the explorer's own client (aiormq for 0-9-1,
        Proton for 1.0)."""
        start_ok = first_named(self.app.pump.seen.frames, C2B, "Connection.StartOk")
        client = client_product(start_ok) if start_ok is not None else ""
        ours = WRITTEN_WITH[lesson.protocol]
        others = bool(client) and not client.startswith(ours)
        others = others or self.app.stepper.watched
        if lesson.phase is None or not others:
            return ""
        who = client or "your application's client"
        return (
            f"\n> This connection is {who}'s, not the explorer's. The lesson was "
            f"written with {ours}, the explorer's own client: where it says what "
            f"{ours} does, {who}'s frames show what it did. What the broker does "
            "is RabbitMQ's, whichever client connects.\n"
        )

    def _checks_text(self, lesson: Lesson) -> str:
        """The lesson's try-it checks and whether the learner has passed them."""
        if not lesson.checks:
            return ""
        lines = ["", "---", "", "**Your try-it checks**", ""]
        for name in lesson.checks:
            detail = self.app.progress.passed.get(name)
            mark = f"✓ {detail}" if detail else "not yet"
            lines.append(f"- {CHECKS[name].task}: {mark}")
        return "\n".join(lines) + "\n"

    async def _update(self) -> None:
        """Bring the lesson pane up to date, then scroll to the wanted section.

        Updates run one after another, never cut short: a Markdown update
        cancelled half way leaves blocks behind that break the app's shutdown.
        Each one shows what is wanted when its turn comes, so a burst of calls
        costs one redraw.
        """
        async with self._lock:
            wanted, anchor = self._wanted, self._anchor
            markdown = self.app.panes.lesson
            if wanted != self._shown:
                await markdown.update(wanted)
                self._shown = wanted
            if anchor:
                with contextlib.suppress(NoMatches):  # the document changed since
                    markdown.goto_anchor(_slug(anchor))


def _load_course() -> Course:
    try:
        return load_course()
    except CourseError:
        return Course("", ())


def _slug(heading: str) -> str:
    """The anchor Markdown gives a heading (GitHub-style)."""
    from textual._slug import TrackedSlugs

    return TrackedSlugs().slug(heading)
