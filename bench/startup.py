"""The app's startup: first paint of the explorer against bare Textual apps.

Owns the baseline apps (one Static; Header, Static and Footer), the explorer as
the CLI opens it on the bundled recording, the four moments of a first run
(ready, painted, complete, after the first refresh) timed over interleaved
rounds, the import times of Textual and of the explorer's app, and the
section's table and check.
"""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from functools import partial
from time import perf_counter
from typing import Any, Final

from textual.app import App, ComposeResult
from textual.widgets import Footer, Header, Static

from bench.probes import SIZE, PaintClock
from bench.report import (
    Check,
    Samples,
    as_ratio,
    ceiling_check,
    heading,
    interleaved,
    milliseconds,
    rotation,
    table,
)
from explorer.recording.replay import bundled_recording
from explorer.ui.app import ExplorerApp, replay

STARTUP_ROUNDS: Final = 7
IMPORT_ROUNDS: Final = 5
STARTUP_GOAL: Final = 1.5


class BareApp(App[None]):
    """The baseline for startup: a Textual app with one Static widget."""

    def compose(self) -> ComposeResult:
        """One line of text."""
        yield Static("amqp-explorer")


class ChromeApp(App[None]):
    """For scale: Header, one Static and Footer (the reference's minimal app)."""

    def compose(self) -> ComposeResult:
        """The title bar, one line of text and the key bar."""
        yield Header()
        yield Static("amqp-explorer")
        yield Footer()


def explorer_app() -> App[Any]:
    """The explorer replaying the bundled recording, as the CLI would open it."""
    path = bundled_recording()
    return ExplorerApp(replay(path), source=str(path))


@dataclass(frozen=True, slots=True)
class Startup:
    """Seconds from constructing an app to four moments of its first run."""

    #: run_test handed over the pilot (the explorer may still be mounting its
    #: panes then: see `complete`).
    ready: float
    #: The first screen update reached the driver (the paint clock): what the
    #: user sees first.
    painted: float
    #: The first screen update once every widget was mounted: the whole app.
    completed: float
    #: The first call_after_refresh callback asked for once ready.
    refreshed: float


async def first_paint(make: Callable[[], App[Any]]) -> Startup:
    """Construct and run one app headless until its first refresh callback
    and its first paint complete."""
    started = perf_counter()
    app = make()
    clock = PaintClock(app)
    async with app.run_test(size=SIZE) as pilot:
        ready = perf_counter()
        refreshed = asyncio.Event()
        app.call_after_refresh(refreshed.set)
        await refreshed.wait()
        after_refresh = perf_counter()
        while clock.completed is None:
            await pilot.pause()
        app.exit()
    return Startup(
        ready - started,
        clock.times[0] - started,
        clock.completed - started,
        after_refresh - started,
    )


def startup_rounds(
    apps: dict[str, Callable[[], App[Any]]], rounds: int
) -> dict[str, list[Startup]]:
    """Each app once per round, in rotation."""
    out: dict[str, list[Startup]] = {name: [] for name in apps}
    for name in rotation(list(apps), rounds):
        gc.collect()
        out[name].append(asyncio.run(first_paint(apps[name])))
    return out


IMPORT_CODE: Final = (
    "import time; start = time.perf_counter(); import {module}; "
    "print(time.perf_counter() - start)"
)


def import_time(module: str) -> float:
    """Seconds to import `module` in a fresh interpreter, as it measures them."""
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_CODE.format(module=module)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(result.stdout)


def startup_section() -> list[Check]:
    """First paint of the explorer against a bare app, and import times."""
    print(heading("app: startup, explorer vs a bare Textual app"))
    apps: dict[str, Callable[[], App[Any]]] = {
        "bare App + one Static": BareApp,
        "Header + Static + Footer": ChromeApp,
        "explorer, bundled recording": explorer_app,
    }
    results = startup_rounds(apps, STARTUP_ROUNDS)
    stats = {name: moments(runs) for name, runs in results.items()}
    bare = stats["bare App + one Static"]
    rows = []
    for name, runs in results.items():
        app = stats[name]
        rows.append(
            [
                name,
                milliseconds(app["painted"].median),
                milliseconds(app["painted"].best),
                milliseconds(runs[0].painted),
                milliseconds(app["completed"].median),
                milliseconds(app["ready"].median),
                milliseconds(app["refreshed"].median),
                as_ratio(app["painted"].median / bare["painted"].median),
                as_ratio(app["completed"].median / bare["completed"].median),
            ]
        )
    print(
        "From constructing the app (for the explorer: loading the recording too) "
        "to its first paint (paint clock; the explorer's shows its status line), "
        "to its first paint complete (every widget mounted: the explorer mounts "
        "its panes and key bar right after its first paint; its lesson text "
        "follows, as it always has), to run_test's pilot (ready) and to the "
        "first call_after_refresh callback asked for then; "
        f"{STARTUP_ROUNDS} interleaved rounds in this process, round 1 the coldest."
    )
    print(
        table(
            [
                "first run at 120x40",
                "paint (median)",
                "(best)",
                "(round 1)",
                "complete",
                "ready",
                "after_refresh",
                "paint vs bare",
                "complete vs bare",
            ],
            rows,
        )
    )
    modules = ("textual.app", "explorer.ui.app")
    imports = interleaved(
        {module: partial(import_time, module) for module in modules}, IMPORT_ROUNDS
    )
    print(
        table(
            [
                f"import in a fresh interpreter, {IMPORT_ROUNDS} rounds",
                "median",
                "best",
            ],
            [
                [module, milliseconds(samples.median), milliseconds(samples.best)]
                for module, samples in imports.items()
            ],
        )
    )
    explorer = stats["explorer, bundled recording"]
    return [
        ceiling_check(
            "app: first paint, explorer / bare App, median",
            explorer["painted"].median / bare["painted"].median,
            STARTUP_GOAL,
            "x",
        )
    ]


def moments(runs: Sequence[Startup]) -> dict[str, Samples]:
    """Each moment of Startup ("painted", "completed", ...) over `runs`."""
    return {
        moment.name: Samples(tuple(getattr(run, moment.name) for run in runs))
        for moment in fields(Startup)
    }
