"""The explorer app: a live connection (or a recording), stepped on screen.

Owns ExplorerApp: it builds the screen, drives one Stepper (the live Engine or
a ReplayEngine) one step per key press, and turns the stepper's events into
widget updates. Events are queued as they come and applied in batches, so a
flood of frames never floods the message queue. Nothing here speaks AMQP.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import ClassVar, Final

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.theme import Theme
from textual.widgets import Footer, Markdown

from explorer.course.checks import CHECKS, Seen, judge
from explorer.course.lessons import (
    Course,
    CourseError,
    Lesson,
    experiment_title,
    load_course,
    render,
)
from explorer.course.progress import Progress
from explorer.course.questions import Grade, Question, questions_for
from explorer.engine.core import Engine
from explorer.engine.events import (
    EngineEvent,
    FrameObserved,
    LifecycleEnded,
    Listener,
    PhaseFailed,
    PhaseReport,
    PhaseStarted,
    Stepper,
    Waiting,
)
from explorer.lab import EXPERIMENTS, lab_engine
from explorer.net.endpoint import chosen_url, redact
from explorer.protocol.fields import shown
from explorer.protocol.frames import Direction, Frame, first_named
from explorer.protocol.lifecycle import BELOW_AMQP, ORDER, Phase
from explorer.recording.capture import CaptureError, load
from explorer.recording.replay import ReplayEngine
from explorer.ui import palette
from explorer.ui.heap import HEAP
from explorer.ui.help import HelpScreen
from explorer.ui.picker import ExperimentPicker
from explorer.ui.preferences import Preferences
from explorer.ui.quizzing import Quizmaster
from explorer.ui.widgets.field_tree import FieldTree
from explorer.ui.widgets.frame_list import FrameList, FrameListItem
from explorer.ui.widgets.hex_view import HexView
from explorer.ui.widgets.panels import AuthPanel, ExperimentPanel, NegotiationPanel
from explorer.ui.widgets.phase_rail import PhaseRail
from explorer.ui.widgets.status_line import Status, StatusLine

#: How often queued events are applied to the screen.
FLUSH_INTERVAL: Final = 1 / 20
StepperFactory = Callable[[Listener], Stepper]


def live(url: str, *, race: bool = False) -> StepperFactory:
    """A factory for the live engine.

    At the learner's pace (the default) the handshake runs at wire speed when
    TCP opens and each step reveals it; `race` holds it step by step against
    the broker's handshake_timeout.
    """
    return lambda listener: Engine(url, listener, live_handshake=race)


def experiment(url: str, name: str, *, race: bool = False) -> StepperFactory:
    """A factory for an experiment of the lab on the live broker.

    An experiment about the broker's handshake clock is held whatever `race`.
    """
    return lambda listener: lab_engine(url, name, listener, live_handshake=race)


def replay(path: Path) -> StepperFactory:
    """A factory for a recording (raises CaptureError for a bad file)."""
    capture = load(path)
    return lambda listener: ReplayEngine(capture, listener)


class ExplorerApp(App[int]):
    """Steps one connection through the lifecycle, lesson beside the bytes."""

    CSS_PATH = "explorer.tcss"
    TITLE = "amqp-explorer"
    #: Under 110 columns the left column and the field tree make way.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]  # noqa: RUF012
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space,n", "step", "Step"),
        Binding("p,left", "frame(-1)", "Prev frame"),
        Binding("right", "frame(1)", "Next frame", show=False),
        Binding("r", "reveal", "Reveal"),
        Binding("f", "fold", "Fold ♥", show=False),
        Binding("a", "quiz", "Quiz", show=False),
        Binding("x", "experiment", "Experiment"),
        Binding("g", "run_all", "Run to the end", show=False),
        Binding("c", "race", "Race the clock"),
        Binding("question_mark", "help", "Help"),
        Binding("s", "screenshot_svg", "SVG", show=False),
        Binding("ctrl+r", "restart", "Restart", show=False),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        factory: StepperFactory,
        *,
        source: str,
        course: Course | None = None,
        progress: Progress | None = None,
        predict: bool = False,
        url: str | None = None,
        experiment: str | None = None,
        race: bool = False,
        phase: Phase | None = None,
        quiet: bool = False,
    ) -> None:
        """Explore what `factory` makes; `source` names it in the title bar.

        With `predict`, a live connection asks the learner what the broker will
        answer before the steps (and experiments) that make it answer.
        Experiments run against `url` (by default $AMQP_URL, else localhost);
        `experiment` names one to start with. `race` says that live
        connections hold the handshake against the broker's clock (`factory`
        already does or does not), `phase` is stepped up to at the start, and
        `quiet` shows no pop-up notifications (for a demo).
        """
        super().__init__()
        self.factory = factory
        self.url = url or chosen_url(None)
        self._first_experiment = experiment
        self._first_phase = phase
        self.race = race
        self.quiet = quiet
        #: When each notification shown stops being shown (identical ones collapse).
        self._toasts: dict[tuple[str, str], float] = {}
        self.source = source
        self._course = course
        self.progress = progress if progress is not None else Progress.load()
        self.quizmaster = Quizmaster(self, self.progress, predict=predict)
        self.revealed = False
        self._stepping = False
        self.stepper: Stepper = factory(self._queue_event)
        self._pending: deque[EngineEvent] = deque()
        self._frames: list[Frame] = []
        self._failures: list[PhaseFailed] = []
        self._reports: list[PhaseReport] = []
        self._phase_of: dict[tuple[Direction, int], Phase] = {}
        # The panes, kept here: a query would search whatever screen is on top.
        self.status_line = StatusLine(id="status")
        self.rail = PhaseRail(self.stepper.plan, id="rail")
        self.negotiation = NegotiationPanel(id="negotiation")
        self.auth = AuthPanel(id="auth")
        self.experiment_panel = ExperimentPanel(id="experiment")
        self.frame_list = FrameList(id="frames")
        self.lesson = Markdown(id="lesson")
        self.fields = FieldTree(id="fields")
        self.hex = HexView(id="hex")
        #: The lesson on screen, and the one an experiment keeps there.
        self._lesson: Lesson | None = None
        self._pinned: Lesson | None = None
        self._pinned_anchor: str | None = None
        #: What the engine waits for, and when (on this clock) the wait began.
        self._waiting: tuple[Waiting, float] | None = None
        #: The lesson text that should be on screen, and the text that is.
        self._lesson_wanted = ""
        self._lesson_shown = ""
        self._lesson_anchor: str | None = None
        self._lesson_lock = asyncio.Lock()
        self._selected: Frame | None = None

    @property
    def course(self) -> Course:
        """The lessons, read when first needed: after the first paint."""
        if self._course is None:
            self._course = _load_course()
        return self._course

    # Building the screen ---

    def compose(self) -> ComposeResult:
        """The status line: the first frame shows it alone (see on_ready)."""
        yield self.status_line

    def on_mount(self) -> None:
        """Label the source for the first frame; the rest comes once it is shown."""
        self._keep_theme()
        self._label()
        #: Set once the panes are mounted and what needs them has started.
        self.ready = asyncio.Event()

    async def on_ready(self) -> None:
        """The first frame is on screen: freeze the heap as loaded (see
        explorer.ui.heap), mount the panes and the key bar (rail and panels
        left; frames, lesson, fields and bytes right), start the batching, the
        countdown and the heap's upkeep, and focus the frames. Once they are
        painted, show lesson 1, start any first experiment or phase, and set
        `ready`.

        This runs on the app's own queue, so a key pressed meanwhile waits
        until the app is complete.
        """
        HEAP.settle()
        with self.batch_update():  # no frame shows half the panes
            await self.mount_all(
                [
                    Horizontal(
                        VerticalScroll(
                            self.rail,
                            self.negotiation,
                            self.auth,
                            self.experiment_panel,
                            id="left",
                        ),
                        Vertical(
                            Horizontal(
                                self.frame_list,
                                VerticalScroll(self.lesson, id="lesson-pane"),
                                id="top",
                            ),
                            Horizontal(self.fields, self.hex, id="bottom"),
                            id="right",
                        ),
                        id="body",
                    ),
                    Footer(),
                ]
            )
        self.set_interval(FLUSH_INTERVAL, self._apply_pending)
        self.set_interval(0.2, self._tick)
        self.set_interval(FLUSH_INTERVAL, HEAP.settle)  # after a large batch
        self.frame_list.focus()
        # Lesson 1 only once the panes are on screen: a Markdown update holds
        # every repaint until it is done. No paint comes once the app is
        # closing, hence the bound.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1):
                await self.screen.wait_for_refresh()
        if not self.is_running:
            return
        self.show_phase_lesson(self.stepper.next_phase or Phase.ENDPOINT)
        if self._first_experiment is not None:
            self.run_experiment(self._first_experiment)
        elif self._first_phase is not None:
            self.step_to(self._first_phase)
        self.ready.set()

    def _label(self) -> None:
        """Name the source (a recording says so), the phase, the handshake budget.

        The title bar repeats what the rail shows, for terminals too narrow for it.
        """
        kind = "RECORDING" if self.stepper.recording else "live"
        rail = self.rail
        where = f" · {rail.current.number} {rail.current.value}" if rail.current else ""
        left = rail.budget
        budget = f" · handshake {left:.1f} s left" if left is not None else ""
        timer = rail.timer
        waiting = f"waiting {timer[1]:.1f}/{timer[2]:g} s" if timer else ""
        self.sub_title = f"{kind}: {self.source}{where}{budget}" + (
            f" · {waiting}" if waiting else ""
        )
        self.status_line.status = Status(
            rail.position, self.stepper.clock(), waiting, self.source
        )

    def _keep_theme(self) -> None:
        """Start with the theme chosen last time, and remember the next choice."""
        preferences = Preferences.load()
        if preferences.theme in self.available_themes:
            self.theme = preferences.theme

        def chosen(theme: Theme) -> None:
            preferences.theme = theme.name
            preferences.save()

        self.theme_changed_signal.subscribe(self, chosen)

    # Stepping ---

    def action_step(self) -> None:
        """Run the next step of the lifecycle."""
        if self.stepper.finished:
            self.notify("The lifecycle is over: ctrl+r starts a new connection.")
            return
        if self._stepping:
            return  # one step at a time: a second press never cuts one short
        self._stepping = True
        self._step()

    @work(group="step")
    async def _step(self) -> None:
        try:
            await self._one_step()
        finally:
            self._stepping = False

    async def _one_step(self) -> None:
        """Ask what is due, run the next step, then judge and grade what it showed."""
        await self._ask_predictions()
        await self.stepper.step()
        self._apply_pending()
        self._judge()
        self.grade_pending(over=False)

    async def action_restart(self) -> None:
        """Close this connection and start a new one, without leaving the app."""
        await self._replace(self.factory, self.source)

    async def action_race(self) -> None:
        """Switch between the learner's pace and racing the broker's clock.

        Either way a new connection starts: the pace is chosen at TCP accept.
        """
        if self.stepper.recording:
            self.notify("A recording has no broker clock to race: ctrl+r is live.")
            return
        self.race = not self.race
        await self.plain_lifecycle()
        if self.race:
            self.notify(
                "Each handshake frame is held until you step, and RabbitMQ's 10 s "
                "handshake_timeout runs from TCP accept: step fast, or let it run "
                "out. c goes back to your own pace.",
                title="Race mode: the broker's clock runs",
                timeout=10,
            )
        else:
            self.notify(
                "The handshake runs at wire speed when TCP opens; each step then "
                "shows what was exchanged, with its real timings. c races the clock.",
                title="Your own pace",
                timeout=10,
            )

    def step_to(self, phase: Phase) -> None:
        """Step the connection until `phase` has run, then show its first frame."""
        if self._stepping:
            return
        self._stepping = True
        self._step_to(phase)

    @work(group="step")
    async def _step_to(self, phase: Phase) -> None:
        try:
            while self._due_before(phase):
                await self._one_step()
            if self.stepper.next_phase is phase:
                await self._one_step()
        finally:
            self._stepping = False
        self._jump(phase)

    def _due_before(self, phase: Phase) -> bool:
        """Whether the next step is of a phase that comes before `phase`."""
        due = self.stepper.next_phase
        return due is not None and ORDER.index(due) < ORDER.index(phase)

    async def _replace(self, factory: StepperFactory, source: str) -> None:
        self.workers.cancel_group(self, "step")
        with contextlib.suppress(Exception):
            await self.stepper.aclose()
        self.factory, self.source = factory, source
        self._pending.clear()
        self._frames.clear()
        self._failures.clear()
        self._reports.clear()
        self._phase_of.clear()
        self._selected = None
        self.stepper = factory(self._queue_event)
        self.rail.reset(self.stepper.plan)
        self.frame_list.clear()
        self.negotiation.clear()
        self.auth.clear()
        self.fields.show(None)
        self.hex.show(None)
        self.experiment_panel.clear()
        self._pinned = None
        self._waiting = None
        self._label()
        self.show_phase_lesson(self.stepper.next_phase or Phase.ENDPOINT)

    async def open_recording(self, path: Path) -> None:
        """Explore a recording instead of the live connection."""
        try:
            factory = replay(path)
        except CaptureError as exc:
            self.notify(str(exc), title="Cannot open the recording", severity="error")
            return
        await self._replace(factory, str(path))

    # Events from the stepper ---

    def _queue_event(self, event: EngineEvent) -> None:
        self._pending.append(event)

    def _apply_pending(self) -> None:
        """Apply the queued events: frames in one batch, the rest in order."""
        batch: list[FrameListItem] = []
        while self._pending:
            event = self._pending.popleft()
            if isinstance(event, FrameObserved):
                self._frames.append(event.frame)
                self._phase_of[(event.frame.direction, event.frame.offset)] = (
                    event.phase
                )
                self.rail.saw(event.phase)
                batch.append(event.frame)
                continue
            if batch:
                self._add_rows(batch)
                batch = []
            self._apply(event)
        if batch:
            self._add_rows(batch)

    def _add_rows(self, rows: list[FrameListItem]) -> None:
        frames = self.frame_list
        following = frames.row_count == 0 or frames.cursor_row >= frames.row_count - 1
        frames.add(rows)
        if following:
            frames.select_last()

    def _apply(self, event: EngineEvent) -> None:
        rail = self.rail
        if isinstance(event, Waiting):
            self._waiting = (event, time.monotonic())
            return
        self._waiting = None
        if isinstance(event, PhaseStarted):
            rail.start(event.phase, event.step)
            self._label()
            self.show_phase_lesson(event.phase, auto=True)
        elif isinstance(event, PhaseReport):
            self._reports.append(event)
            rail.saw(event.phase)
            self._report(event)
        elif isinstance(event, PhaseFailed):
            self._failures.append(event)
            rail.fail(event.phase)
            self._add_rows([event])
            said = (
                f"\n{event.reply_code} {event.reply_text}" if event.reply_code else ""
            )
            advice = f"\n{event.advice}" if event.advice else ""
            self.notify(
                f"{event.message}{said}{advice}{self._ways_on(event)}",
                title=f"{event.phase.value} failed",
                severity="error" if event.fatal else "warning",
                timeout=12,
            )
        elif isinstance(event, LifecycleEnded):
            rail.finish()
            self._offer_recording(event)
            self.grade_pending(over=True)

    def _judge(self) -> None:
        """Judge every try-it check on this live connection; tell what passed."""
        if self.stepper.recording:
            return  # a recording is not the learner's own broker
        passed = []
        seen = Seen(self._frames, self._failures, self._reports)
        for lesson in self.course.everything:
            for name in lesson.checks:
                verdict = judge(name, seen)
                if verdict.passed and self.progress.pass_check(name, verdict.detail):
                    passed.append(f"{CHECKS[name].task}: {verdict.detail}")
        for line in passed:
            self.notify(line, title="✓ Try it passed", timeout=10)
        if passed:
            self.progress.save()

    def _checks_text(self, lesson: Lesson) -> str:
        """The lesson's try-it checks and whether the learner has passed them."""
        if not lesson.checks:
            return ""
        lines = ["", "---", "", "**Your try-it checks**", ""]
        for name in lesson.checks:
            detail = self.progress.passed.get(name)
            mark = f"✓ {detail}" if detail else "not yet"
            lines.append(f"- {CHECKS[name].task}: {mark}")
        return "\n".join(lines) + "\n"

    def _report(self, report: PhaseReport) -> None:
        if report.phase in BELOW_AMQP:
            self._add_rows([report])  # no frame shows these phases: their report does
        if not self.stepper.recording and self.progress.finish(report.phase.value):
            self.progress.save()
        if report.phase is Phase.ENDPOINT and Phase.TLS not in self.stepper.plan:
            self.rail.drop(Phase.TLS)
        if report.phase is Phase.TUNE:
            self.negotiation.show(report.facts)
        elif report.phase is Phase.AUTH:
            start_ok = first_named(
                self._frames, Direction.CLIENT_TO_BROKER, "Connection.StartOk"
            )
            unmasked = self.stepper.unmasked(start_ok) if start_ok else None
            self.auth.show(report.facts, unmasked, self.revealed)
        if "as_expected" in report.facts:
            self._concluded(report)
        self.show_phase_lesson(report.phase, auto=True)

    def _ways_on(self, failure: PhaseFailed) -> str:
        """After a live connection failed for good: how the learner can go on."""
        if not failure.fatal or self.stepper.recording or self._pinned is not None:
            return ""
        other = "your own pace" if self.race else "racing the broker's clock"
        return (
            f"\nWays on: ctrl+r connects again; c switches to {other}; ctrl+p "
            "'recording' opens a lifecycle recorded earlier."
        )

    def _offer_recording(self, ended: LifecycleEnded) -> None:
        """When no broker accepted the TCP connection, offer the recording."""
        connected = any(r.phase is Phase.TCP for r in self._reports)
        if ended.clean or self.stepper.recording or connected:
            return
        failed = self._failures[0].phase.value if self._failures else "a"
        self.notify(
            f"No broker answered: the {failed} phase failed. Open the bundled "
            "recording from the command palette (ctrl+p, 'recording') to explore a "
            "real lifecycle recorded earlier.",
            title="Explore without a broker",
            timeout=20,
        )

    def _tick(self) -> None:
        self.rail.budget = self.stepper.handshake_time_left()
        if self._waiting is None:
            self.rail.timer = None
        else:
            event, since = self._waiting
            waited = min(time.monotonic() - since, event.seconds)
            self.rail.timer = (event.what, waited, event.seconds)
        self._label()

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Show a notification, unless quiet or the same one is on screen."""
        if self.quiet:
            return
        now = time.monotonic()
        key = (title, message)
        if self._toasts.get(key, 0.0) > now:
            return
        shown_for = self.NOTIFICATION_TIMEOUT if timeout is None else timeout
        self._toasts = {k: t for k, t in self._toasts.items() if t > now}
        self._toasts[key] = now + shown_for
        super().notify(
            message, title=title, severity=severity, timeout=timeout, markup=markup
        )

    # Frames, fields and bytes ---

    @on(FrameList.Selected)
    def _frame_selected(self, message: FrameList.Selected) -> None:
        item = message.item
        # The cursor following new rows is the lifecycle moving on by itself.
        following = message.index == self.frame_list.row_count - 1
        if not isinstance(item, Frame):
            if isinstance(item, PhaseReport):
                self.fields.show_report(item)
                self.hex.show_report(item)
            self.show_phase_lesson(item.phase, auto=following)
            return
        self._selected = item
        self._show_frame(item)
        phase = self._phase_of.get((item.direction, item.offset))
        if phase is not None:
            self.show_phase_lesson(phase, item.name, auto=following)

    def _show_frame(self, frame: Frame) -> None:
        visible = shown(self.stepper.unmasked(frame), reveal=self.revealed)
        self.fields.show(visible)
        self.hex.show(visible)

    @on(FieldTree.FieldSelected)
    def _field_selected(self, message: FieldTree.FieldSelected) -> None:
        field = message.field
        self.hex.selected = (field.offset, field.length)

    @on(HexView.ByteClicked)
    def _byte_clicked(self, message: HexView.ByteClicked) -> None:
        self.fields.select_offset(message.offset)

    def action_frame(self, delta: int) -> None:
        """Move through the frames seen so far."""
        self.frame_list.move(delta)

    def action_fold(self) -> None:
        """Fold runs of heartbeats into one row, or unfold them."""
        frames = self.frame_list
        frames.fold_heartbeats = not frames.fold_heartbeats

    def action_reveal(self) -> None:
        """Show or hide the password wherever it appears."""
        if self.stepper.recording:
            self.notify("A recording never holds the password: it was masked.")
            return
        self.revealed = not self.revealed
        self.auth.reveal(self.revealed)
        if self._selected is not None:
            self._show_frame(self._selected)
        self.notify("Secrets shown" if self.revealed else "Secrets hidden")

    # Predict, then see; quizzes (asked and graded by the Quizmaster) ---

    async def _ask_predictions(self) -> None:
        """Before a live step, ask what the broker will answer to it."""
        phase = self.stepper.next_phase
        if not self.stepper.recording and phase is not None:
            await self.quizmaster.before_step(phase, self._frames)

    async def ask_before_experiment(self, name: str) -> None:
        """Ask the predictions tied to the experiment called `name`.

        Await it from a worker or a task, before the experiment starts; its
        predictions are graded as its frames come in.
        """
        await self.quizmaster.before_experiment(name)

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
        save = frames is not None or not self.stepper.recording
        if frames is None:
            if self.stepper.recording:
                return []
            frames = self._frames
        graded = self.quizmaster.grade(frames, over=over, save=save)
        self._refresh_questions(graded)
        return graded

    def action_quiz(self) -> None:
        """Quiz on the phase whose lesson is shown, answered from the frames."""
        self.quiz(self._lesson_phase or self.stepper.next_phase or Phase.ENDPOINT)

    @property
    def _lesson_phase(self) -> Phase | None:
        """The phase whose lesson is on screen (None for a topic lesson)."""
        return self._lesson.phase if self._lesson is not None else None

    def quiz(self, phase: Phase) -> None:
        """Ask the quiz questions on `phase` whose answers the frames hold."""
        every = questions_for(phase, "quiz")
        ready = [q for q in every if q.answer(self._frames) is not None]
        if ready:
            self._run_quiz(ready)
        elif every:
            self.notify(
                f"The {phase.value} quiz is answered from its frames: "
                f"step through the {phase.value} phase first."
            )
        else:
            self.notify(f"No quiz on the {phase.value} phase.")

    @work(group="quiz", exclusive=True)
    async def _run_quiz(self, questions: list[Question]) -> None:
        save = not self.stepper.recording
        graded = await self.quizmaster.quiz(questions, self._frames, save=save)
        self._refresh_questions(graded)

    def _refresh_questions(self, graded: Sequence[Grade]) -> None:
        """Show new results in the lesson pane when they are about its lesson."""
        shown = self._lesson_phase
        if shown is not None and any(g.question.phase is shown for g in graded):
            self.show_phase_lesson(shown)

    # Experiments ---

    def action_experiment(self) -> None:
        """Run an experiment the lesson on screen offers (a list when several)."""
        lesson = self._lesson
        if lesson is None or not lesson.experiments:
            self.notify(
                "This lesson offers no experiment: ctrl+p, 'Experiment' lists them all."
            )
        elif len(lesson.experiments) == 1:
            self.run_experiment(lesson.experiments[0])
        else:
            choices = [(n, EXPERIMENTS[n].title) for n in lesson.experiments]
            picker = ExperimentPicker(f"Experiments of “{lesson.title}”", choices)
            self.push_screen(picker, self._picked)

    def _picked(self, name: str | None) -> None:
        if name is not None:
            self.run_experiment(name)

    @work(group="experiment", exclusive=True)
    async def run_experiment(self, name: str) -> None:
        """Ask the learner's predictions, then set up the experiment `name`.

        The learner steps it like any connection (space), or runs it to the
        end (g); its lesson stays on screen, scrolled to its section.
        """
        scenario = EXPERIMENTS[name]
        await self.ask_before_experiment(name)
        source = f"experiment {name} · {redact(self.url)}"
        await self._replace(experiment(self.url, name, race=self.race), source)
        self.experiment_panel.start(name, scenario.title)
        self._pin(name)
        self.notify(
            f"{scenario.title}.\nSpace steps it; g runs it to the end.",
            title=f"Experiment: {name}",
            timeout=8,
        )

    def _pin(self, name: str) -> None:
        """Keep the lesson that teaches experiment `name` on screen, at its section."""
        self._pinned = self.course.teaching(name)
        self._pinned_anchor = experiment_title(name)
        if self._pinned is not None:
            self.show_lesson(self._pinned, self._pinned_anchor)

    def _concluded(self, report: PhaseReport) -> None:
        """An experiment ended: show what the broker did against what it expected.

        A recording of an experiment ends the same way, so its lesson is then
        kept on screen too.
        """
        self.experiment_panel.show(report.facts, report.notes)
        name = str(report.facts.get("experiment", ""))
        if self._pinned is None and name in EXPERIMENTS:
            self._pin(name)
        passed = report.facts.get("as_expected") is True
        self.notify(
            "\n".join(report.notes) or str(report.facts.get("expected", "")),
            title=f"Experiment {report.facts.get('experiment')}: "
            + ("as expected" if passed else "NOT as expected"),
            severity="information" if passed else "warning",
            timeout=15,
            markup=False,
        )

    def action_run_all(self) -> None:
        """Run every remaining step, one after another."""
        if not self.stepper.finished and not self._stepping:
            self._stepping = True
            self._run_all()

    @work(group="step")
    async def _run_all(self) -> None:
        try:
            while not self.stepper.finished:
                await self._one_step()
        finally:
            self._stepping = False

    async def plain_lifecycle(self) -> None:
        """Back from an experiment: the plain lifecycle on the learner's URL."""
        await self._replace(live(self.url, race=self.race), redact(self.url))

    # Lessons ---

    def show_phase_lesson(
        self, phase: Phase, frame_name: str | None = None, *, auto: bool = False
    ) -> None:
        """Show the lesson for `phase`, scrolled to the section about a frame.

        `auto` is set when the lifecycle moves on by itself: while an
        experiment runs, its own lesson then stays on screen.
        """
        pinned = self._pinned
        if auto and pinned is not None:
            if frame_name is None and self._text_of(pinned) != self._lesson_wanted:
                self.show_lesson(pinned, self._pinned_anchor)  # values came in
            return
        try:
            lesson = self.course.lesson_for(phase)
        except CourseError:
            return
        anchor = lesson.anchor_for(frame_name) if frame_name else None
        self.show_lesson(lesson, anchor, again=frame_name is None)

    def show_lesson(
        self, lesson: Lesson, anchor: str | None = None, *, again: bool = True
    ) -> None:
        """Show `lesson` (filled from the frames unless shown already and not
        `again`), scrolled to the section headed `anchor`."""
        if lesson is not self._lesson or again:
            self._lesson = lesson
            self._lesson_wanted = self._text_of(lesson)
        self._lesson_anchor = anchor
        if self._lesson_wanted != self._lesson_shown or self._lesson_anchor:
            self._update_lesson()

    def _text_of(self, lesson: Lesson) -> str:
        """The lesson filled from the frames, with the learner's checks and answers."""
        return (
            render(lesson.text, self._frames)
            + self._checks_text(lesson)
            + self.quizmaster.text(lesson)
        )

    @work(group="lesson")
    async def _update_lesson(self) -> None:
        """Bring the lesson pane up to date, then scroll to the wanted section.

        Updates run one after another, never cut short: a Markdown update
        cancelled half way leaves blocks behind that break the app's shutdown.
        Each one shows what is wanted when its turn comes, so a burst of calls
        costs one redraw.
        """
        async with self._lesson_lock:
            wanted, anchor = self._lesson_wanted, self._lesson_anchor
            if wanted != self._lesson_shown:
                await self.lesson.update(wanted)
                self._lesson_shown = wanted
            if anchor:
                with contextlib.suppress(NoMatches):  # the document changed since
                    self.lesson.goto_anchor(_slug(anchor))

    @on(PhaseRail.PhaseClicked)
    def _phase_clicked(self, message: PhaseRail.PhaseClicked) -> None:
        self.show_phase_lesson(message.phase)

    # Commands, help and pictures ---

    def action_help(self) -> None:
        """List every key."""
        self.push_screen(HelpScreen(self.BINDINGS))

    def action_screenshot_svg(self) -> None:
        """Save an SVG of the screen in the current directory."""
        path = Path(self.save_screenshot()).resolve()
        self.notify(f"Saved {path}")

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """The command palette: Textual's commands, then the explorer's."""
        yield from super().get_system_commands(screen)
        yield from palette.commands(self)

    def reset_progress(self) -> None:
        """Forget finished lessons, passed checks and answers."""
        self.progress.reset()
        self.notify("Progress reset: no lesson finished, no check passed.")

    def _jump(self, phase: Phase) -> None:
        frames = self.frame_list
        for index, item in enumerate(frames.items):
            if (
                isinstance(item, Frame)
                and self._phase_of.get((item.direction, item.offset)) is phase
            ):
                frames.select(index)
                return
        self.show_phase_lesson(phase)
        self.notify(f"No frame of the {phase.value} phase yet: showing its lesson.")

    async def action_quit(self) -> None:
        """Close the connection properly, then leave (after any lesson update)."""
        with contextlib.suppress(Exception):
            await self.stepper.aclose()
        async with self._lesson_lock:
            self.exit(0)


def _load_course() -> Course:
    try:
        return load_course()
    except CourseError:
        return Course("", ())


def _slug(heading: str) -> str:
    """The anchor Markdown gives a heading (GitHub-style)."""
    from textual._slug import TrackedSlugs

    return TrackedSlugs().slug(heading)
