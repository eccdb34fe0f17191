"""The pictures of each phase: which steps to press, and how to settle the screen.

Owns the one list of shots, one per phase of a recording, one of a recorded
failure-lab experiment and two of the recorded AMQP 1.0 lifecycle, that both
the snapshot tests and scripts/export_screenshots.py take, and `show_phase`,
which presses the steps of one shot and leaves the screen settled. The step
counts come from the recordings themselves, so re-recording them does not
break them.
"""

from __future__ import annotations

import contextlib
from bisect import bisect_left
from collections.abc import Coroutine
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.worker import WorkerCancelled

from explorer.course.progress import Progress
from explorer.engine.events import EngineEvent, FrameObserved
from explorer.protocol.lifecycle import Phase
from explorer.recording.capture import load
from explorer.recording.replay import (
    ReplayEngine,
    bundled_amqp10_recording,
    bundled_recording,
    recorded_experiment,
)
from explorer.ui.app import ExplorerApp, replay
from explorer.ui.widgets.frame_list import FrameList, listed

#: What the title bar names the recording: fixed, so the pictures never change.
SOURCE = "bundled recording"
#: The scrolling pane around the lesson text.
#: A terminal size, (columns, rows).
TerminalSize = tuple[int, int]
#: The size of the README pictures, and of the wide snapshots.
WIDE: TerminalSize = (120, 40)
#: The smallest supported terminal: no left column and no field tree.
NARROW: TerminalSize = (80, 24)


@dataclass(frozen=True, slots=True)
class Shot:
    """One picture: a phase, shown once the recording has told all of it."""

    phase: Phase
    #: How many steps ("n" presses) from a fresh app, the phase's last included.
    steps: int
    #: The row to select in the frame list afterwards, as an index into
    #: `FrameList.items`: the phase's first frame. None when it has no frames.
    frame: int | None
    #: The recording it steps; the bundled lifecycle when None.
    recording: Path | None = None
    #: The name of a shot that is not one phase of the lifecycle.
    title: str = ""

    @property
    def name(self) -> str:
        """The phase's name ("tune"): the test id and part of the file name."""
        return self.title or self.phase.value


def all_shots() -> tuple[Shot, ...]:
    """Every picture: each phase of the lifecycle, a failure-lab experiment,
    then AMQP 1.0's."""
    return (*phase_shots(), experiment_shot(), *amqp10_shots())


def amqp10_shots() -> tuple[Shot, ...]:
    """The bundled AMQP 1.0 recording's auth phase, sasl-init selected (its
    masked PLAIN response), and its open phase, the negotiation panel filled."""
    path = bundled_amqp10_recording()
    return (
        frame_shot(path, Phase.AUTH, "sasl-init", "amqp10-auth"),
        frame_shot(path, Phase.OPEN, "open", "amqp10-open"),
    )


def frame_shot(path: Path, phase: Phase, name: str, title: str) -> Shot:
    """The shot of `phase` in the recording at `path`, with its first frame
    called `name` selected."""
    shot = next(shot for shot in phase_shots(path) if shot.phase is phase)
    steps = _recorded_steps(path)[: shot.steps]
    items = [event for _, events in steps for event in events if listed(event)]
    frame = next(
        index
        for index, item in enumerate(items)
        if isinstance(item, FrameObserved)
        and (item.phase, item.frame.name) == (phase, name)
    )
    return replace(shot, frame=frame, recording=path, title=title)


def experiment_shot() -> Shot:
    """A recorded experiment run to its end: its outcome, its lesson, the log."""
    path = recorded_experiment()
    steps = len(_recorded_steps(path))
    return Shot(Phase.CLOSE, steps, None, recording=path, title="failure-lab")


def bundled_app(shot: Shot | None = None) -> ExplorerApp:
    """A fresh app over the bundled recording, as every picture starts.

    It starts with no progress, whatever this user has saved, and never saves
    any: the lessons' try-it checks read "not yet" in every picture.
    """
    path = (shot.recording if shot else None) or bundled_recording()
    app = ExplorerApp(replay(path), source=SOURCE, progress=Progress())
    app.animation_level = "none"  # scrolling to a lesson section lands at once
    return app


