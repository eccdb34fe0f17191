"""The phase rail: every lifecycle phase, done, current, failed or still to come.

Owns showing where the learner is in the lifecycle (its protocol's phases,
numbered in that protocol's order), the operation running, the
broker's handshake budget counting down while the handshake is held, and a
progress bar while the engine waits for one of the broker's own timers.
Clicking a phase asks the app to show its lesson.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from explorer.protocol.lifecycle import ORDER, Phase

MARKS = {"done": "✓", "current": "▶", "failed": "✗", "next": "·", "skipped": "○"}
BAR_WIDTH = 16


def bar(fraction: float) -> str:
    """A text progress bar, `fraction` (0 to 1) of it filled."""
    filled = round(max(0.0, min(1.0, fraction)) * BAR_WIDTH)
    return "█" * filled + "░" * (BAR_WIDTH - filled)


class PhaseRail(Widget):
    """A vertical list of the phases of this run."""

    DEFAULT_CSS = """
    PhaseRail { height: auto; padding: 0 1; }
    PhaseRail > .phase-rail--done { color: $success; }
    PhaseRail > .phase-rail--current { color: $accent; text-style: bold; }
    PhaseRail > .phase-rail--failed { color: $error; text-style: bold; }
    PhaseRail > .phase-rail--next { color: $text-muted; }
    PhaseRail > .phase-rail--skipped { color: $text-muted; text-style: strike; }
    PhaseRail > .phase-rail--budget { color: $warning; text-style: bold; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "phase-rail--done",
        "phase-rail--current",
        "phase-rail--failed",
        "phase-rail--next",
        "phase-rail--skipped",
        "phase-rail--budget",
    }

    #: Seconds left of the broker's handshake_timeout (None when not running).
    budget: reactive[float | None] = reactive(None)
    #: What the engine waits for, seconds waited, seconds expected at most.
    timer: reactive[tuple[str, float, float] | None] = reactive(None)

    class PhaseClicked(Message):
        """The learner clicked a phase."""

        def __init__(self, phase: Phase) -> None:
            """Carry the phase clicked."""
            super().__init__()
            self.phase = phase

    def __init__(
        self,
        plan: list[Phase],
        order: Sequence[Phase] = ORDER,
        *,
        id: str | None = None,
    ) -> None:
        """Show `plan`, nothing done yet, each phase numbered by its place in
        `order` (its protocol's every phase: AMQP 1.0 has no start or tune)."""
        super().__init__(id=id)
        self.plan = list(plan)
        self.order = tuple(order)
        self.states: dict[Phase, str] = {}
        #: Phases the wire or a report shows happened: only these are done.
        self.happened: set[Phase] = set()
        self.current: Phase | None = None
        self.operation = ""

    def number(self, phase: Phase) -> int:
        """`phase`'s 1-based place among its protocol's phases."""
        return self.order.index(phase) + 1 if phase in self.order else phase.number

    @property
    def position(self) -> str:
        """Where the lifecycle is, in one short line: "▶ 8/13 tune" and the like."""
        total = len(self.order)
        if self.current is not None:
            operation = f": {self.operation}" if self.operation else ""
            number = self.number(self.current)
            return f"▶ {number}/{total} {self.current.value}{operation}"
        reached = [p for p in self.plan if p in self.states]
        if reached:
            last = reached[-1]
            return f"■ {self.number(last)}/{total} {last.value}: ended"
        first = self.plan[0] if self.plan else Phase.ENDPOINT
        return f"· {self.number(first)}/{total} {first.value} next"

    def reset(self, plan: list[Phase], order: Sequence[Phase] = ORDER) -> None:
        """Start again with a new run's plan, numbered by `order`."""
        self.plan, self.states, self.current, self.operation = list(plan), {}, None, ""
        self.order = tuple(order)
        self.happened = set()
        self.budget = self.timer = None
        self.refresh(layout=True)

    def start(self, phase: Phase, operation: str = "") -> None:
        """`phase` is running (earlier ones are done)."""
        self._close_current()
        self.current, self.operation = phase, operation
        self.states.setdefault(phase, "current")
        self.refresh(layout=True)

    def saw(self, phase: Phase) -> None:
        """A frame or a report shows that `phase` happened."""
        self.happened.add(phase)

    def _close_current(self) -> None:
        """The running phase ends: done if it happened, skipped if it did not."""
        current = self.current
        if current is not None and self.states.get(current) != "failed":
            self.states[current] = "done" if current in self.happened else "skipped"

    def fail(self, phase: Phase) -> None:
        """`phase` failed."""
        self.states[phase] = "failed"
        self.refresh()

    def finish(self) -> None:
        """The run is over: the running phase ends as `start` ends it."""
        self._close_current()
        self.current = None
        self.refresh()

    def follow(self, plan: list[Phase]) -> None:
        """The run settled its plan (its endpoint step drops tls for amqp://)."""
        if plan != self.plan:
            self.plan = list(plan)
            self.refresh(layout=True)

    def watch_budget(self) -> None:
        """Redraw the countdown."""
        self.refresh(layout=True)

    def watch_timer(self) -> None:
        """Redraw the wait."""
        self.refresh(layout=True)

    def render(self) -> Text:
        """One line per phase, then the handshake budget when it runs."""
        text = Text()
        for phase in self.plan:
            state = self.states.get(phase, "next")
            label = phase.value
            if phase is self.current and self.operation:
                label += f": {self.operation}"
            style = self.get_component_rich_style(f"phase-rail--{state}")
            number = self.number(phase)
            text.append(f"{MARKS[state]} {number:>2} {label}\n", style=style)
        style = self.get_component_rich_style("phase-rail--budget")
        if self.budget is not None:
            text.append(f"handshake: {self.budget:4.1f} s left\n", style=style)
        if self.timer is not None:
            what, waited, most = self.timer
            text.append(f"waiting for {what}\n", style=style)
            text.append(
                f"{bar(waited / most if most else 1.0)} {waited:4.1f}/{most:g} s"
            )
        text.rstrip()
        return text

    def on_click(self, event: events.Click) -> None:
        """Ask for the lesson of the phase clicked."""
        row = event.get_content_offset(self)
        if row is not None and 0 <= row.y < len(self.plan):
            self.post_message(self.PhaseClicked(self.plan[row.y]))
