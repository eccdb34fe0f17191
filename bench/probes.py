"""What the app benchmarks measure with: paints, method calls, collections, RSS.

Owns the paint clock that timestamps every screen update an app hands to its
driver, the wrappers that time a method's or a coroutine's calls, the watch on
full garbage collections, resident memory, and a timed key press.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any, Final

from rich.console import RenderableType
from textual.app import App
from textual.pilot import Pilot
from textual.screen import Screen

from explorer.protocol.frames import Frame
from explorer.ui.app import ExplorerApp
from explorer.ui.widgets.frame_list import FrameList

#: The terminal every app runs in.
SIZE: Final = (120, 40)


class PaintClock:
    """Timestamps every screen update an app hands to its driver.

    Textual's App._display receives each compositor update after the widgets
    have rendered their lines; a headless app stops there instead of writing
    escape sequences to a terminal (and any app does during a batch update,
    which the clock skips). The clock wraps it on one app instance.
    """

    def __init__(self, app: App[Any]) -> None:
        """Start timing `app`'s paints (before it runs)."""
        self.times: list[float] = []
        #: The first paint once every widget was mounted (see `complete`).
        self.completed: float | None = None
        display = app._display

        def timed(screen: Screen[Any], renderable: RenderableType | None) -> None:
            display(screen, renderable)
            if renderable is None or app._batch_count:
                return
            now = perf_counter()
            self.times.append(now)
            if self.completed is None and complete(app):
                self.completed = now

        app._display = timed  # type: ignore[method-assign]

    def first_after(self, moment: float) -> float:
        """The first paint after `moment`."""
        return next(t for t in self.times if t > moment)


def complete(app: App[Any]) -> bool:
    """Whether every widget of `app` is mounted.

    The explorer paints its status line alone first, then mounts its panes
    and key bar in one batch update, so the first paint with its frame list
    mounted shows them all; any other app here composes all its widgets
    before its first paint.
    """
    if not isinstance(app, ExplorerApp):
        return True
    # Its panes are built when first needed: asking for them here would build
    # them before the app does.
    return "panes" in vars(app) and app.panes.frame_list.is_mounted


@dataclass(slots=True)
class Spans:
    """When a wrapped method ran: (start, end) per call."""

    spans: list[tuple[float, float]] = field(default_factory=list)

    def during(self, start: float, end: float) -> list[tuple[float, float]]:
        """The calls that began between `start` and `end`."""
        return [span for span in self.spans if start <= span[0] < end]


def clock_method(target: object, name: str, when: Callable[[], bool]) -> Spans:
    """Time every call of `target.name` that starts while `when()` is true."""
    spans = Spans()
    original = getattr(target, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        if not when():
            return original(*args, **kwargs)
        start = perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spans.spans.append((start, perf_counter()))

    setattr(target, name, timed)
    return spans


def clock_coroutine(target: object, name: str) -> Spans:
    """Time every await of the coroutine method `target.name`."""
    spans = Spans()
    original: Callable[..., Awaitable[Any]] = getattr(target, name)

    async def timed(*args: Any, **kwargs: Any) -> Any:
        start = perf_counter()
        try:
            return await original(*args, **kwargs)
        finally:
            spans.spans.append((start, perf_counter()))

    setattr(target, name, timed)
    return spans


class FullCollections:
    """The garbage collector's full (generation 2) collections while open."""

    def __init__(self) -> None:
        """Nothing seen yet."""
        self.pauses: list[float] = []
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = perf_counter()
        else:
            self.pauses.append(perf_counter() - self._started)

    def __enter__(self) -> FullCollections:
        """Start watching."""
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop watching."""
        gc.callbacks.remove(self._callback)


def rss() -> int:
    """Resident set size now, in bytes (Linux; elsewhere the peak so far)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def settled_rss() -> int:
    """RSS after a full garbage collection."""
    gc.collect()
    return rss()


def row_of(frame_list: FrameList, item: Frame) -> int:
    """The row that shows `item` (rows fold runs of heartbeats)."""
    index = next(i for i, row in enumerate(frame_list.items) if row is item)
    for row in range(min(index, frame_list.row_count - 1), -1, -1):
        if frame_list.item_at(row) is item:
            return row
    raise LookupError(f"no row shows item {index}")


async def press(pilot: Pilot[Any], clock: PaintClock, key: str) -> tuple[float, float]:
    """Seconds from pressing `key` to the first and to the last repaint it caused.

    pilot.press returns once the app has handled the key and gone idle (it
    sleeps at least 40 ms on the way); pilot.pause then lets any last repaint
    happen. The paint clock says when the repaints really were.
    """
    mark = len(clock.times)
    pressed = perf_counter()
    await pilot.press(key)
    await pilot.pause()
    paints = clock.times[mark:]
    if not paints:
        raise RuntimeError(f"pressing {key!r} repainted nothing")
    return paints[0] - pressed, paints[-1] - pressed
