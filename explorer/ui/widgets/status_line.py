"""The status line: where the lifecycle is, the pace, and the broker's clock.

Owns the one line at the top of the screen. At any width from 80 columns up
it says the current phase and its number, the pace in force and what the
broker's clock is doing; the other parts (a timer the engine waits for, the
broker's version, the source) give way first, and the clock is shortened last.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from explorer.engine.events import Clock

#: How each pace is named on screen.
PACES: Final = {
    "learner": "your pace",
    "race": "RACE mode",
    "recording": "RECORDING",
    "watched": "the client's pace",
}
SEPARATOR: Final = " │ "


@dataclass(frozen=True, slots=True)
class Status:
    """What the status line shows."""

    #: "▶ 6/13 start", or "" before the first step.
    phase: str
    clock: Clock
    #: The broker timer being waited for ("waiting 2.1/13 s"), or "".
    waiting: str = ""
    #: Where the connection goes, or which recording ("" for none).
    source: str = ""
    #: The broker's product and version from its Connection.Start, once seen.
    broker: str = ""


def status_text(status: Status, width: int) -> str:
    """The line for `status`, fitted to `width` columns.

    The phase, the pace and the clock always stay; the source goes first,
    then the broker's version, then the timer; a clock too long for what is
    left ends in "…".
    """
    pace = PACES.get(status.clock.pace, status.clock.pace)
    must = [p for p in (status.phase, f"{pace}: {status.clock.state}") if p]
    optional = [p for p in (status.waiting, status.broker, status.source) if p]
    while optional:
        line = SEPARATOR.join(must + optional)
        if len(line) <= width:
            return line
        optional.pop()
    line = SEPARATOR.join(must)
    return line if len(line) <= width else line[: max(0, width - 1)] + "…"


class StatusLine(Widget):
    """One line, never cut: phase, pace and clock, then what fits."""

    DEFAULT_CSS = """
    StatusLine {
        height: 1; width: 1fr; padding: 0 1;
        background: $panel; color: $text; text-style: bold;
    }
    StatusLine.-race { background: $warning 40%; }
    StatusLine.-gone { background: $error 40%; }
    """

    status: reactive[Status | None] = reactive(None)

    def watch_status(self, status: Status | None) -> None:
        """Colour the line by the pace and whether the connection is gone."""
        clock = status.clock if status is not None else Clock("", None, "")
        racing = clock.pace == "race" and clock.handshake_left is not None
        self.set_class(racing, "-race")
        self.set_class(clock.state.startswith("closed"), "-gone")

    def render(self) -> Text:
        """The status, fitted to the line's width."""
        if self.status is None:
            return Text("")
        return Text(status_text(self.status, self.content_size.width), no_wrap=True)
