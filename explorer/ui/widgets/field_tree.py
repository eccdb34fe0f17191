"""FieldTree: a frame's byte map as an expandable tree of named fields.

Owns the field pane: one node per ByteField (groups expandable, their parts
added as they come into view, packed bits listed under their octet; a lazy
group of more than PAGE parts, a frame_max of table entries say, added only
when opened and then PAGE at a time, a "more" node adding the next), the label
format ``name  type  value  @offset+length`` (with what AMQP 1.0's values add,
explorer.ui.widgets.field_labels10's, and the note explorer.protocol.values
has beside a value: a timestamp's date, a signed-looking decimal, a repeated
table key), finding the field that holds a byte, and the FieldSelected
message; and a phase report's facts as a tree of ``name: value`` leaves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import islice
from typing import Final

from rich.text import Text
from textual import on
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import NodeID, TreeNode

from explorer.engine.events import PhaseReport
from explorer.protocol.bytefield import Parts
from explorer.protocol.bytemap import ByteField, FieldKind, byte_map
from explorer.protocol.fields import JSON
from explorer.protocol.frames import Frame
from explorer.protocol.values import leaf_note, repeated_entries
from explorer.ui.widgets.field_labels10 import binary_text, coded, constructed, gist
from explorer.ui.widgets.labels import fact_text

#: Longest value shown in a label before it is cut with an ellipsis.
VALUE_WIDTH: Final = 48
#: Bytes shown in hex before a longer bytes value is cut short.
BYTES_SHOWN: Final = 8
#: A lazy group's parts (a table's, an array's, a run of flag words) are added
#: this many at a time, and counted in a label only when there are at most this
#: many: more would be read, and labelled, before anything shows them. 100
#: keeps the first screen of a frame_max of table entries under 1 ms.
PAGE: Final = 100
_STRINGS: Final = frozenset({"shortstr", "longstr", "bytes"})
_SEQUENCES: Final = frozenset({"table", "array"})


def _quote(text: str) -> str:
    body = text.encode("unicode_escape").decode("ascii").replace('"', '\\"')
    if len(body) > VALUE_WIDTH:
        body = body[: VALUE_WIDTH - 1] + "…"
    return f'"{body}"'


def format_value(field: ByteField) -> str:
    """A leaf's value as a label shows it: strings quoted, bits in binary, an
    AMQP 1.0 constructor's format code and a descriptor code in hex, a 1.0
    binary that reads as text quoted (sasl-init's PLAIN response)."""
    value = field.value
    if field.kind is FieldKind.BITS and isinstance(value, int):
        return f"{value:0{field.length * 8}b}"
    if coded(field) and isinstance(value, int):
        return f"0x{value:02x}"
    if isinstance(value, str):
        return _quote(value)
    if (text := binary_text(field)) is not None:
        return _quote(text)
    if isinstance(value, bytes):
        shown = value[:BYTES_SHOWN].hex(" ")
        return shown if len(value) <= BYTES_SHOWN else f"{shown} … ({len(value)} bytes)"
    return str(value)


def summary(field: ByteField) -> str:
    """What a field holds, in a few words: a leaf's value, a group's gist."""
    children = field.children
    if not children:
        note = leaf_note(field)
        return f"{format_value(field)} — {note}" if note else format_value(field)
    if constructed(field):
        said = gist(field)
        return summary(children[-1]) if said is None else said
    count = _count(children)
    if field.type in _SEQUENCES and children[0].kind is FieldKind.LENGTH:
        # The parts are the length, then the entries.
        return f"{PAGE}+ entries" if count is None else f"{count - 1} entries"
    if field.type in _STRINGS and count == 1:
        return '""'
    if count is None:  # the last part is not read just for a gist
        return ""
    last = children[-1]
    return "" if last.kind is FieldKind.TAG else summary(last)


def _count(parts: Sequence[ByteField], limit: int = PAGE) -> int | None:
    """How many parts there are; None for a lazy group of more than `limit`."""
    return parts.count_upto(limit) if isinstance(parts, Parts) else len(parts)


def _many(field: ByteField | None) -> bool:
    """Whether a field's parts are a lazy group of more than PAGE."""
    return field is not None and _count(field.children) is None


def more_label(field: ByteField, shown: int) -> Text:
    """The node after a page of `field`'s parts, saying what selecting it adds."""
    count = _count(field.children, shown + PAGE)
    more = (
        f"… {count - shown} more" if count is not None else f"… more: the next {PAGE}"
    )
    return Text(more, style="italic")


def field_label(field: ByteField, note: str = "") -> Text:
    """``name  type  value  @offset+length``, the name bold, type and place dim.

    A `note` about the field's place (a repeated table key) follows the value.
    """
    label = Text(field.name, style="bold")
    if field.type:
        label.append(f"  {field.type}", style="dim")
    if field.type != "frame" and (gist := summary(field)):
        label.append(f"  {gist}")
    if note:
        label.append(f"  — {note}", style="italic")
    label.append(f"  @{field.offset}+{field.length}", style="dim")
    return label


def fact_label(name: str, value: JSON) -> Text:
    """One fact of a report: ``name: value``, the name bold."""
    return Text.assemble((name, "bold"), ": ", fact_text(value))


def bit_label(name: str, value: bool) -> Text:
    """One packed bit: its name and whether it is set."""
    return Text.assemble(
        (name, "bold"), "  ", ("1" if value else "0"), " ", (str(value), "dim")
    )


class FieldTree(Tree[ByteField]):
    """The fields of one frame; moving the cursor reports the field under it.

    Or the facts of a phase report, which hold no bytes: their nodes post no
    FieldSelected. The tree is as tall as its open lines, up to its
    container's height.
    """

    DEFAULT_CSS = """
    FieldTree {
        height: auto;
        max-height: 100%;
    }
    """

    class FieldSelected(Message):
        """The cursor is on a field (a bit reports the octet that holds it)."""

        def __init__(self, tree: FieldTree, field: ByteField) -> None:
            """Name the field.

            Args:
                tree: The tree whose cursor moved.
                field: The field under the cursor.
            """
            self.tree = tree
            self.field = field
            super().__init__()

        @property
        def control(self) -> FieldTree:
            """The tree whose cursor moved."""
            return self.tree

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        """Start empty: nothing is shown until `show`."""
        super().__init__("no frame", name=name, id=id, classes=classes)
        #: Each "more" node: the node it is under, that node's field, and how
        #: many of the field's parts come before it.
        self._pages: dict[NodeID, tuple[TreeNode[ByteField], ByteField, int]] = {}

    def show(self, frame: Frame | None) -> None:
        """Show a frame's fields, top level expanded (or nothing).

        Args:
            frame: The frame, or None to clear the tree.
        """
        self._pages.clear()
        if frame is None:
            self.reset("no frame")
            return
        root = byte_map(frame)
        self.reset(field_label(root), root)
        self._fill(self.root)
        self.root.expand()

    def show_report(self, report: PhaseReport) -> None:
        """Show a phase report's facts, every table and list expanded.

        Each leaf reads ``name: value``, the value as the report holds it: a
        password arrives masked and stays masked. A list's entries are named
        by their place (``#1``), or by their own ``name`` when they have one.

        Args:
            report: What the phase reported.
        """
        self._pages.clear()
        self.reset(Text(f"{report.phase.value} report", style="bold"))
        for name, value in report.facts.items():
            self._add_fact(self.root, name, value)
        self.root.expand_all()

    def select_offset(self, offset: int) -> None:
        """Put the cursor on the deepest field holding a byte, expanding its parents.

        Posts FieldSelected for that field. Does nothing without a frame or for
        an offset outside it.

        Args:
            offset: The byte's offset from the start of the frame.
        """
        if self.root.data is None:
            return
        path = self.root.data.path_to(offset)
        if not path:
            return
        # Without a cursor, the rebuild that expanding causes cannot report
        # the old cursor node as newly highlighted on its way to the new one.
        self.unselect()
        node = self.root
        for field in path[1:]:
            self._fill(node)
            node.expand()
            node = self._child_for(node, field)
        # Expanding drops Tree's line index and node.line is only set when it is
        # rebuilt, which reading last_line does.
        _ = self.last_line
        self.move_cursor(node)

    @on(Tree.NodeHighlighted)
    @on(Tree.NodeSelected)
    def _report_field(
        self, event: Tree.NodeHighlighted[ByteField] | Tree.NodeSelected[ByteField]
    ) -> None:
        if event.node.data is not None:
            self.post_message(self.FieldSelected(self, event.node.data))

    @on(Tree.NodeSelected)
    def _more_selected(self, event: Tree.NodeSelected[ByteField]) -> None:
        """A "more" node gives way to the next page; the cursor goes to its first."""
        if event.node.id not in self._pages:
            return
        self.unselect()  # so moving the cursor reports the page's first part
        added = self._next_page(event.node)
        self._prepare(added)
        _ = self.last_line  # gives the added nodes their lines
        self.move_cursor(added[0])

    @on(Tree.NodeExpanded)
    def _opened(self, event: Tree.NodeExpanded[ByteField]) -> None:
        self._fill(event.node)

    def _add_field(
        self, parent: TreeNode[ByteField], field: ByteField, note: str = ""
    ) -> TreeNode[ByteField]:
        """A node for `field`; its own parts are added when its parent opens."""
        if not field.children and not field.bits:
            return parent.add_leaf(field_label(field, note), field)
        return parent.add(field_label(field, note), field)

    def _fill(self, node: TreeNode[ByteField]) -> None:
        """Add an opening node's parts, and theirs, unless they are there.

        One level more than is seen, so each part is ready to open; nothing
        deeper, and not the parts of a part with many (a big table's), so a
        large table costs nothing until it opens, and no depth of nesting makes
        this recurse.
        """
        self._add_parts(node)
        self._prepare(node.children)

    def _prepare(self, nodes: Iterable[TreeNode[ByteField]]) -> None:
        """Add the parts of each node unless it has many: they wait to be opened."""
        for node in nodes:
            if not _many(node.data):
                self._add_parts(node)

    def _add_parts(self, node: TreeNode[ByteField]) -> None:
        field = node.data
        if field is None or node.children or not node.allow_expand:
            return
        self._add_page(node, field, 0)
        for name, value in field.bits:
            node.add_leaf(bit_label(name, value), field)

    def _add_page(
        self, node: TreeNode[ByteField], field: ByteField, start: int, size: int = PAGE
    ) -> list[TreeNode[ByteField]]:
        """Add `size` of `field`'s parts from `start`, then "more" if any follow."""
        stop = start + size
        page = list(islice(field.children, start, stop + 1))
        repeats: dict[int, str] = {}
        if field.type == "table":  # a repeat names an earlier entry: read no further
            seen = tuple(islice(field.children, stop))
            repeats = repeated_entries(field._replace(children=seen))
        added = [
            self._add_field(node, child, repeats.get(start + index, ""))
            for index, child in enumerate(page[:size])
        ]
        if len(page) > size:
            more = node.add_leaf(more_label(field, stop))
            self._pages[more.id] = (node, field, stop)
        return added

    def _next_page(
        self, more: TreeNode[ByteField], size: int = PAGE
    ) -> list[TreeNode[ByteField]]:
        """Replace a "more" node by the next `size` of its parent's parts."""
        parent, field, start = self._pages.pop(more.id)
        more.remove()
        return self._add_page(parent, field, start, size)

    def _child_for(
        self, node: TreeNode[ByteField], field: ByteField
    ) -> TreeNode[ByteField]:
        """The node of `field`, a part of `node`'s, adding the pages up to it."""
        shown = node.children
        found = next((child for child in shown if child.data is field), None)
        if found is not None:
            return found
        # Not yet shown: after the "more" node, which is last. The pages up to
        # the field's are added at once (one page at a time rereads the table
        # for each page's repeated keys), their own parts left for when each
        # opens: select_offset fills the ones on the field's path.
        _, group, start = self._pages[shown[-1].id]
        later = islice(group.children, start, None)
        index = next(place for place, part in enumerate(later) if part is field)
        return self._next_page(shown[-1], index // PAGE * PAGE + PAGE)[index]

    def _add_fact(self, parent: TreeNode[ByteField], name: str, value: JSON) -> None:
        if not value or not isinstance(value, dict | list):
            parent.add_leaf(fact_label(name, value))
            return
        node = parent.add(Text(name, style="bold"))
        if isinstance(value, dict):
            for key, item in value.items():
                self._add_fact(node, key, item)
            return
        for place, item in enumerate(value, 1):
            if isinstance(item, dict) and isinstance(own := item.get("name"), str):
                rest: JSON = {key: v for key, v in item.items() if key != "name"}
                self._add_fact(node, own, rest)
            else:
                self._add_fact(node, f"#{place}", item)
