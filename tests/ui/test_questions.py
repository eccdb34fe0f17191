"""Predict, then see, and quizzes in the app: asked in a modal, graded from frames."""

from __future__ import annotations

import asyncio

from pamqp import commands
from pamqp.frame import marshal
from textual.pilot import Pilot
from textual.widgets import Input, OptionList

from explorer.course import Course, Lesson
from explorer.progress import Progress
from explorer.protocol import Direction, Frame, FrameDecoder
from explorer.protocol.lifecycle import Phase
from explorer.questions import DROPS, QUESTIONS
from explorer.ui.app import ExplorerApp, bundled_recording, live, replay
from explorer.ui.question import QuestionScreen
from tests.ui.test_app import running, settle

#: One short lesson per phase: its footer lists the questions and results.
COURSE = Course(
    "questions",
    tuple(Lesson(p, p.value, f"{p.value}.md", (), f"# {p.value}\n") for p in Phase),
)
#: What the learner answers to each prediction asked before the tcp step.
PREDICTIONS = {
    "start-mechanisms": "amqplain, PLAIN",
    "tune-frame-max": "128 KiB",
    "tune-heartbeat": "30",  # RabbitMQ proposes 60: graded wrong
}


async def asked(
    app: ExplorerApp, after: QuestionScreen | None = None
) -> QuestionScreen:
    """The question on screen (a new one, not `after`), once lessons are drawn."""
    for _ in range(200):
        screen = app.screen
        drawing = any(w.group == "lesson" and not w.is_finished for w in app.workers)
        if isinstance(screen, QuestionScreen) and screen is not after and not drawing:
            return screen
        await asyncio.sleep(0.05)
    raise AssertionError(f"no question was asked; the screen is {app.screen!r}")


async def answer(
    app: ExplorerApp, pilot: Pilot[int], answers: dict[str, str]
) -> list[str]:
    """Answer questions until none is left on screen; the names asked, in order."""
    names: list[str] = []
    previous: QuestionScreen | None = None
    while len(names) < len(answers):
        previous = await asked(app, previous)
        name = previous.question.name
        names.append(name)
        previous.query_one(Input).value = answers[name]
        await pilot.press("enter")
    return names


async def steps_until_next(app: ExplorerApp, phase: Phase) -> None:
    """Step (nothing asked on the way) until `phase` is the next step."""
    while app.stepper.next_phase is not phase:
        app.action_step()
        await settle(app)


def notes(app: ExplorerApp) -> list[str]:
    return [n.message for n in app._notifications]


async def test_predictions_before_tcp_are_graded_when_the_broker_answers(
    broker_url: str,
) -> None:
    progress = Progress.load()
    app = ExplorerApp(
        live(broker_url), source="live", course=COURSE, progress=progress, predict=True
    )
    async with running(app) as pilot:
        await steps_until_next(app, Phase.TCP)
        app.action_step()  # the tcp step: its predictions are asked first
        assert await answer(app, pilot, PREDICTIONS) == list(PREDICTIONS)
        await settle(app)
        assert app.stepper.next_phase is Phase.HEADER, "the tcp step ran after"
        assert set(app.quizmaster.predicted) == set(PREDICTIONS), "nothing to grade yet"
        app.action_step()  # header: the broker's Connection.Start comes back
        await settle(app)
        assert "start-mechanisms" in progress.answers
        assert progress.answers["start-mechanisms"].startswith(
            "✓ you predicted amqplain, PLAIN; your broker's Connection.Start"
        )
        assert "tune-frame-max" in app.quizmaster.predicted, (
            "no Tune yet: still waiting"
        )
        await steps_until_next(app, Phase.TUNE)  # auth: StartOk, then the Tune
        assert app.quizmaster.predicted == {}
        assert progress.answers["tune-frame-max"].startswith("✓ you predicted 128 KiB")
        assert "frame_max=131072" in progress.answers["tune-frame-max"]
        assert progress.answers["tune-heartbeat"].startswith("✗ you predicted 30")
        assert any(m.startswith("✗ you predicted 30;") for m in notes(app))
        app._show_lesson(Phase.TUNE)
        await settle(app)
        assert "✓ you predicted 128 KiB" in app.lesson.source
        assert "✗ you predicted 30" in app.lesson.source
        # A new connection asks again only what was predicted wrong.
        await app.action_restart()
        await steps_until_next(app, Phase.TCP)
        app.action_step()
        retry = {"tune-heartbeat": "60 s"}
        assert await answer(app, pilot, retry) == ["tune-heartbeat"]
        await steps_until_next(app, Phase.TUNE)
        assert progress.answers["tune-heartbeat"].startswith("✓ you predicted 60 s")
        assert not isinstance(app.screen, QuestionScreen)
    saved = Progress.load()
    assert set(saved.answers) == set(PREDICTIONS)


