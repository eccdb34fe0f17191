"""The explorer app under load, headless: a 100,000-frame flood, and startup.

Owns replaying a capture in the explorer (pressing n to its end, then timed
keys in the frame list) in a fresh interpreter each (``python -m bench.app
RESULT``, the capture on stdin), so that each app has a heap of its own: the
flood (bench.flood) against its excerpt and the bundled recording, for
ingesting into the frame list, memory growth and keypress-to-repaint latency;
then the section's table and checks, after startup (bench.startup).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from time import perf_counter
from typing import Final

from bench.flood import WINDOW, excerpt, flood, frame_count
from bench.probes import (
    SIZE,
    FullCollections,
    PaintClock,
    clock_coroutine,
    clock_method,
    press,
    row_of,
    settled_rss,
)
from bench.report import (
    Check,
    Samples,
    ceiling_check,
    heading,
    megabytes,
    milliseconds,
    per_second,
    table,
)
from bench.startup import BareApp, explorer_app, startup_rounds, startup_section
from explorer.protocol.stream import Chunk
from explorer.recording.capture import Capture, dumps, loads
from explorer.recording.replay import ReplayEngine, bundled_recording
from explorer.ui.app import ExplorerApp
from explorer.ui.heap import HEAP
from explorer.ui.widgets.frame_list import FrameList

#: What a /tmp script may import from here: the startup measurement's pieces.
__all__ = ["BareApp", "explorer_app", "run", "startup_rounds"]

#: Untimed presses first, then the timed ones, from the last row of the walk:
#: every press moves the cursor.
WARM_UP_KEYS: Final = ("up", "down")
KEYS: Final = ("up",) * (WINDOW - 1) + ("down",) * (WINDOW - 1)
LATENCY_GOAL: Final = 2.0
MEMORY_GOAL_MB: Final = 200.0


@dataclass(frozen=True, slots=True)
class Session:
    """One explorer app replaying one capture to its end, then keys pressed."""

    frames: int
    rows: int
    steps: int
    #: Seconds to construct the app (ReplayEngine decodes the whole capture).
    construct: float
    #: Frames told by the biggest step.
    step_frames: int
    #: Biggest step: "n" pressed -> stepper.step() done -> pump.drain()
    #: done -> first repaint after it, in seconds from the press.
    stepped: float
    applied: float
    ingested: float
    #: Every step, press to pause done, in seconds.
    stepping_wall: float
    #: Seconds each full garbage collection took while stepping.
    stepping_collections: tuple[float, ...]
    rss_before: int
    rss_built: int
    rss_after: int
    #: Keypress to the first repaint, and to the last repaint it caused.
    first: Samples
    settled: Samples
    #: Seconds each full garbage collection took during the timed keys.
    full_collections: tuple[float, ...]
    #: How many times explorer.ui.heap froze the heap, all told.
    freezes: int


async def explore(capture: Capture, frames: int, last: int | None = None) -> Session:
    """Replay `capture` (`frames` frames) in the explorer headless, step it
    through to the end, then press keys in the frame list, starting from the
    row of frame `last` (the last row if None)."""
    rss_before = settled_rss()
    started = perf_counter()
    app = ExplorerApp(partial(ReplayEngine, capture), source="bench")
    construct = perf_counter() - started
    # No animation: the lesson pane would scroll to each frame's section for
    # 0.2-0.3 s, the same whatever the frame count, and every frame of it would
    # count as the key's last repaint.
    app.animation_level = "none"
    clock = PaintClock(app)
    pump = app.pump
    drains = clock_method(pump, "drain", lambda: pump.pending > 0)
    steps = clock_coroutine(app.stepper, "step")
    #: Per step: pressed, done, frames in the list before and after.
    presses: list[tuple[float, float, int, int]] = []
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        frame_list = app.query_one(FrameList)
        listed = pump.seen.frames  # the frames among the list's rows
        rss_built = settled_rss()
        with FullCollections() as stepping:
            while not app.stepper.finished:
                pressed, before = perf_counter(), len(listed)
                await pilot.press("n")
                await app.workers.wait_for_complete()
                await pilot.pause()
                presses.append((pressed, perf_counter(), before, len(listed)))
        if pump.pending or len(listed) != frames:
            raise RuntimeError(
                f"the frame list holds {len(listed):,} frames of "
                f"{frames:,}, {pump.pending} events pending"
            )
        rss_after = settled_rss()
        pressed, done, before, after = max(presses, key=lambda p: p[3] - p[2])
        step = steps.during(pressed, done)[-1]
        applied = drains.during(pressed, done)[-1]
        frame_list.focus()
        frame_list.select(
            frame_list.row_count - 1
            if last is None
            else row_of(frame_list, listed[last])
        )
        await pilot.pause()
        for key in WARM_UP_KEYS:
            await press(pilot, clock, key)
        with FullCollections() as collections:
            latencies = [await press(pilot, clock, key) for key in KEYS]
        app.exit()  # as a quit does: no timer fires while the screen goes away
    return Session(
        frames=len(listed),
        rows=frame_list.row_count,
        steps=len(presses),
        construct=construct,
        step_frames=after - before,
        stepped=step[1] - pressed,
        applied=applied[1] - pressed,
        ingested=clock.first_after(applied[1]) - pressed,
        stepping_wall=presses[-1][1] - presses[0][0],
        stepping_collections=tuple(stepping.pauses),
        rss_before=rss_before,
        rss_built=rss_built,
        rss_after=rss_after,
        first=Samples(tuple(first for first, _ in latencies)),
        settled=Samples(tuple(last for _, last in latencies)),
        full_collections=tuple(collections.pauses),
        freezes=HEAP.freezes,
    )


def explore_in_child(capture: str, frames: int, last: int | None) -> Session:
    """`explore` in a fresh interpreter, so that each app has a heap of its own
    (RSS, garbage collections) as it would when run on its own.

    Args:
        capture: The capture, as capture.dumps wrote it.
        frames: Frames in the capture.
        last: The frame the keys start from, as `explore` takes it.
    """
    with tempfile.TemporaryDirectory() as folder:
        result = Path(folder) / "session.json"
        subprocess.run(
            [sys.executable, "-m", "bench.app", str(result)],
            input=json.dumps({"capture": capture, "frames": frames, "last": last}),
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        record = json.loads(result.read_text(encoding="utf-8"))
    record["first"] = Samples(tuple(record["first"]["values"]))
    record["settled"] = Samples(tuple(record["settled"]["values"]))
    for name in ("stepping_collections", "full_collections"):
        record[name] = tuple(record[name])
    return Session(**record)


def child(result: Path) -> None:
    """The child's side of explore_in_child: arguments on stdin, the session
    as JSON in `result`."""
    job = json.loads(sys.stdin.read())
    capture, frames, last = loads(job.pop("capture")), job["frames"], job["last"]
    session = asyncio.run(explore(capture, frames, last))
    result.write_text(json.dumps(asdict(session)), encoding="utf-8")


def session_rows(sessions: Sequence[Session]) -> list[list[str]]:
    """The flood table's rows: one column per session."""

    def row(label: str, cell: Callable[[Session], str]) -> list[str]:
        return [label, *(cell(session) for session in sessions)]

    def times(samples: Samples) -> str:
        values = (samples.median, samples.p95, max(samples.values))
        return " / ".join(f"{value * 1e3:,.1f}" for value in values) + " ms"

    def collections(pauses: tuple[float, ...]) -> str:
        longest = f", longest {milliseconds(max(pauses))}" if pauses else ""
        return f"{len(pauses)}{longest}"

    return [
        row("frames (rows)", lambda s: f"{s.frames:,} ({s.rows:,})"),
        row("construct the app (decodes)", lambda s: milliseconds(s.construct)),
        row("biggest step: frames", lambda s: f"{s.step_frames:,}"),
        row("  n -> stepper.step() done", lambda s: milliseconds(s.stepped)),
        row("  n -> pump.drain() done", lambda s: milliseconds(s.applied)),
        row("  n -> next repaint (ingested)", lambda s: milliseconds(s.ingested)),
        row("  ingest rate", lambda s: per_second(s.step_frames, s.ingested)),
        row(
            "all steps, wall (pilot waits)",
            lambda s: f"{s.steps} in {milliseconds(s.stepping_wall)}",
        ),
        row("  full GCs while stepping", lambda s: collections(s.stepping_collections)),
        row(
            "RSS before / built / stepped",
            lambda s: " / ".join(
                megabytes(v) for v in (s.rss_before, s.rss_built, s.rss_after)
            ),
        ),
        row("RSS growth", lambda s: megabytes(s.rss_after - s.rss_before)),
        row("key -> first repaint, med/p95/max", lambda s: times(s.first)),
        row("key -> last repaint, med/p95/max", lambda s: times(s.settled)),
        row("  full GCs during the keys", lambda s: collections(s.full_collections)),
        row("heap freezes (explorer.ui.heap)", lambda s: str(s.freezes)),
    ]


