"""The heap policy: freeze once at the start, then again only after real growth."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from explorer.ui.heap import GROWTH, Heap


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    """Each test leaves the collector as it found it: nothing frozen."""
    yield
    gc.unfreeze()


def test_the_first_settle_freezes_what_is_alive() -> None:
    heap = Heap()
    assert heap.settle()
    assert gc.get_freeze_count() > 0
    assert heap.freezes == 1


def test_no_freeze_again_until_the_heap_has_grown() -> None:
    heap = Heap()
    heap.settle()
    assert not heap.settle()
    grown = [[index] for index in range(GROWTH)]  # a block or more each
    assert heap.settle()
    assert heap.freezes == 2
    del grown


class Node:
    """An object that can sit in a reference cycle and be watched by weakref."""

    def __init__(self) -> None:
        self.me = self


def test_garbage_is_collected_before_a_later_freeze() -> None:
    heap = Heap()
    heap.settle()
    grown = [[index] for index in range(GROWTH)]
    cycle = Node()
    watched = weakref.ref(cycle)
    gc.collect()  # now in the oldest generation: only a full collection frees it
    del cycle
    assert heap.settle()
    assert watched() is None, "the cycle was freed, not frozen"
    del grown
