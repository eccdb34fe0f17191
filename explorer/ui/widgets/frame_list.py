"""FrameList: every frame of the connection, one row each, fast at 100k rows.

Owns the frame list pane: its rows (frames, phase failures and phase reports),
their columns and colours, the cursor and the Selected message (what the rows
say comes from labels.py, which items each row shows from folding.py). It is a
Line-API ScrollView: adding rows costs O(batch) and painting reads only
visible rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar, Final

from rich.segment import Segment
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from explorer.engine.events import EngineEvent, FrameObserved, PhaseFailed, PhaseReport
from explorer.protocol.frames import Direction, Frame
from explorer.protocol.lifecycle import BELOW_AMQP
from explorer.ui.widgets.folding import Rows, is_heartbeat
from explorer.ui.widgets.labels import frame_row, header_text, note_row, refused

#: What a row shows: a frame from the wire, a phase that failed, or what a
#: phase reported (the phases below AMQP have nothing else to show).
FrameListItem = Frame | PhaseFailed | PhaseReport


def listed(event: EngineEvent) -> bool:
    """Whether the frame list shows this event of the engine as an item.

    Every frame and every failure; a report only for a phase below AMQP,
    which no frame shows, or for an experiment's stage (what the broker
    recorded at that moment, which no frame shows either).
    """
    if isinstance(event, PhaseReport):
        return event.phase in BELOW_AMQP or "stage" in event.facts
    return isinstance(event, FrameObserved | PhaseFailed)


#: The column titles take the first line of the view and never scroll.
HEADER_LINES: Final = 1
#: The tone of a broker frame that refuses something: it colours the whole row.
WARNING: Final = "frame-list--warning"


class FrameList(ScrollView, can_focus=True, inherit_bindings=False):
    """The frames of a connection in wire order, with a cursor.

    Rows are added in batches with `add`. While the cursor is on the last row,
    the list follows new rows; otherwise the cursor and the view stay put.

    A frame's name is shown in full when it fits, else with its class
    abbreviated (labels.CLASS_ABBREVIATIONS), and may use the cells the size
    leaves blank. In a pane 38 columns wide (its border and scrollbar
    included) every frame pamqp knows keeps its whole method; only a
    Connection.UpdateSecret over 9,999 bytes would not.
    """

    DEFAULT_CSS = """
    FrameList {
        height: 1fr;
        overflow-x: hidden;
        scrollbar-size-vertical: 1;
        background: $surface;
        color: $foreground;
        & > .frame-list--header { color: $text-muted; text-style: bold; }
        & > .frame-list--muted { color: $text-muted; }
        & > .frame-list--client { color: $text-primary; }
        & > .frame-list--broker { color: $text-accent; }
        & > .frame-list--heartbeat { color: $text-muted; }
        & > .frame-list--error { color: $text-error; background: $error-muted; }
        & > .frame-list--report { color: $text-secondary; text-style: italic; }
        & > .frame-list--warning {
            color: $text-warning;
            background: $warning-muted;
        }
        & > .frame-list--cursor {
            background: $block-cursor-blurred-background;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .frame-list--cursor {
            color: $block-cursor-foreground;
            background: $block-cursor-background;
            text-style: $block-cursor-text-style;
        }
    }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "frame-list--header",
        "frame-list--muted",
        "frame-list--client",
        "frame-list--broker",
        "frame-list--heartbeat",
        "frame-list--error",
        "frame-list--report",
        "frame-list--warning",
        "frame-list--cursor",
    }
    """
    | Class | Description |
    | :- | :- |
    | `frame-list--header` | The column titles. |
    | `frame-list--muted` | Time, channel and size cells. |
    | `frame-list--client` | Arrow and name of a frame the client sent. |
    | `frame-list--broker` | Arrow and name of a frame the broker sent. |
    | `frame-list--heartbeat` | A heartbeat row. |
    | `frame-list--error` | A phase that failed (the whole row). |
    | `frame-list--report` | What a phase reported (the whole row). |
    | `frame-list--warning` | A broker frame refusing something (labels.refused). |
    | `frame-list--cursor` | The row under the cursor. |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1)", "Previous frame", show=False),
        Binding("down", "move(1)", "Next frame", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "first", "First frame", show=False),
        Binding("end", "last", "Last frame", show=False),
    ]

    fold_heartbeats: reactive[bool] = reactive(True, init=False)
    """Show each run of consecutive heartbeats as one row."""

    class Selected(Message):
        """The cursor moved to another row."""

        def __init__(
            self, frame_list: FrameList, item: FrameListItem, index: int
        ) -> None:
            """Describe the row now under the cursor.

            Args:
                frame_list: The list whose cursor moved.
                item: The frame, failure or report on that row; for a folded
                    heartbeat row, its last heartbeat.
                index: The row number, as `FrameList.select` takes it.
            """
            self.frame_list = frame_list
            self.item = item
            self.index = index
            super().__init__()

        @property
        def control(self) -> FrameList:
            """The list whose cursor moved."""
            return self.frame_list

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        """Start empty, with no cursor."""
        super().__init__(name=name, id=id, classes=classes)
        self._items: list[FrameListItem] = []
        #: Which items each row shows; it grows with the rows.
        self._rows = Rows()
        self._cursor = -1
        #: The item the cursor's row stood for when Selected was last posted.
        self._cursor_item = -1
        #: Capture time of the first frame: row times are relative to it.
        self._t0: float | None = None

    @property
    def items(self) -> Sequence[FrameListItem]:
        """Everything added so far, in order, folded or not."""
        return self._items

    @property
    def row_count(self) -> int:
        """Rows on display (a folded heartbeat run counts once)."""
        return len(self._rows)

    @property
    def cursor_row(self) -> int:
        """The row under the cursor, or -1 while the list is empty."""
        return self._cursor

    @property
    def selected_item(self) -> FrameListItem | None:
        """The item the cursor's row stands for, as Selected reports it."""
        return self.item_at(self._cursor) if self._cursor >= 0 else None

    def item_at(self, row: int) -> FrameListItem:
        """The item a row stands for: for a folded run, its last heartbeat.

        Args:
            row: A row number, 0 to row_count - 1.
        """
        return self._items[self._rows.last[row]]

    def add(self, rows: Iterable[FrameListItem]) -> None:
        """Append a batch of frames, failures and reports, in wire order.

        Costs O(len(rows)) whatever is already in the list.

        Args:
            rows: The new items.
        """
        start, old_rows = len(self._items), len(self._rows)
        self._items.extend(rows)
        if len(self._items) == start:
            return
        if self._t0 is None:
            self._t0 = next(
                (i.t for i in self._items[start:] if isinstance(i, Frame)), None
            )
        following = self._cursor == old_rows - 1
        for index in range(start, len(self._items)):
            self._rows.place(self._items, index, self.fold_heartbeats)
        self._update_virtual_size()
        if following:
            self._move_cursor(len(self._rows) - 1)
        # The old last row may have grown: a heartbeat run got longer.
        self._refresh_rows(max(old_rows - 1, 0), len(self._rows))

    def clear(self) -> None:
        """Remove every row and the cursor."""
        self._items.clear()
        self._rows.clear()
        self._cursor = self._cursor_item = -1
        self._t0 = None
        self._update_virtual_size()
        self.scroll_home(animate=False, immediate=True)
        self.refresh()

    def select(self, index: int) -> None:
        """Move the cursor to a row (clamped to the rows there are).

        Posts Selected when the cursor lands on another row, or its row now
        stands for another item (a folded heartbeat run that grew).

        Args:
            index: The row number.
        """
        if self._rows:
            self._move_cursor(max(0, min(index, len(self._rows) - 1)))

    def select_last(self) -> None:
        """Move the cursor to the last row, so the list follows new rows."""
        self.select(len(self._rows) - 1)

    def move(self, delta: int) -> None:
        """Move the cursor by `delta` rows (negative: up).

        Args:
            delta: How many rows to move.
        """
        self.select(max(self._cursor, 0) + delta)

    def action_move(self, delta: int) -> None:
        """Move the cursor by `delta` rows."""
        self.move(delta)

    def action_page(self, pages: int) -> None:
        """Move the cursor by whole pages of rows."""
        self.move(pages * max(self._body_height, 1))

    def action_first(self) -> None:
        """Move the cursor to the first row."""
        self.select(0)

    def action_last(self) -> None:
        """Move the cursor to the last row."""
        self.select_last()

    def watch_fold_heartbeats(self) -> None:
        """Rebuild the display index, keeping the cursor on the same item."""
        rows = self._rows
        item = rows.last[self._cursor] if self._cursor >= 0 else -1
        following = self._cursor == len(rows) - 1
        rows.rebuild(self._items, self.fold_heartbeats)
        self._update_virtual_size()
        if item >= 0:
            row = len(rows) - 1 if following else rows.row_of(item)
            self._move_cursor(row)
            self._scroll_to_row(row)  # row numbers changed, even if this one did not
        self.refresh()

    def on_click(self, event: events.Click) -> None:
        """Select the row under the mouse."""
        offset = event.get_content_offset(self)
        if offset is None or offset.y < HEADER_LINES:
            return
        row = self.scroll_offset.y + offset.y - HEADER_LINES
        if row < len(self._rows):
            self.select(row)

    def render_line(self, y: int) -> Strip:
        """One line of the view: the column titles, a row, or blank."""
        width = self.scrollable_content_region.width
        if y < HEADER_LINES:
            return self._header_strip(width)
        row = self.scroll_offset.y + y - HEADER_LINES
        if row >= len(self._rows):
            return Strip.blank(width, self.rich_style)
        return self._row_strip(row, width)

    @property
    def _body_height(self) -> int:
        """Rows that fit under the column titles."""
        return self.scrollable_content_region.height - HEADER_LINES

    def _update_virtual_size(self) -> None:
        # Width 0: the name column takes whatever width there is, so the list
        # never scrolls sideways.
        self.virtual_size = Size(0, len(self._rows) + HEADER_LINES)

    def _move_cursor(self, row: int) -> None:
        """Put the cursor on `row`, scroll it into view and report it."""
        previous, self._cursor = self._cursor, row
        if previous != row:
            self._refresh_rows(previous, previous + 1)
            self._refresh_rows(row, row + 1)
            self._scroll_to_row(row)
        if (previous, self._cursor_item) != (row, self._rows.last[row]):
            self._cursor_item = self._rows.last[row]
            self.post_message(self.Selected(self, self.item_at(row), row))

    def _scroll_to_row(self, row: int) -> None:
        top, height = self.scroll_offset.y, max(self._body_height, 1)
        if row < top:
            self.scroll_to(y=row, animate=False)
        elif row >= top + height:
            self.scroll_to(y=row - height + 1, animate=False)

    def _refresh_rows(self, start: int, end: int) -> None:
        """Repaint rows start..end-1, but only the part that is on screen."""
        top = self.scroll_offset.y
        start, end = max(start, top), min(end, top + self._body_height)
        if start < end:
            self.refresh_lines(start + HEADER_LINES, end - start)

    def _header_strip(self, width: int) -> Strip:
        style = self.get_component_rich_style("frame-list--header")
        return Strip([Segment(header_text(width), style)]).crop_extend(0, width, style)

    def _row_strip(self, row: int, width: int) -> Strip:
        item = self.item_at(row)
        cursor = ("frame-list--cursor",) if row == self._cursor else ()
        if not isinstance(item, Frame):
            failed = isinstance(item, PhaseFailed)
            tone = "frame-list--error" if failed else "frame-list--report"
            style = self.get_component_rich_style(tone, *cursor)
            strip = Strip([Segment(note_row(item, width), style)])
            return strip.crop_extend(0, width, style)
        tone = self._tone(item)
        quiet = tone if tone == WARNING else "frame-list--muted"
        muted = self.get_component_rich_style(quiet, *cursor)
        toned = self.get_component_rich_style(tone, *cursor)
        since = item.t if self._t0 is None else self._t0
        count = self._rows.count(row)
        cells = frame_row(item, since, width, count, row in self._rows.mixed)
        segments = [
            Segment(cells.time, muted),
            Segment(cells.arrow, toned),
            Segment(cells.channel, muted),
            Segment(cells.name, toned),
            Segment(cells.size, muted),
        ]
        return Strip(segments).crop_extend(0, width, muted)

    def _tone(self, frame: Frame) -> str:
        """The component class that colours a frame's arrow and name."""
        if refused(frame):
            return WARNING
        if is_heartbeat(frame):
            return "frame-list--heartbeat"
        if frame.direction is Direction.CLIENT_TO_BROKER:
            return "frame-list--client"
        return "frame-list--broker"
