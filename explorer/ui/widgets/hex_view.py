"""HexView: one frame's bytes as an annotated `hexdump -C`, coloured by field.

Owns the hex pane (hexdump.py lays out a dump line's columns): colouring
each byte by the FieldKind of the byte-map leaf that holds it, the selected
span, the byte cursor and the ByteClicked message; for a phase
report, the text it shows instead of bytes; and a height that follows what it
shows. Pygments' hexdump lexer (through textual.highlight) styles the offset
and ASCII columns; the field colours are laid over its hex tokens. Lines are
built only when they are painted, and the byte map's leaves read only as far
as the lines painted need, so a 128 KiB body, or a header table of 13,000
entries, costs no more to show than a heartbeat.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from typing import ClassVar, Final

from rich.segment import Segment
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.color import Color
from textual.content import Span
from textual.css.styles import RenderStyles
from textual.geometry import Size
from textual.highlight import highlight
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.style import Style as VisualStyle

from explorer.engine.events import PhaseReport
from explorer.protocol.bytemap import ByteField, FieldKind, byte_map
from explorer.protocol.frames import Frame
from explorer.ui.widgets.hexdump import (
    NARROW,
    WIDE,
    ascii_start,
    byte_at_column,
    dump_line,
    hex_column,
    line_width,
)
from explorer.ui.widgets.labels import report_lines

#: Fewest columns a report's text is wrapped to, however narrow the pane.
NARROW_TEXT: Final = 20


class HexView(ScrollView, can_focus=True):
    """The bytes of one frame, each coloured by the field it belongs to.

    Or, for a phase report, why there are no bytes and the report's notes. The
    view is as tall as what it shows (the dump's lines, the offset line that
    ends it, or the report's lines), up to its container's height: in a
    container of ``height: auto; max-height: 50%`` the pane shrinks for a
    small frame and scrolls for a large one.
    """

    DEFAULT_CSS = """
    HexView {
        height: auto;
        max-height: 100%;
        background: $surface;
        color: $foreground;
        & > .hex-view--framing { color: $text-secondary; text-style: bold; }
        & > .hex-view--method { color: $text-accent; text-style: bold; }
        & > .hex-view--length { color: $text-warning; }
        & > .hex-view--key { color: $text-primary; }
        & > .hex-view--tag { color: $text-secondary; text-style: italic; }
        & > .hex-view--value { color: $text-success; }
        & > .hex-view--bits { color: $text-warning; text-style: underline; }
        & > .hex-view--body { color: $text-muted; }
        & > .hex-view--malformed { color: $text-error; background: $error-muted; }
        & > .hex-view--selected { text-style: reverse bold; }
        & > .hex-view--cursor { text-style: underline; }
        &:focus > .hex-view--cursor {
            color: $block-cursor-foreground;
            background: $block-cursor-background;
            text-style: $block-cursor-text-style;
        }
    }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        *(
            f"hex-view--{kind.value}"
            for kind in FieldKind
            if kind is not FieldKind.GROUP
        ),
        "hex-view--selected",
        "hex-view--cursor",
    }
    """
    | Class | Description |
    | :- | :- |
    | `hex-view--<kind>` | Bytes of a byte-map leaf of that FieldKind. |
    | `hex-view--selected` | The selected span, in both columns. |
    | `hex-view--cursor` | The byte cursor, in both columns. |

    `<kind>` is a FieldKind value: framing, method, length, key, tag, value,
    bits, body or malformed.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "move_cursor(-1)", "Previous byte", show=False),
        Binding("right", "move_cursor(1)", "Next byte", show=False),
        Binding("up", "move_cursor_line(-1)", "Byte above", show=False),
        Binding("down", "move_cursor_line(1)", "Byte below", show=False),
    ]

    selected: reactive[tuple[int, int] | None] = reactive(None, init=False)
    """The highlighted span as (offset, length), or None."""
    cursor: reactive[int] = reactive(0, init=False)
    """Offset of the byte under the keyboard cursor."""

    class ByteClicked(Message):
        """The learner picked a byte: clicked it, or moved the cursor onto it."""

        def __init__(self, hex_view: HexView, offset: int) -> None:
            """Name the byte.

            Args:
                hex_view: The view the byte was picked in.
                offset: The byte's offset from the start of the frame.
            """
            self.hex_view = hex_view
            self.offset = offset
            super().__init__()

        @property
        def control(self) -> HexView:
            """The view the byte was picked in."""
            return self.hex_view

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        """Start empty: nothing is shown until `show`."""
        super().__init__(name=name, id=id, classes=classes)
        self.frame: Frame | None = None
        #: The report shown instead of bytes, and its lines as wrapped.
        self.report: PhaseReport | None = None
        self._report_lines: list[str] = []
        self._raw = b""
        #: The byte map's leaves read so far, in byte order, and the rest.
        self._leaves: list[ByteField] = []
        self._unread: Iterator[ByteField] = iter(())
        #: Offsets where each leaf starts, to find a line's leaves by bisection.
        self._starts: list[int] = []
        self._lines: LRUCache[int, Strip] = LRUCache(256)
        self._styles: dict[str, VisualStyle] = {}
        #: Bytes per line: 16 when the pane is wide enough, else 8.
        self.per_line = WIDE

    def show(self, frame: Frame | None) -> None:
        """Show a frame's bytes (or nothing), cursor on its first byte.

        Args:
            frame: The frame, or None to clear the view.
        """
        self.frame, self.report, self._report_lines = frame, None, []
        self._raw = b"" if frame is None else frame.raw
        self._leaves, self._starts = [], []
        self._unread = iter(()) if frame is None else byte_map(frame).leaves()
        self.set_reactive(HexView.selected, None)
        self.set_reactive(HexView.cursor, 0)
        self._resize_dump()
        self.scroll_home(animate=False, immediate=True)

    def show_report(self, report: PhaseReport) -> None:
        """Show, instead of bytes, why a phase has none, then its notes.

        Args:
            report: What the phase reported (its facts go to the field tree).
        """
        self.show(None)
        self.report = report
        self._wrap(report)

    def on_resize(self) -> None:
        """Use 16 bytes a line when they fit, 8 when narrow; rewrap a report."""
        fits = self.scrollable_content_region.width >= line_width(WIDE)
        per_line = WIDE if fits else NARROW
        if per_line != self.per_line:
            self.per_line = per_line
            self._resize_dump()
        if self.report is not None:
            self._wrap(self.report)

    def _wrap(self, report: PhaseReport) -> None:
        width = max(self.scrollable_content_region.width, NARROW_TEXT)
        self._report_lines = report_lines(report, width)
        self.virtual_size = Size(width, len(self._report_lines))
        self.refresh()

    def _resize_dump(self) -> None:
        # One more line, as hexdump -C ends: the offset one past the last byte.
        lines = self._data_lines + 1 if self._raw else 0
        self.virtual_size = Size(line_width(self.per_line), lines)
        self._invalidate()

    def validate_cursor(self, offset: int) -> int:
        """Keep the cursor on a byte of the frame."""
        return max(0, min(offset, len(self._raw) - 1))

    def watch_cursor(self, previous: int, offset: int) -> None:
        """Repaint the lines the cursor left and entered, and keep it in view."""
        for line in {previous // self.per_line, offset // self.per_line}:
            self._lines.discard(line)
            self.refresh_line(line)
        self._scroll_to_offset(offset)

    def watch_selected(self, span: tuple[int, int] | None) -> None:
        """Repaint with the new span, scrolling it into view."""
        self._invalidate()
        if span is not None:
            self._scroll_to_offset(span[0])

    def action_move_cursor(self, delta: int) -> None:
        """Move the byte cursor and report the byte it lands on."""
        if self._raw:
            self.cursor += delta
            self.post_message(self.ByteClicked(self, self.cursor))

    def action_move_cursor_line(self, lines: int) -> None:
        """Move the byte cursor a line up or down."""
        self.action_move_cursor(lines * self.per_line)

    def on_click(self, event: events.Click) -> None:
        """Put the cursor on the clicked byte and report it."""
        where = event.get_content_offset(self)
        if where is None:
            return
        index = byte_at_column(where.x + self.scroll_offset.x, self.per_line)
        if index is None:
            return
        offset = (where.y + self.scroll_offset.y) * self.per_line + index
        if offset < len(self._raw):
            self.cursor = offset
            self.post_message(self.ByteClicked(self, offset))

    def notify_style_update(self) -> None:
        """Theme or focus changed: the cached lines carry the old colours."""
        super().notify_style_update()
        self._invalidate()

    def render_line(self, y: int) -> Strip:
        """One dump line (or report line), cropped to the visible columns."""
        scroll_x, scroll_y = self.scroll_offset
        width, line = self.scrollable_content_region.width, scroll_y + y
        if self.report is not None:
            text = self._report_lines[line] if line < len(self._report_lines) else ""
            return Strip([Segment(text, self.rich_style)]).crop_extend(
                scroll_x, scroll_x + width, self.rich_style
            )
        strip = self._lines.get(line)
        if strip is None:
            strip = self._lines[line] = self._render_dump_line(line)
        return strip.crop_extend(scroll_x, scroll_x + width, self.rich_style)

    def _invalidate(self) -> None:
        self._lines.clear()
        self._styles.clear()
        self.refresh()

    def _scroll_to_offset(self, offset: int) -> None:
        line, top = offset // self.per_line, self.scroll_offset.y
        height = max(self.scrollable_content_region.height, 1)
        if line < top:
            self.scroll_to(y=line, animate=False)
        elif line >= top + height:
            self.scroll_to(y=line - height + 1, animate=False)

    def _render_dump_line(self, line: int) -> Strip:
        start, data_lines = line * self.per_line, self._data_lines
        if line > data_lines or not self._raw:
            return Strip.blank(0)
        if line == data_lines:
            content = highlight(f"{len(self._raw):08x}", language="hexdump")
        else:
            chunk = self._raw[start : start + self.per_line]
            text = dump_line(start, chunk, self.per_line)
            content = highlight(text, language="hexdump")
            content = content.add_spans(self._spans(start, len(chunk)))
        return Strip(content.render_segments(self.visual_style), content.cell_length)

    @property
    def _data_lines(self) -> int:
        """Lines holding bytes (the offset line that ends the dump comes after)."""
        return -(-len(self._raw) // self.per_line)

    def _spans(self, start: int, count: int) -> list[Span]:
        """Field colours, then selection and cursor, for bytes start..start+count."""
        spans: list[Span] = []
        self._read_leaves(start + count)
        leaf = max(bisect_right(self._starts, start) - 1, 0)
        for index in range(count):
            while self._leaves[leaf].end <= start + index:
                leaf += 1
            column = hex_column(index)
            style = self._style(f"hex-view--{self._leaves[leaf].kind.value}")
            spans.append(Span(column, column + 2, style))
            text_column = ascii_start(self.per_line) + index
            for mark in self._marks(start + index):
                spans.append(Span(column, column + 2, mark))
                spans.append(Span(text_column, text_column + 1, mark))
        return spans

    def _read_leaves(self, end: int) -> None:
        """Read the byte map's leaves until they cover every byte before `end`."""
        while not self._leaves or self._leaves[-1].end < end:
            leaf = next(self._unread, None)
            if leaf is None:
                return
            self._leaves.append(leaf)
            self._starts.append(leaf.offset)

    def _marks(self, offset: int) -> list[VisualStyle]:
        """The selection and cursor styles that apply to one byte, in that order."""
        marks = []
        if self.selected is not None:
            low, length = self.selected
            if low <= offset < low + length:
                marks.append(self._style("hex-view--selected"))
        if offset == self.cursor:
            marks.append(self._style("hex-view--cursor"))
        return marks

    def _style(self, component: str) -> VisualStyle:
        """A component class's style, to lay over what is beneath it.

        Only what the rules set is kept (an unset colour lets the field colour
        show through), and unlike get_visual_style this keeps ``reverse``.
        """
        style = self._styles.get(component)
        if style is None:
            style = self._styles[component] = _overlay(
                self.get_component_styles(component)
            )
        return style


def _overlay(rules: RenderStyles) -> VisualStyle:
    """The colours and text attributes a component's rules set, and no others."""
    color: Color | None = None
    if rules.has_rule("color"):
        color = (
            Color(0, 0, 0, rules.color.a, auto=True)
            if rules.auto_color
            else rules.color
        )
    text = rules.text_style
    return VisualStyle(
        rules.background if rules.has_rule("background") else None,
        color,
        bold=text.bold or None,
        dim=text.dim or None,
        italic=text.italic or None,
        underline=text.underline or None,
        reverse=text.reverse or None,
        strike=text.strike or None,
    )
