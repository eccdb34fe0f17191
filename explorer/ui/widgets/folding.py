"""Which items each row of the frame list shows: one, or a run of heartbeats.

Owns the frame list's display index. Row r shows items first[r]..last[r]:
more than one only for a folded run of consecutive heartbeats, which is mixed
when it holds heartbeats from both peers. Adding an item costs O(1).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from typing import Final, TypeGuard

from explorer.protocol.frames import Frame

#: A heartbeat's name: 0-9-1's heartbeat frame, and AMQP 1.0's empty frame.
HEARTBEATS: Final = frozenset({"Heartbeat", "heartbeat"})


def is_heartbeat(item: object) -> TypeGuard[Frame]:
    """Whether a row's item is a heartbeat frame (of either protocol)."""
    return isinstance(item, Frame) and item.name in HEARTBEATS


class Rows:
    """The display index: for each row, the first and last item it shows."""

    def __init__(self) -> None:
        """No rows."""
        self.first: list[int] = []
        self.last: list[int] = []
        #: Folded rows holding heartbeats from both peers.
        self.mixed: set[int] = set()

    def __len__(self) -> int:
        """Rows on display (a folded heartbeat run counts once)."""
        return len(self.last)

    def clear(self) -> None:
        """No rows."""
        self.first.clear()
        self.last.clear()
        self.mixed.clear()

    def place(self, items: Sequence[object], index: int, fold: bool) -> None:
        """Add item `index` of `items`: a new row, or, with `fold`, a longer fold.

        Items are placed in order, each once, the one before it already placed.
        """
        item = items[index]
        if fold and index and is_heartbeat(item) and is_heartbeat(items[index - 1]):
            row = len(self.last) - 1
            self.last[row] = index
            first = items[self.first[row]]
            if isinstance(first, Frame) and first.direction is not item.direction:
                self.mixed.add(row)
            return
        self.first.append(index)
        self.last.append(index)

    def rebuild(self, items: Sequence[object], fold: bool) -> None:
        """Place every item again, folding heartbeat runs or not."""
        self.clear()
        for index in range(len(items)):
            self.place(items, index, fold)

    def count(self, row: int) -> int:
        """How many items `row` shows."""
        return self.last[row] - self.first[row] + 1

    def row_of(self, item: int) -> int:
        """The row that shows item `item` (the first whose run reaches it)."""
        return bisect_left(self.last, item)
