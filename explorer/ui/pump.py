"""The stepper's events, queued as they come and applied to the screen in batches.

Owns the queue between the stepper's listener and the panes, what each kind
of event changes on screen, and what the events applied so far showed (the
frames, failures and reports, the phase of each frame, what the engine waits
for). Events are applied every FLUSH_INTERVAL, after each step and on
`flush`, a run of frames in one batch, so a flood of frames never floods the
message queue.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import TYPE_CHECKING, Final

from textual.widget import Widget

from explorer.course.checks import Seen
from explorer.engine.events import (
    EngineEvent,
    FrameObserved,
    LifecycleEnded,
    PhaseFailed,
    PhaseReport,
    PhaseStarted,
    Waiting,
)
from explorer.protocol.amqp10.report import OPEN_RULES
from explorer.protocol.frames import Direction, Frame
from explorer.protocol.lifecycle import Phase
from explorer.protocol.queries import BROKER_NAMERS, broker_product, first_named
from explorer.ui.widgets.frame_list import FrameListItem, listed

if TYPE_CHECKING:
    from explorer.ui.app import ExplorerApp

C2B, B2C = Direction.CLIENT_TO_BROKER, Direction.BROKER_TO_CLIENT
#: The frame that carries the client's SASL response: 0-9-1's, then 1.0's.
RESPONSES: Final = ("Connection.StartOk", "sasl-init")
#: The fields AMQP 1.0 negotiates in open: its open phase reports them.
NEGOTIATED_IN_OPEN: Final = frozenset(OPEN_RULES)
#: How often queued events are applied to the screen.
FLUSH_INTERVAL: Final = 1 / 20


async def handled(widget: Widget) -> None:
    """Return once the messages `widget` has posted so far are handled, up to the app.

    Each node passes a message on to its parent as it handles it, so a callback
    queued behind it at each node in turn runs after the message was handled there.
    """
    for node in widget.ancestors_with_self:
        done = asyncio.Event()
        if node.is_running and node.call_later(done.set):
            await done.wait()


class EventPump:
    """Applies one connection's events to `app`'s panes, in the order they came."""

    def __init__(self, app: ExplorerApp) -> None:
        """Nothing received yet; `receive` is the stepper's listener."""
        self.app = app
        self._pending: deque[EngineEvent] = deque()
        self._frames: list[Frame] = []
        self._failures: list[PhaseFailed] = []
        self._reports: list[PhaseReport] = []
        self._phase_of: dict[tuple[Direction, int], Phase] = {}
        #: What the engine waits for, and when (on this clock) the wait began.
        self._waiting: tuple[Waiting, float] | None = None
        #: What the events applied so far showed (it grows with them).
        self.seen = Seen(self._frames, self._failures, self._reports)
        #: The broker's product and version, once its Connection.Start (or
        #: 1.0 open) is shown.
        self.broker = ""

    def receive(self, event: EngineEvent) -> None:
        """Queue an event of the stepper, to be applied at the next drain."""
        self._pending.append(event)

    @property
    def pending(self) -> int:
        """How many events are received and not applied yet."""
        return len(self._pending)

    def phase_of(self, frame: Frame) -> Phase | None:
        """The phase a frame on screen came in (None for one never applied)."""
        return self._phase_of.get((frame.direction, frame.offset))

    def clear(self) -> None:
        """Forget the connection: a new one starts."""
        self._pending.clear()
        self._frames.clear()
        self._failures.clear()
        self._reports.clear()
        self._phase_of.clear()
        self._waiting = None
        self.broker = ""

    async def flush(self) -> None:
        """Apply every event received so far, and return once the screen shows them.

        That is: the rows added, the timer waited for brought up to date
        (without waiting for its tick), the selection the rows moved handled by
        the app, the lesson updates they started done and the screen repainted.
        """
        self.drain()
        self.tick()
        await handled(self.app.panes.frame_list)
        await self.app.lessons.settled()
        await self.app.screen.wait_for_refresh()

    def drain(self) -> None:
        """Apply the queued events now: frames in one batch, the rest in order."""
        batch: list[FrameListItem] = []
        framed = len(self._frames)
        while self._pending:
            event = self._pending.popleft()
            if isinstance(event, FrameObserved):
                frame = event.frame
                self._frames.append(frame)
                self._phase_of[(frame.direction, frame.offset)] = event.phase
                if not self.broker and (frame.direction, frame.name) in BROKER_NAMERS:
                    self.broker = broker_product(frame)
                self.app.rail.saw(event.phase)
                batch.append(frame)
                continue
            if batch:
                self._add_rows(batch)
                batch = []
            self._apply(event)
        if batch:
            self._add_rows(batch)
        if len(self._frames) > framed:  # values its lesson names may have come
            self.app.lessons.refill()

    def tick(self) -> None:
        """Bring the handshake budget and the timer waited for up to date."""
        rail = self.app.rail
        rail.budget = self.app.stepper.handshake_time_left()
        if self._waiting is None:
            rail.timer = None
        else:
            event, since = self._waiting
            waited = min(time.monotonic() - since, event.seconds)
            rail.timer = (event.what, waited, event.seconds)
        self.app.show_status()

    def _add_rows(self, rows: list[FrameListItem]) -> None:
        frames = self.app.panes.frame_list
        following = frames.row_count == 0 or frames.cursor_row >= frames.row_count - 1
        frames.add(rows)
        if following:
            frames.select_last()

    def _apply(self, event: EngineEvent) -> None:
        app = self.app
        if isinstance(event, Waiting):
            self._waiting = (event, time.monotonic())
            return
        self._waiting = None
        if isinstance(event, PhaseStarted):
            app.rail.start(event.phase, event.step)
            app.show_status()
            app.lessons.show_phase(event.phase, auto=True)
        elif isinstance(event, PhaseReport):
            self._reports.append(event)
            app.rail.saw(event.phase)
            self._report(event)
        elif isinstance(event, PhaseFailed):
            self._failures.append(event)
            app.rail.fail(event.phase)
            self._add_rows([event])
            said = (
                f"\n{event.reply_code} {event.reply_text}" if event.reply_code else ""
            )
            advice = f"\n{event.advice}" if event.advice else ""
            app.notify(
                f"{event.message}{said}{advice}{self._ways_on(event)}",
                title=f"{event.phase.value} failed",
                severity="error" if event.fatal else "warning",
                timeout=12,
            )
        elif isinstance(event, LifecycleEnded):
            app.rail.finish()
            self._offer_recording(event)
            app.quizzes.grade_pending(over=True)

    def _report(self, report: PhaseReport) -> None:
        app = self.app
        if listed(report):
            self._add_rows([report])  # no frame shows these phases: their report does
        if not app.stepper.recording and app.progress.finish(report.phase.value):
            app.progress.save()
        if report.phase is Phase.ENDPOINT:
            app.rail.follow(app.stepper.plan)
        if report.phase is Phase.TUNE or (
            report.phase is Phase.OPEN and report.facts.keys() >= NEGOTIATED_IN_OPEN
        ):
            app.panes.negotiation.show(report.facts)
        elif report.phase is Phase.AUTH:
            sent = next(
                (
                    first
                    for name in RESPONSES
                    if (first := first_named(self._frames, C2B, name)) is not None
                ),
                None,
            )
            unmasked = app.stepper.unmasked(sent) if sent else None
            app.panes.auth.show(report.facts, unmasked, app.revealed)
        if "as_expected" in report.facts:
            app.experiments.concluded(report)
        app.lessons.show_phase(report.phase, auto=True)

    def _ways_on(self, failure: PhaseFailed) -> str:
        """After a live connection failed for good: how the learner can go on."""
        app = self.app
        stepper = app.stepper
        if not failure.fatal or stepper.recording or stepper.watched:
            return ""  # only the explorer's own connection is its to make again
        if app.lessons.pinned:
            return ""
        other = "your own pace" if app.race else "racing the broker's clock"
        return (
            f"\nWays on: ctrl+r connects again; c switches to {other}; ctrl+p "
            "'recording' opens a lifecycle recorded earlier."
        )

    def _offer_recording(self, ended: LifecycleEnded) -> None:
        """When no broker accepted the TCP connection, offer the recording."""
        connected = any(r.phase is Phase.TCP for r in self._reports)
        stepper = self.app.stepper
        if ended.clean or stepper.recording or stepper.watched or connected:
            return
        failed = self._failures[0].phase.value if self._failures else "a"
        which = "AMQP 1.0 " if stepper.dialect.key == "1.0" else ""
        self.app.notify(
            f"No broker answered: the {failed} phase failed. Open the bundled "
            f"{which}recording from the command palette (ctrl+p, 'recording') to "
            "explore a real lifecycle recorded earlier.",
            title="Explore without a broker",
            timeout=20,
        )