async def test_a_recording_is_never_asked_to_predict() -> None:
    progress = Progress.load()
    app = ExplorerApp(
        replay(bundled_recording()), source="bundled", progress=progress, predict=True
    )
    async with running(app):
        while app.stepper.next_phase is not Phase.OPEN:
            app.action_step()
            await settle(app)  # would hang on a question: none is asked
        assert progress.answers == {}
        assert app.quizmaster.predicted == {}


async def test_the_quiz_key_asks_about_the_lesson_shown_from_its_frames() -> None:
    progress = Progress.load()
    app = ExplorerApp(
        replay(bundled_recording()), source="bundled", course=COURSE, progress=progress
    )
    async with running(app) as pilot:
        palette = [c.title for c in app.get_system_commands(app.screen)]
        assert {"Quiz: start", "Quiz: tune", "Quiz: operations"} <= set(palette)
        assert "Quiz: endpoint" not in palette
        app.action_quiz()  # the endpoint lesson: no quiz
        await pilot.pause()
        assert notes(app)[-1] == "No quiz on the endpoint phase."
        app.quiz(Phase.TUNE)  # before the tune frames exist
        await pilot.pause()
        assert "step through the tune phase first" in notes(app)[-1]
        while app.stepper.next_phase is not Phase.OPEN:
            app.action_step()
            await settle(app)
        app._show_lesson(Phase.TUNE)
        await settle(app)
        assert "press a" not in app.lesson.source, "no predictions, no results yet"
        app.action_quiz()  # the a key
        first = await asked(app)
        assert first.question.name == "tune-frame-size"
        first.query_one(Input).value = "20 bytes"
        await pilot.press("enter")
        second = await asked(app, first)
        assert second.question.name == "tune-ok-heartbeat"
        await pilot.press("escape")  # skipped: not graded
        await settle(app)
        assert not isinstance(app.screen, QuestionScreen)
        graded = [n for n in app._notifications if n.message.startswith(("✓", "✗"))]
        assert [n.message.split(";")[0] for n in graded] == ["✓ you answered 20 bytes"]
        assert "recording" in graded[0].title
        assert progress.answers == {}, "a recording never counts"
        await settle(app)
        assert "✓ you answered 20 bytes" in app.lesson.source  # for this session
        assert "not answered yet" in app.lesson.source


async def test_an_experiment_prediction_is_a_choice_graded_after_the_run() -> None:
    progress = Progress.load()
    app = ExplorerApp(
        replay(bundled_recording()), source="bundled", progress=progress, predict=True
    )
    async with running(app) as pilot:
        app.run_worker(app.ask_before_experiment("channel-max-above"))
        screen = await asked(app)
        assert screen.question is QUESTIONS["channel-max-above"]
        options = screen.query_one(OptionList)
        assert options.option_count == len(screen.question.choices)
        await pilot.press("down", "down", "down", "enter")  # the fourth choice
        await settle(app)
        assert app.quizmaster.predicted == {"channel-max-above": DROPS}
        # What the experiment saw: TuneOk above the broker's 2047, then silence.
        frames = [
            frame
            for direction, payload in [
                (
                    Direction.BROKER_TO_CLIENT,
                    commands.Connection.Tune(2047, 131072, 60),
                ),
                (
                    Direction.CLIENT_TO_BROKER,
                    commands.Connection.TuneOk(4000, 131072, 60),
                ),
            ]
            for frame in FrameDecoder(direction).feed(marshal(payload, 0))
            if isinstance(frame, Frame)
        ]
        assert app.grade_pending(frames, over=False) == []  # it may still answer
        (result,) = app.grade_pending(frames)
        assert result.right
        assert progress.answers["channel-max-above"].startswith(
            "✓ you predicted it drops"
        )
        # Answered right: not asked again before the next run.
        await app.ask_before_experiment("channel-max-above")
        assert not isinstance(app.screen, QuestionScreen)
        # Skipped with escape: not pending, and not asked again this session.
        app.run_worker(app.ask_before_experiment("unknown-vhost"))
        skipped = await asked(app)
        assert skipped.question.name == "unknown-vhost-code"
        await pilot.press("escape")
        await settle(app)
        assert app.quizmaster.predicted == {}
        await app.ask_before_experiment("unknown-vhost")
        assert not isinstance(app.screen, QuestionScreen)
