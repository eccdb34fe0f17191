"""The explorer's own widgets: the frame list, the field tree and the hex view."""

from __future__ import annotations

from explorer.ui.widgets.field_tree import FieldTree
from explorer.ui.widgets.frame_list import FrameList, FrameListItem
from explorer.ui.widgets.hex_view import HexView

__all__ = ["FieldTree", "FrameList", "FrameListItem", "HexView"]
