"""The explorer's commands in the command palette (ctrl+p).

Owns the list: restart, the pace, recordings, experiments (the commands that
open another connection), then progress, lessons, quizzes and jumping to a
phase (the commands on the connection shown). Each command calls on the part
of the app that owns it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from textual.app import SystemCommand

from explorer.course.questions import questions_for
from explorer.lab.registry import EXPERIMENTS
from explorer.protocol.lifecycle import ORDER
from explorer.recording.replay import (
    bundled_amqp10_recording,
    bundled_recording,
    recorded_experiment,
)

if TYPE_CHECKING:
    from explorer.ui.app import ExplorerApp


def commands(app: ExplorerApp) -> Iterator[SystemCommand]:
    """The explorer's palette commands, for `app`'s state now."""
    yield from connecting(app)
    yield from studying(app)


def connecting(app: ExplorerApp) -> Iterator[SystemCommand]:
    """The commands that open the app's next connection (in place of this one)."""
    yield SystemCommand(
        "Restart the connection", "Close it and connect again", app.action_restart
    )
    yield SystemCommand(
        "Your own pace" if app.race else "Race the broker's clock",
        "Connect again with the handshake at wire speed, reviewed step by step"
        if app.race
        else "Connect again with each handshake frame held until you step, "
        "while RabbitMQ's 10 s handshake_timeout runs",
        app.action_race,
    )
    yield SystemCommand(
        "Open the bundled recording",
        "A full AMQP 0-9-1 lifecycle (aiormq) recorded against a real RabbitMQ",
        lambda: app.run_worker(app.connections.open_recording(bundled_recording())),
    )
    yield SystemCommand(
        "Open the bundled AMQP 1.0 recording",
        "A full AMQP 1.0 lifecycle (Qpid Proton) recorded against a real "
        "RabbitMQ 4: explore 1.0 without a broker that speaks it",
        lambda: app.run_worker(
            app.connections.open_recording(bundled_amqp10_recording())
        ),
    )
    yield SystemCommand(
        "Open the recorded experiment",
        "The no-permission experiment of the failure lab, recorded",
        lambda: app.run_worker(app.connections.open_recording(recorded_experiment())),
    )
    yield SystemCommand(
        "Plain lifecycle",
        "Leave the experiment: connect again and step the normal lifecycle",
        lambda: app.run_worker(app.connections.plain_lifecycle()),
    )
    for name, scenario in EXPERIMENTS.items():
        yield SystemCommand(
            f"Experiment: {name}",
            scenario.title,
            lambda name=name: app.experiments.run(name),
        )


def studying(app: ExplorerApp) -> Iterator[SystemCommand]:
    """The commands on the connection shown: its lessons, phases and quizzes."""
    yield SystemCommand(
        "Reset progress",
        "Forget finished lessons and passed try-it checks",
        lambda: reset_progress(app),
    )
    for topic in app.lessons.course.topics:
        yield SystemCommand(
            f"Lesson: {topic.title}",
            "A topic lesson",
            lambda topic=topic: app.lessons.show(topic),
        )
    for phase in ORDER:
        yield SystemCommand(
            f"Lesson: {phase.number} {phase.value}",
            f"Show the lesson for the {phase.value} phase",
            lambda phase=phase: app.lessons.show_phase(phase),
        )
        yield SystemCommand(
            f"Jump to phase: {phase.value}",
            f"Step the connection up to the {phase.value} phase and select "
            "its first frame",
            lambda phase=phase: app.steps.to(phase),
        )
        if questions_for(phase, "quiz", app.stepper.dialect.key):
            yield SystemCommand(
                f"Quiz: {phase.value}",
                f"Questions on the {phase.value} phase, answered from your frames",
                lambda phase=phase: app.quizzes.quiz(phase),
            )


def reset_progress(app: ExplorerApp) -> None:
    """Forget finished lessons, passed checks and answers."""
    app.progress.reset()
    app.notify("Progress reset: no lesson finished, no check passed.")
