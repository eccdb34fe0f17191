"""The lesson pane picks each phase's lesson for the protocol the stepper's
connection speaks: a replay of the recorded AMQP 1.0 lifecycle shows the 1.0
lessons (21-30; tls, which no 1.0 run has yet, 0-9-1's), a 0-9-1 replay the
0-9-1 ones (issue 15)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Markdown

from explorer.protocol.dialect import AMQP_0_9_1, AMQP_1_0
from explorer.protocol.lifecycle import Phase
from explorer.recording.replay import bundled_recording
from explorer.ui.app import ExplorerApp, replay
from tests.ui.conftest import running, settle, step

CAPTURE = Path(__file__).parents[1] / "captures" / "amqp10" / "lifecycle.jsonl"
#: The lesson of each phase of a 1.0 run.
LESSONS_1_0 = {
    Phase.ENDPOINT: "28-amqp10-endpoint.md",
    Phase.RESOLVE: "29-amqp10-resolve.md",
    Phase.TCP: "30-amqp10-tcp.md",
    Phase.TLS: "04-tls.md",
    Phase.HEADER: "21-amqp10-header.md",
    Phase.AUTH: "22-amqp10-auth.md",
    Phase.OPEN: "23-amqp10-open.md",
    Phase.CHANNEL: "24-amqp10-begin.md",
    Phase.OPERATIONS: "25-amqp10-operations.md",
    Phase.HEARTBEAT: "26-amqp10-heartbeat.md",
    Phase.CLOSE: "27-amqp10-close.md",
}


async def stepped_lessons(app: ExplorerApp) -> dict[Phase, str]:
    """Step the replay to its end: the lesson file the pane showed at each
    phase, checked against the pane's Markdown (its title, first); then the
    lesson of each phase of the protocol's plan that no step showed (a bare
    capture has no socket phases, and its empty frames come among the
    operations), as the pane shows it when that phase is selected."""
    shown: dict[Phase, str] = {}
    async with running(app) as pilot:
        while not app.stepper.finished:
            await step(app, pilot)
            lesson = app.lessons.lesson
            assert lesson is not None
            assert lesson.phase is not None
            markdown = app.query_one("#lesson", Markdown).source
            assert markdown.startswith(f"# {lesson.title}\n")
            shown.setdefault(lesson.phase, lesson.file)
        for phase in app.stepper.dialect.plan_for(True):
            if phase in shown:
                continue
            app.lessons.show_phase(phase)
            await settle(app)
            assert app.lessons.lesson is not None
            shown[phase] = app.lessons.lesson.file
            markdown = app.query_one("#lesson", Markdown).source
            assert markdown.startswith(f"# {app.lessons.lesson.title}\n")
    return shown


async def test_a_1_0_replay_shows_the_1_0_lesson_of_each_phase() -> None:
    app = ExplorerApp(replay(CAPTURE), source="amqp10")
    shown = await stepped_lessons(app)
    assert app.stepper.dialect is AMQP_1_0
    assert shown == LESSONS_1_0


async def test_a_0_9_1_replay_still_shows_the_0_9_1_lessons() -> None:
    app = ExplorerApp(replay(bundled_recording()), source="bundled")
    shown = await stepped_lessons(app)
    assert app.stepper.dialect is AMQP_0_9_1
    assert set(shown) == set(Phase)
    assert shown[Phase.ENDPOINT] == "01-endpoint.md"
    assert shown[Phase.RESOLVE] == "02-resolve.md"
    assert shown[Phase.TCP] == "03-tcp.md"
    assert shown[Phase.OPEN] == "09-open.md"
    assert not {file for file in shown.values() if "amqp10" in file}
