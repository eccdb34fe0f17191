"""The explorer over several connections: a list of them, one explored at a time.

Owns SeveralApp, the explorer with the list of its connections above the
frames and the lesson (explorer.ui.widgets.connection_list). It explores one
connection at a time, so every pane shows that connection's frames only:
choosing another (] and [, the list itself with enter or a click, or the
palette) tells the panes its steps shown so far, from its start, and leaves
the other where it was. What the explorer's own connection has and these do
not (experiments, the pace, restart) is refused with the reason. The watch
and the packet file that fill the list are explorer.ui.watching's.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property
from typing import ClassVar, Final, Protocol

from textual import on
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import OptionList

from explorer.engine.events import EngineEvent, Listener, Stepper
from explorer.ui import palette
from explorer.ui.app import ExplorerApp
from explorer.ui.connections import StepperFactory
from explorer.ui.help import HelpScreen
from explorer.ui.panes import Panes
from explorer.ui.widgets.connection_list import ConnectionList, Listed

#: What the keys of the explorer's own connection do not do here, and why.
NOT_HERE: Final = {
    "experiment": "Experiments run on the explorer's own connection, made with "
    "your URL: `amqp-explorer` without a command runs them.",
    "race": "The pace is the client's: it went through its handshake as fast as "
    "it does, and each step shows what it did.",
    "restart": "The explorer did not make these connections: it shows them.",
}
#: How often the list's rows are brought up to date.
UPKEEP_INTERVAL: Final = 0.5


def ignored(event: EngineEvent) -> None:
    """The listener of a connection not shown: its events wait in it."""


class Explorable(Listed, Protocol):
    """A connection of the list: shown from its start by `attach`."""

    def attach(self, listener: Listener) -> Stepper:
        """Tell `listener` from now on, starting with every step shown so far."""


class SeveralApp(ExplorerApp):
    """The explorer over a list of connections, one explored at a time."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("right_square_bracket", "connection(1)", "Next conn"),
        Binding("left_square_bracket", "connection(-1)", "Prev conn", show=False),
        Binding("x", "experiment", "Experiment", show=False),
        Binding("c", "race", "Race the clock", show=False),
    ]
    #: Notifications below the list of connections (its most rows), over the
    #: lesson, as explorer.tcss has them below the status line.
    CSS = """
    Screen ToastRack { margin-top: 8; }
    Screen.-narrow ToastRack { margin-top: 6; }
    """
    #: What the keys do where it differs from the explorer's own connection.
    DESCRIBED: ClassVar[dict[str, str]] = {}

    def __init__(
        self,
        connections: list[Explorable],
        first: StepperFactory,
        *,
        source: str,
        empty: str = "",
        predict: bool = False,
        url: str | None = None,
    ) -> None:
        """Explore what `first` makes: the first of `connections`, or a stepper
        saying what there is while there is none.

        The list says `empty` while there is no connection; `predict` asks the
        predictions before the steps that answer them (never of a recording);
        `url` is the broker's (its view is asked there).
        """
        super().__init__(first, source=source, predict=predict, url=url)
        self.listed = connections
        #: The index of the connection explored, and those explored at some time.
        self.explored: int | None = 0 if connections else None
        self.seen: set[int] = {0} if connections else set()
        self.connection_list = ConnectionList(empty, id="connections")
        self.connection_list.border_title = f"Connections · {source}"

    @cached_property
    def panes(self) -> Panes:
        """The panes, the list of connections above the frames and the lesson."""
        return Panes(self.connection_list)

    def on_mount(self) -> None:
        """List what there is; keep the list up to date."""
        self.upkeep()
        self.set_interval(UPKEEP_INTERVAL, self.upkeep)

    def upkeep(self) -> None:
        """Bring the list's rows up to date."""
        self.connection_list.show(self.listed, self.explored, self.seen)

    # Choosing ---

    def explore_connection(self, index: int) -> None:
        """Show connection `index` from its start, in place of the one shown."""
        self.steps.cancel()
        if self.explored is not None:
            self.listed[self.explored].attach(ignored)
        self.explored = index
        self.seen.add(index)
        connection = self.listed[index]
        where = f"{index + 1}/{len(self.listed)} {connection.name}"
        self.explore(connection.attach, where)
        self.upkeep()
        self.connection_list.highlighted = index

    @on(OptionList.OptionSelected, "#connections")
    def _chosen(self, message: OptionList.OptionSelected) -> None:
        if message.option_index != self.explored:
            self.explore_connection(message.option_index)

    def action_connection(self, delta: int) -> None:
        """Explore the next (or previous) connection of the list."""
        if not self.listed:
            self.nothing_yet()
            return
        now = self.explored if self.explored is not None else -1
        self.explore_connection((now + delta) % len(self.listed))

    def nothing_yet(self) -> None:
        """Say there is no connection to explore yet, and what it waits for."""
        self.notify(self.stepper.clock().state, title="Nothing has connected yet")

    # What does not apply ---

    def action_experiment(self) -> None:
        """Not here: say why."""
        self.notify(NOT_HERE["experiment"])

    async def action_race(self) -> None:
        """Not here: say why."""
        self.notify(NOT_HERE["race"])

    async def action_restart(self) -> None:
        """Not here: say why."""
        self.notify(NOT_HERE["restart"])

    def action_help(self) -> None:
        """List every key that does something here."""
        keys = [
            b
            for b in [*ExplorerApp.BINDINGS, *SeveralApp.BINDINGS]
            if isinstance(b, Binding) and b.action not in NOT_HERE
        ]
        self.push_screen(HelpScreen(keys, self.DESCRIBED))

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """Textual's commands, one per connection, then those on the one shown."""
        yield from App.get_system_commands(self, screen)
        for index, connection in enumerate(self.listed):
            client = connection.client or "client not named yet"
            yield SystemCommand(
                f"Connection {index + 1}: {connection.name}",
                f"Explore it: {client}, {connection.state}",
                lambda index=index: self.explore_connection(index),
            )
        yield from palette.studying(self)
