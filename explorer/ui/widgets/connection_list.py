"""ConnectionList: the connections a `watch` (or a packet file) holds, one row each.

Owns the list above the frames when the app shows several connections: one
row per connection (its number, the client's address, where it is, the client
library its StartOk named), the one explored marked, those never explored
marked new, and what the list says before any connection came. Choosing a row
(enter, or a click) is OptionList's OptionSelected; the app explores it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Protocol

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

#: The columns a row's client address and state are padded to.
ADDRESS_WIDTH: Final = 22
STATE_WIDTH: Final = 13


class Listed(Protocol):
    """What a row shows of one connection."""

    @property
    def name(self) -> str:
        """The client's address (host:port), as the connection is named."""

    @property
    def client(self) -> str:
        """The client library and version its StartOk named ("" before it)."""

    @property
    def state(self) -> str:
        """Where the connection is, in a word or two."""


def row_text(number: int, connection: Listed, *, explored: bool, new: bool) -> Text:
    """One connection's row: mark, number, address, state and client library."""
    mark = "▶" if explored else "•" if new else " "
    row = Text(no_wrap=True, overflow="ellipsis")
    row.append(f"{mark} {number:>2}  ", style="bold" if explored else "")
    row.append(f"{connection.name:<{ADDRESS_WIDTH}} ")
    row.append(f"{connection.state:<{STATE_WIDTH}} ", style="italic")
    client = connection.client
    row.append(client or "no StartOk yet", style="" if client else "dim")
    return row


class ConnectionList(OptionList):
    """Every connection so far; the one explored is marked ▶, new ones •."""

    DEFAULT_CSS = """
    ConnectionList {
        height: auto; max-height: 7; padding: 0 1;
        border: round $primary 40%; border-title-align: left;
    }
    Screen.-narrow ConnectionList { max-height: 5; }
    """

    def __init__(self, empty: str, *, id: str | None = None) -> None:
        """A list saying `empty` until the first connection comes."""
        super().__init__(id=id)
        self._rows: list[Text] = []
        self.say(empty)

    def say(self, empty: str) -> None:
        """Say `empty` while there is no connection."""
        if not self._rows:
            self.set_options([Option(Text(empty, style="dim"), disabled=True)])

    def show(
        self, connections: Sequence[Listed], explored: int | None, seen: set[int]
    ) -> None:
        """Bring the rows up to date: `explored` is the index of the one shown,
        `seen` those explored at some time (the others are marked new)."""
        rows = [
            row_text(
                index + 1,
                connection,
                explored=index == explored,
                new=index not in seen,
            )
            for index, connection in enumerate(connections)
        ]
        if rows and not self._rows:
            self.clear_options()
        for index, row in enumerate(rows):
            if index >= len(self._rows):
                self.add_option(Option(row))
            elif row.plain != self._rows[index].plain:
                self.replace_option_prompt_at_index(index, row)
        self._rows = rows
        if explored is not None and self.highlighted is None:
            self.highlighted = explored
