"""The garbage collector's policy: no full collection walks the frames again.

Owns when the explorer freezes its heap (`gc.freeze`). A full (generation 2)
collection walks every object the collector tracks: with 100,000 frames held
that takes 200-370 ms, and whichever key press happens to trigger one waits
that long. A decoded capture and the frames listed on screen live as long as
their connection, so walking them again frees nothing. Frozen objects sit in
the permanent generation, which collections never walk, so `settle` freezes:

- the first time it is called (the app started, its capture loaded): the heap
  as it stands, without collecting first: a full collection would walk all of
  it, and starting leaves little garbage;
- later, whenever the heap has grown by GROWTH blocks since (a large batch of
  frames applied): after a full collection, which walks only what was made
  since the last freeze, so that no garbage is frozen.

Later full collections then walk only what is newer than the last freeze,
whatever the number of frames: with 100,000 of them they take what they take
with a small capture (5-25 ms, the widgets each key redraws). Frozen objects
are still freed by reference counting (the frames of a closed connection go);
only a reference cycle frozen and dropped later is never collected, which the
threshold keeps to a few per large capture.
"""

from __future__ import annotations

import gc
import sys
from typing import Final

#: Blocks allocated since the last freeze that make the heap worth freezing
#: again: some 6,000 frames listed (8 blocks each), collected in about 10 ms.
GROWTH: Final = 50_000


class Heap:
    """The process's heap, as the collector sees it: frozen as it grows."""

    def __init__(self) -> None:
        """Nothing frozen yet."""
        #: Blocks allocated at the last freeze, or since then at the fewest.
        self.frozen_at: int | None = None
        #: How many times `settle` froze the heap.
        self.freezes = 0

    def settle(self) -> bool:
        """Freeze what is alive the first time, and after each GROWTH blocks.

        Returns:
            Whether it froze the heap.
        """
        blocks = sys.getallocatedblocks()
        if self.frozen_at is not None:
            if blocks - self.frozen_at < GROWTH:
                self.frozen_at = min(self.frozen_at, blocks)
                return False
            gc.collect()
        gc.freeze()
        self.frozen_at = sys.getallocatedblocks()
        self.freezes += 1
        return True


#: The one heap of this process (the collector is the process's, too).
HEAP: Final = Heap()
