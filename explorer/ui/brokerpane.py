"""The broker's view beside the wire: what RabbitMQ recorded of the connection shown.

Owns the broker-view pane (the b key), which takes the lesson's place while it
is shown: for the explorer's own connection (its client port) or a watched one
(the watch proxy's port toward the broker, the peer the broker sees), the
fields the broker recorded, which source answered (rabbitmqctl or the
management API) and what was asked, set beside the frames that crossed so far
(shown on screen or not yet), each difference highlighted with the rule that
explains it (explorer.lab.viewdiff; viewdiff10 for AMQP 1.0). A follower
(explorer.lab.brokerview) asks again every few seconds while the pane is
shown and tells each change.
A recording asks nothing: its connection is gone. The app imports this module
only when the learner first asks for the pane, so nothing here (nor the lab's
HTTP and rabbitmqctl code) loads before the first paint.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from rich.console import Group
from rich.padding import Padding
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Static

from explorer.engine.core import Engine
from explorer.engine.watched import WatchedConnection
from explorer.lab.brokerview import BrokerView, follow
from explorer.lab.viewdiff import Difference, differences
from explorer.lab.viewdiff10 import differences_1_0, one_oh
from explorer.protocol.fields import JSON
from explorer.protocol.frames import Frame

if TYPE_CHECKING:
    from explorer.ui.app import ExplorerApp

#: How often the pane is brought up to date (the follower asks every 2 s).
UPKEEP_INTERVAL: Final = 0.5
#: A piece of the pane's text, and how many columns it is indented.
Piece = tuple[int, Text]
#: A value longer than this is cut with "…".
VALUE_WIDTH: Final = 60


@dataclass(frozen=True, slots=True)
class Peer:
    """A live connection as the broker sees it, and its frames."""

    #: The client's address (host:port) as the broker sees it.
    address: str
    #: The broker's AMQP URL (its user logs in to the management API).
    url: str
    #: Every frame that crossed so far, shown on screen or not.
    frames: Callable[[], Sequence[Frame]]
    #: The application's own address, when a proxy stands between.
    client: str
    #: What the broker's peer is, in words.
    whose: str


def peer_of(app: ExplorerApp) -> Peer | str:
    """The connection shown, as the broker sees it; or why the broker is not asked."""
    stepper = app.stepper
    if stepper.recording:
        return (
            "A recording: the broker is not asked. Its connection ended when it "
            "was recorded; the broker's view is of a live connection."
        )
    if isinstance(stepper, WatchedConnection):
        relay = stepper.relay
        if not relay.upstream_address:
            return "The proxy has not reached the broker for this connection yet."
        return Peer(
            relay.upstream_address,
            app.url,
            lambda: stepper.frames,
            relay.tap.client_address,
            "the watch proxy's socket to the broker, not your application's",
        )
    if isinstance(stepper, Engine):
        if not stepper.tap.client_address:
            return "No TCP connection yet: the broker records one from its tcp step."
        return Peer(
            stepper.tap.client_address,
            stepper.url,
            lambda: stepper.frames,
            stepper.tap.client_address,
            "the explorer's own socket",
        )
    return "Nothing has connected yet."


class BrokerPane(VerticalScroll):
    """The broker's record of the connection shown, beside its frames."""

    DEFAULT_CSS = """
    BrokerPane { width: 1fr; padding: 0 1; display: none; }
    BrokerPane.-shown { display: block; }
    """

    def __init__(self, app: ExplorerApp) -> None:
        """A pane for `app`'s connections, hidden until `toggle`."""
        super().__init__(id="broker-view")
        self.explorer = app
        self.body = Static()
        #: The connection followed, the task following it, what it told last.
        #: (A task, not a worker: the app's workers all end, this one only
        #: once the broker no longer lists the connection.)
        self._peer: Peer | None = None
        self._follower: asyncio.Task[None] | None = None
        self._view: BrokerView | None = None
        #: What the pane shows now, as plain text.
        self.plain = ""

    def compose(self) -> ComposeResult:
        """The pane's text."""
        yield self.body

    @property
    def shown(self) -> bool:
        """Whether the pane is on screen (in the lesson's place)."""
        return self.has_class("-shown")

    def toggle(self) -> None:
        """Show the pane in the lesson's place, or hide it and stop asking."""
        shown = not self.shown
        self.set_class(shown, "-shown")
        self.explorer.panes.lesson_pane.display = not shown
        if shown:
            self.upkeep()
        else:
            self._stop()

    def upkeep(self) -> None:
        """Follow the connection shown now (another one, or one just connected)
        and show what the broker told last beside the frames."""
        if not self.shown:
            return
        peer = peer_of(self.explorer)
        if not isinstance(peer, Peer):
            self._stop()
            self._show([(0, Text(peer, "dim"))])
            return
        if self._peer is None or self._peer.address != peer.address:
            self._stop()
            self._peer = peer
            self._follower = asyncio.create_task(
                follow(_port(peer.address), peer.url, self._viewed)
            )
            self._follower.add_done_callback(self._ended)
        self._show(self._text(peer))

    def _viewed(self, view: BrokerView) -> None:
        self._view = view
        self.upkeep()

    def _ended(self, follower: asyncio.Task[None]) -> None:
        """The follower stopped: the connection is gone, or it failed (said)."""
        if follower.cancelled() or follower.exception() is None:
            return
        self._show([(0, Text(f"asking the broker failed: {follower.exception()}"))])

    def _stop(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
        self._follower = None
        self._peer = None
        self._view = None

    def on_unmount(self) -> None:
        """The app is closing: stop asking."""
        self._stop()

    def _show(self, pieces: list[Piece]) -> None:
        """Show `pieces`, each indented as it says, if they say something new."""
        told = "\n".join(f"{indent}{text.plain}" for indent, text in pieces)
        if told != self.plain:
            self.plain = told
            self.body.update(
                Group(*(Padding(text, (0, 0, 0, indent)) for indent, text in pieces))
            )

    def _text(self, peer: Peer) -> list[Piece]:
        """Which source answered, each field beside the wire, what was asked."""
        view = self._view
        title = Text("The broker's view", style="bold")
        if view is not None:
            title.append(f" · {view.source or 'no source answered'}")
        pieces = [(0, title), (0, Text(f"of {peer.address}, {peer.whose}", "dim"))]
        if view is None:
            return [*pieces, (0, Text("asking the broker…", "dim"))]
        if view.listed:
            frames = peer.frames()
            beside = (
                f"beside the {len(frames)} frames that crossed so far, shown or not"
            )
            pieces.append((0, Text(beside + "\n", "dim")))
            compare = differences_1_0 if one_oh(frames) else differences
            rows = compare(view, frames, peer.client)
            pieces += [piece for row in rows for piece in _row(row)]
            pieces += _whys([row for row in rows if not row.agrees])
        else:
            problem = view.problem or "the broker lists no such connection"
            pieces.append((0, Text(f"\n{problem}")))
        if view.note:
            pieces.append((0, Text(f"\nnote: {view.note}", "dim")))
        if view.asked:
            pieces.append((0, Text(f"\nasked: {view.asked}", "dim")))
        return pieces


def _row(row: Difference) -> list[Piece]:
    """One field: ✓ and its value where the wire agrees; ✗, the broker's, the wire's."""
    mark, style = ("✓", "green") if row.agrees else ("✗", "bold yellow")
    line = Text()
    line.append(f"{mark} {row.field:<15}", style)
    line.append(f" {_value(row.broker)}", "" if row.agrees else "bold")
    if row.agrees:
        return [(0, line)]
    return [(0, line), (18, Text(f"wire: {_value(row.wire)}", "yellow"))]


def _whys(rows: list[Difference]) -> list[Piece]:
    """Why each field that differs does: its rule, where it is written, where seen."""
    pieces: list[Piece] = []
    for row in rows:
        pieces.append((0, Text(f"\n✗ {row.field}", "bold yellow")))
        pieces.append((2, Text(row.why, "italic")))
        seen = ", ".join(row.seen_on)
        pieces.append((2, Text(f"{row.source}; seen on {seen}", "dim")))
    return pieces


def _value(value: JSON) -> str:
    """A value in one short line (a table by its size)."""
    if value is None:
        return "—"
    if isinstance(value, dict):
        return f"{len(value)} entries"
    shown = str(value)
    return shown if len(shown) <= VALUE_WIDTH else shown[: VALUE_WIDTH - 1] + "…"


def _port(address: str) -> int:
    """The port of ``host:port`` (``[v6]:port``)."""
    return int(address.rpartition(":")[2])


async def toggle(app: ExplorerApp) -> None:
    """The b key: show the broker's view in the lesson's place, or hide it."""
    pane = app.panes.broker
    if pane is None:
        pane = BrokerPane(app)
        lesson = app.panes.lesson_pane
        top = lesson.parent
        assert isinstance(top, Widget)
        await top.mount(pane, after=lesson)
        app.panes.broker = pane
        app.set_interval(UPKEEP_INTERVAL, pane.upkeep)
    pane.toggle()