@cache
def phase_shots(path: Path | None = None) -> tuple[Shot, ...]:
    """One shot per phase of a recording, in lifecycle order.

    Each shot presses until the phase's last step has run (for operations,
    every operation), then selects the phase's first frame, so the field tree,
    the bytes and the lesson show that frame. The recording is replayed once,
    off screen, to learn the phase of each step.

    Args:
        path: The recording; the bundled one when None.

    Returns:
        The shots, one per phase the recording steps through.
    """
    steps = _recorded_steps(path or bundled_recording())
    shots: list[Shot] = []
    phases = [phase for phase, _ in steps if phase is not None]
    for phase in dict.fromkeys(phases):
        first = next(i for i, (p, _) in enumerate(steps) if p is phase)
        last = max(i for i, (p, _) in enumerate(steps) if p is phase)
        before = sum(_rows(events) for _, events in steps[:first])
        within = sum(_rows(events) for _, events in steps[first : last + 1])
        shots.append(Shot(phase, last + 1, before if within else None))
    return tuple(shots)


def _recorded_steps(path: Path) -> list[tuple[Phase | None, list[EngineEvent]]]:
    """Every step of the recording: its phase and the events it tells."""
    told: list[EngineEvent] = []
    engine = ReplayEngine(load(path), told.append)
    steps: list[tuple[Phase | None, list[EngineEvent]]] = []
    while not engine.finished:
        phase, start = engine.next_phase, len(told)
        _run_now(engine.step())
        steps.append((phase, told[start:]))
    return steps


def _run_now(step: Coroutine[Any, Any, bool]) -> bool:
    """Run a replay step to its end, here and now, with or without an event loop.

    A ReplayEngine step only hands recorded events to the listener: it never
    waits for anything, so the coroutine finishes on its first send.
    """
    try:
        step.send(None)
    except StopIteration as done:
        told: bool = done.value
        return told
    step.close()
    raise RuntimeError("a replay step waited for something; it never should")


def _rows(events: list[EngineEvent]) -> int:
    """How many items these events add to the frame list."""
    return sum(map(listed, events))


async def show_phase(pilot: Pilot[Any], shot: Shot) -> None:
    """Step a fresh app through `shot` and leave the screen settled.

    Waits for the app's panes (mounted right after its first frame), runs
    each step as "n" does, waiting for its worker, selects the phase's first
    frame, shows the phase's lesson at that frame's section, waits for the
    scrolling and any animation, and clears notifications, so nothing on
    screen depends on timing.

    Args:
        pilot: The pilot of a freshly started ExplorerApp.
        shot: The picture to set up.
    """
    app = pilot.app
    assert isinstance(app, ExplorerApp)
    await app.ready.wait()
    for _ in range(shot.steps):
        app.action_step()  # what "n" does; the key itself is tested elsewhere
        await _settle(pilot)
    frames = app.query_one(FrameList)
    if shot.frame is not None:
        row = _row_of(frames, shot.frame)
        for _ in range(3):  # a late batch may still move the cursor to the tail
            frames.select(row)
            await _settle(pilot)
            if frames.cursor_row == row:
                break
    frames.focus()  # the learner's focus: where the app puts it at start
    await _settle(pilot)
    await pilot.wait_for_scheduled_animations()
    app.clear_notifications()
    await pilot.pause()


def _row_of(frames: FrameList, item: int) -> int:
    """The row showing `frames.items[item]`.

    A folded heartbeat row stands for its last heartbeat: this is the first
    row whose run reaches the item.
    """
    last_of_row = [
        frames.items.index(frames.item_at(row)) for row in range(frames.row_count)
    ]
    return bisect_left(last_of_row, item)


async def _settle(pilot: Pilot[Any]) -> None:
    """Let messages be handled, then every worker they started finish."""
    app = pilot.app
    while True:
        while busy := [worker for worker in app.workers if not worker.is_finished]:
            # An exclusive worker (the lesson's) may be replaced while we wait.
            with contextlib.suppress(WorkerCancelled):
                await app.workers.wait_for_complete(busy)
        # Only now, with no lesson update replacing widgets, wait for the screen.
        await pilot.pause()
        if all(worker.is_finished for worker in app.workers):
            return
