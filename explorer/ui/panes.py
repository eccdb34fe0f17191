"""The explorer's panes beside the status line: built, laid out and emptied.

Owns the widgets of the screen's body (the panels under the phase rail; the
frame list, lesson, field tree and bytes) and their layout, read from
explorer.tcss. The app builds them when first needed, once its status line is
painted, so the first frame costs no more than the status line.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Final

from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Footer, Markdown

from explorer.protocol.dialect import AMQP_0_9_1, Dialect
from explorer.ui.widgets.field_tree import FieldTree
from explorer.ui.widgets.frame_list import FrameList
from explorer.ui.widgets.hex_view import HexView
from explorer.ui.widgets.panels import AuthPanel, ExperimentPanel, NegotiationPanel

if TYPE_CHECKING:
    from explorer.ui.brokerpane import BrokerPane

#: The panes' layout, and the question screen's: all but the status line's CSS.
PANES_CSS: Final = Path(__file__).with_name("explorer.tcss")


class Panes:
    """The screen's body, held here: a query would search whatever screen is on top."""

    def __init__(self, *above: Widget) -> None:
        """Build every pane, empty; `above` go above the frames and the lesson
        (the connections a `watch` has seen, say)."""
        self.above = above
        #: What the tune phase settled, who logged in, the experiment under way.
        self.negotiation = NegotiationPanel(id="negotiation")
        self.auth = AuthPanel(id="auth")
        self.experiment = ExperimentPanel(id="experiment")
        #: Every frame, failure and report of the connection, one row each.
        self.frame_list = FrameList(id="frames")
        #: The lesson's text (which lesson: explorer.ui.lessons), and its pane.
        self.lesson = Markdown(id="lesson")
        self.lesson_pane = VerticalScroll(self.lesson, id="lesson-pane")
        #: The fields and the bytes of the frame selected.
        self.fields = FieldTree(id="fields")
        self.hex = HexView(id="hex")
        #: The broker's view, in the lesson's place: built when first asked for.
        self.broker: BrokerPane | None = None

    def layout(self, rail: Widget) -> list[Widget]:
        """The body, then the key bar: `rail` and the panels left; the frames,
        the lesson, the fields and the bytes right."""
        return [
            Horizontal(
                VerticalScroll(
                    rail, self.negotiation, self.auth, self.experiment, id="left"
                ),
                Vertical(
                    *self.above,
                    Horizontal(
                        self.frame_list,
                        self.lesson_pane,
                        id="top",
                    ),
                    Horizontal(self.fields, self.hex, id="bottom"),
                    id="right",
                ),
                id="body",
            ),
            Footer(),
        ]

    def clear(self, dialect: Dialect = AMQP_0_9_1) -> None:
        """Show nothing of the connection: a new one, speaking `dialect`, starts."""
        self.frame_list.clear()
        self.negotiation.clear(dialect)
        self.auth.clear(dialect)
        self.fields.show(None)
        self.hex.show(None)
        self.experiment.clear()