def flood_section() -> list[Check]:
    """The bundled recording, the flood's excerpt and the flood; print them."""
    print(heading("app: a 100,000-frame flood vs small captures, headless"))
    big = flood()
    size = sum(len(e.data) for e in big.capture.events if isinstance(e, Chunk))
    print(f"flood: {big.source}; {megabytes(size)} on the wire")
    frames, text = big.frames, dumps(big.capture)
    del big
    small = excerpt(loads(text))  # frame order exactly as the child will see it
    bundled = bundled_recording().read_text(encoding="utf-8")
    sessions = [
        explore_in_child(bundled, frame_count(loads(bundled)), None),
        explore_in_child(dumps(small.capture), small.frames, small.last),
        explore_in_child(text, frames, small.last_in_flood),
    ]
    print(
        f"Each app replays its capture at {SIZE[0]}x{SIZE[1]}, pressing n until "
        "the stepper is finished (each press: pilot.press, workers done, "
        f"pilot.pause), then {len(WARM_UP_KEYS)} untimed and {len(KEYS)} timed "
        f"presses in the frame list, up through {WINDOW} rows and down again: "
        "the last rows of the bundled recording; in the flood and in its "
        f"excerpt (the flood's frames up to Basic.ConsumeOk, {WINDOW} from its "
        "middle, its close) the same frames. Repaints are timed by the paint "
        "clock (each screen update handed to the driver), animations off. RSS "
        "is /proc/self/statm after gc.collect(); no tracemalloc (a traced run "
        "takes three times as long). Full GCs are the collector's generation-2 "
        "collections, our own included: explorer.ui.heap freezes the heap once "
        "the capture is loaded and again as it grows. Each app runs in a fresh "
        "interpreter."
    )
    print(
        table(
            ["", "bundled recording", "flood excerpt", "flood"],
            session_rows(sessions),
        )
    )
    _, small_session, flood_session = sessions
    return [
        ceiling_check(
            "app: key -> last repaint p95, flood / its excerpt",
            flood_session.settled.p95 / small_session.settled.p95,
            LATENCY_GOAL,
            "x",
        ),
        ceiling_check(
            "app: RSS growth, flood",
            (flood_session.rss_after - flood_session.rss_before) / 1e6,
            MEMORY_GOAL_MB,
            "MB",
        ),
    ]


def run() -> list[Check]:
    """Startup first (a small heap), then the flood; print them, return checks."""
    checks = startup_section()
    checks += flood_section()
    return checks


if __name__ == "__main__":
    child(Path(sys.argv[1]))
