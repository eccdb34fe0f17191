"""The explorer app: a live connection (or a recording), stepped on screen.

Owns ExplorerApp: it builds the screen (the status line alone first, the
panes once it is painted), holds the connection explored (its Stepper: the
live Engine or a ReplayEngine) and routes keys and the panes' messages to the
modules that own each part: the panes (panes.py), stepping (stepping.py), the
stepper's events (pump.py), the lesson pane (lessons.py), experiments
(experiments.py), the next connection (connections.py), quizzes (quizzes.py)
and the palette's commands (palette.py). Nothing here speaks AMQP.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.notifications import Notification, SeverityLevel
from textual.screen import Screen

from explorer.course.lessons import Course
from explorer.course.progress import Progress
from explorer.engine.events import PhaseReport, Stepper
from explorer.net.endpoint import chosen_url
from explorer.protocol.fields import shown
from explorer.protocol.frames import Frame
from explorer.protocol.lifecycle import Phase
from explorer.ui import palette
from explorer.ui.connections import Connections, StepperFactory, live, replay
from explorer.ui.experiments import Experiments
from explorer.ui.heap import HEAP
from explorer.ui.help import HelpScreen
from explorer.ui.lessons import LessonPane
from explorer.ui.panes import PANES_CSS, Panes
from explorer.ui.preferences import keep_theme
from explorer.ui.pump import FLUSH_INTERVAL, EventPump
from explorer.ui.quizzes import Quizzes
from explorer.ui.quizzing import Quizmaster
from explorer.ui.stepping import Steps
from explorer.ui.widgets.field_tree import FieldTree
from explorer.ui.widgets.frame_list import FrameList
from explorer.ui.widgets.hex_view import HexView
from explorer.ui.widgets.phase_rail import PhaseRail
from explorer.ui.widgets.status_line import Status, StatusLine

__all__ = ["ExplorerApp", "StepperFactory", "live", "replay"]


class ExplorerApp(App[int]):
    """Steps one connection through the lifecycle, lesson beside the bytes."""

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
        Binding("b", "broker_view", "Broker view", show=False),
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
        self.progress = progress if progress is not None else Progress.load()
        self.quizmaster = Quizmaster(self, self.progress, predict=predict)
        self.revealed = False
        self.pump = EventPump(self)
        self.steps = Steps(self)
        self.lessons = LessonPane(self, course)
        self.experiments = Experiments(self)
        self.connections = Connections(self)
        self.quizzes = Quizzes(self)
        self.stepper: Stepper = factory(self.pump.receive)
        #: The protocol the learner explores: a new plain connection speaks it.
        self.dialect = self.stepper.dialect
        self._selected: Frame | None = None
        # The first frame shows the status line alone, fed by the rail; the
        # other panes are built once it is painted (see `panes`).
        self.status_line = StatusLine(id="status")
        self.rail = PhaseRail(self.stepper.plan, self._order, id="rail")

    @property
    def _order(self) -> tuple[Phase, ...]:
        """Every phase of the protocol explored, in order (TLS included)."""
        return self.stepper.dialect.plan_for(True)

    @cached_property
    def panes(self) -> Panes:
        """The panes beside the status line, built when first needed."""
        return Panes()

    @property
    def selected(self) -> Frame | None:
        """The frame whose fields and bytes are shown (None: none, or a report)."""
        return self._selected

    @property
    def stepping(self) -> bool:
        """Whether a step (or a run of them) is under way."""
        return self.steps.busy

    @property
    def notifications(self) -> list[Notification]:
        """The notifications on screen now, oldest first."""
        return list(self._notifications)

    async def flush(self) -> None:
        """Return once every event the stepper sent so far is on screen."""
        await self.pump.flush()

    # Building the screen ---

    def compose(self) -> ComposeResult:
        """The status line: the first frame shows it alone (see on_ready)."""
        yield self.status_line

    def on_mount(self) -> None:
        """Label the source for the first frame; the rest comes once it is shown."""
        keep_theme(self)
        self.show_status()
        #: Set once the panes are mounted and what needs them has started.
        self.ready = asyncio.Event()

    async def on_ready(self) -> None:
        """The first frame is on screen: freeze the heap as loaded (see
        explorer.ui.heap), read the panes' CSS, mount the panes and the key
        bar (rail and panels left; frames, lesson, fields and bytes right),
        start the batching, the countdown and the heap's upkeep, and focus the
        frames. Once they are painted, show lesson 1, start any first
        experiment or phase, and set `ready`.

        This runs on the app's own queue, so a key pressed meanwhile waits
        until the app is complete.
        """
        HEAP.settle()
        self.stylesheet.read(PANES_CSS)
        self.stylesheet.update(self)  # the toasts' place: on screen already
        with self.batch_update():  # no frame shows half the panes
            await self.mount_all(self.panes.layout(self.rail))
            self.panes.clear(self.stepper.dialect)  # the panels say what they await
        self.set_interval(FLUSH_INTERVAL, self.pump.drain)
        self.set_interval(0.2, self.pump.tick)
        self.set_interval(FLUSH_INTERVAL, HEAP.settle)  # after a large batch
        self.panes.frame_list.focus()
        # Lesson 1 only once the panes are on screen: a Markdown update holds
        # every repaint until it is done. No paint comes once the app is
        # closing, hence the bound.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1):
                await self.screen.wait_for_refresh()
        if not self.is_running:
            return
        self.show_first_lesson()
        if self._first_experiment is not None:
            self.experiments.run(self._first_experiment)
        elif self._first_phase is not None:
            self.steps.to(self._first_phase)
        self.ready.set()

    def show_status(self) -> None:
        """Name the source (a recording says so), the phase, the handshake budget.

        The title bar repeats what the rail shows, for terminals too narrow for it.
        """
        kind = "RECORDING" if self.stepper.recording else "live"
        rail = self.rail
        where = (
            f" · {rail.number(rail.current)} {rail.current.value}"
            if rail.current
            else ""
        )
        left = rail.budget
        budget = f" · handshake {left:.1f} s left" if left is not None else ""
        timer = rail.timer
        waiting = f"waiting {timer[1]:.1f}/{timer[2]:g} s" if timer else ""
        self.sub_title = f"{kind}: {self.source}{where}{budget}" + (
            f" · {waiting}" if waiting else ""
        )
        self.status_line.status = Status(
            rail.position, self.stepper.clock(), waiting, self.source, self.pump.broker
        )

    # Stepping ---

    def action_step(self) -> None:
        """Run the next step of the lifecycle."""
        self.steps.step()

    def action_run_all(self) -> None:
        """Run every remaining step, one after another."""
        self.steps.to_the_end()

    async def action_restart(self) -> None:
        """Close this connection and start a new one, without leaving the app."""
        await self.connections.restart()

    async def action_race(self) -> None:
        """Switch between the learner's pace and racing the broker's clock."""
        await self.connections.switch_pace()

    async def replace(self, factory: StepperFactory, source: str) -> None:
        """Close this connection and explore what `factory` makes instead."""
        self.steps.cancel()
        with contextlib.suppress(Exception):
            await self.stepper.aclose()
        self.factory = factory
        self.explore(factory, source)

    def explore(self, factory: StepperFactory, source: str) -> None:
        """Show what `factory` makes from its start, in place of the connection
        shown (which is left as it is: `replace` closes it)."""
        self.source = source
        self.pump.clear()
        self._selected = None
        self.stepper = factory(self.pump.receive)
        self.rail.reset(self.stepper.plan, self._order)
        self.panes.clear(self.stepper.dialect)
        self.lessons.unpin()
        self.show_status()
        self.show_first_lesson()

    def show_first_lesson(self) -> None:
        """Show the lesson of the phase the connection's next step runs."""
        stepper = self.stepper
        first = stepper.plan[0] if stepper.plan else Phase.ENDPOINT
        self.lessons.show_phase(stepper.next_phase or first)

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
        following = message.index == self.panes.frame_list.row_count - 1
        if not isinstance(item, Frame):
            if isinstance(item, PhaseReport):
                self.panes.fields.show_report(item)
                self.panes.hex.show_report(item)
            self.lessons.show_phase(item.phase, auto=following)
            return
        self._selected = item
        self._show_frame(item)
        phase = self.pump.phase_of(item)
        if phase is not None:
            self.lessons.show_phase(phase, item.name, auto=following)

    def _show_frame(self, frame: Frame) -> None:
        visible = shown(self.stepper.unmasked(frame), reveal=self.revealed)
        self.panes.fields.show(visible)
        self.panes.hex.show(visible)

    @on(FieldTree.FieldSelected)
    def _field_selected(self, message: FieldTree.FieldSelected) -> None:
        field = message.field
        self.panes.hex.selected = (field.offset, field.length)

    @on(HexView.ByteClicked)
    def _byte_clicked(self, message: HexView.ByteClicked) -> None:
        self.panes.fields.select_offset(message.offset)

    @on(PhaseRail.PhaseClicked)
    def _phase_clicked(self, message: PhaseRail.PhaseClicked) -> None:
        self.lessons.show_phase(message.phase)

    def action_frame(self, delta: int) -> None:
        """Move through the frames seen so far."""
        self.panes.frame_list.move(delta)

    def action_fold(self) -> None:
        """Fold runs of heartbeats into one row, or unfold them."""
        frames = self.panes.frame_list
        frames.fold_heartbeats = not frames.fold_heartbeats

    def action_reveal(self) -> None:
        """Show or hide the password wherever it appears."""
        if self.stepper.recording:
            self.notify("A recording never holds the password: it was masked.")
            return
        self.revealed = not self.revealed
        self.panes.auth.reveal(self.revealed)
        if self._selected is not None:
            self._show_frame(self._selected)
        self.notify("Secrets shown" if self.revealed else "Secrets hidden")

    async def action_broker_view(self) -> None:
        """Show what the broker recorded of this connection, or hide it."""
        from explorer.ui import brokerpane  # loaded when asked: never at start

        await brokerpane.toggle(self)

    def action_experiment(self) -> None:
        """Run an experiment the lesson on screen offers (a list when several)."""
        self.experiments.offer()

    def action_quiz(self) -> None:
        """Quiz on the phase whose lesson is shown, answered from the frames."""
        self.quizzes.quiz(
            self.lessons.phase or self.stepper.next_phase or Phase.ENDPOINT
        )

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

    async def action_quit(self) -> None:
        """Close the connection properly, then leave (after any lesson update)."""
        with contextlib.suppress(Exception):
            await self.stepper.aclose()
        async with self.lessons.between_updates():
            self.exit(0)
