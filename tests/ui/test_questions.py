"""Predict, then see, and quizzes in the app: asked on screen, graded from frames."""

from __future__ import annotations

import asyncio

from pamqp import commands
from pamqp.frame import marshal
from textual.pilot import Pilot
from textual.widgets import Button, Input, OptionList

from explorer.course.answers import DROPS, SAYS_NOTHING
from explorer.course.lessons import Course, Lesson
from explorer.course.progress import Progress
from explorer.course.questions import QUESTIONS, predictions_before
from explorer.protocol import Direction, Frame, FrameDecoder
from explorer.protocol.lifecycle import Phase
from explorer.recording.replay import bundled_recording
from explorer.ui.app import ExplorerApp, live, replay
from explorer.ui.question import Choices, QuestionScreen
from tests.ui.conftest import running, settle

#: One short lesson per phase: its footer lists the questions and results.
COURSE = Course(
    "questions",
    tuple(Lesson(p, p.value, f"{p.value}.md", (), f"# {p.value}\n") for p in Phase),
)
#: What the learner answers to each prediction asked before the tcp step.


def predictions(broker_major: int) -> dict[str, str]:
    """The learner's predictions: right about the mechanisms and frame_max."""
    return {
        # 4.x adds ANONYMOUS to the mechanisms 3.x offers.
        "start-mechanisms": "amqplain, PLAIN"
        + (", anonymous" if broker_major >= 4 else ""),
        "tune-frame-max": "128 KiB",
        "tune-heartbeat": "30",  # RabbitMQ proposes 60: graded wrong
    }


async def asked(
    app: ExplorerApp, after: QuestionScreen | None = None
) -> QuestionScreen:
    """The questions on screen (new ones, not `after`), once lessons are drawn.

    They are ready once the first answer has the focus.
    """
    for _ in range(200):
        screen = app.screen
        drawing = any(w.group == "lesson" and not w.is_finished for w in app.workers)
        if (
            isinstance(screen, QuestionScreen)
            and screen is not after
            and not drawing
            and screen.focused is screen.answers[0]
        ):
            return screen
        await asyncio.sleep(0.05)
    raise AssertionError(f"no question was asked; the screen is {app.screen!r}")


async def answer(
    app: ExplorerApp, pilot: Pilot[int], answers: dict[str, str]
) -> list[str]:
    """Answer the one screen of questions asked, by keyboard; the names on it.

    Enter goes from each answer to the next, and on the last one sends them.
    """
    screen = await asked(app)
    names = [question.name for question in screen.questions]
    for index, (name, field) in enumerate(zip(names, screen.answers, strict=True)):
        assert screen.focused is field, f"enter moved on to question {index + 1}"
        assert isinstance(field, Input)
        field.value = answers[name]
        await pilot.press("enter")
    assert app.screen is not screen, "the last enter sent every answer"
    return names


async def steps_until_next(app: ExplorerApp, phase: Phase) -> None:
    """Step (nothing asked on the way) until `phase` is the next step."""
    while app.stepper.next_phase is not phase:
        app.action_step()
        await settle(app)


def notes(app: ExplorerApp) -> list[str]:
    return [n.message for n in app.notifications]


async def test_predictions_before_tcp_are_graded_when_the_broker_answers(
    broker_url: str, broker_major: int
) -> None:
    guesses = predictions(broker_major)
    progress = Progress.load()
    app = ExplorerApp(
        live(broker_url), source="live", course=COURSE, progress=progress, predict=True
    )
    async with running(app) as pilot:
        await steps_until_next(app, Phase.TCP)
        app.action_step()  # the tcp step: its predictions are asked first, together
        assert await answer(app, pilot, guesses) == list(guesses)
        assert list(guesses) == [q.name for q in predictions_before(Phase.TCP)]
        await settle(app)
        assert app.stepper.next_phase is Phase.HEADER, "the tcp step ran after"
        assert set(app.quizmaster.predicted) == set(guesses), "nothing to grade yet"
        # Header and start: the broker's Connection.Start is on screen by now
        # (at its own pace or racing the clock, it arrives at one or the other).
        await steps_until_next(app, Phase.AUTH)
        assert "start-mechanisms" in progress.answers
        assert progress.answers["start-mechanisms"].startswith(
            f"✓ you predicted {guesses['start-mechanisms']}; your broker's"
        )
        assert "tune-frame-max" in app.quizmaster.predicted, (
            "no Tune yet: still waiting"
        )
        await steps_until_next(app, Phase.OPEN)  # auth and tune: StartOk, the Tune
        assert app.quizmaster.predicted == {}
        assert progress.answers["tune-frame-max"].startswith("✓ you predicted 128 KiB")
        assert "frame_max=131072" in progress.answers["tune-frame-max"]
        assert progress.answers["tune-heartbeat"].startswith("✗ you predicted 30")
        assert any(m.startswith("✗ you predicted 30;") for m in notes(app))
        app.lessons.show_phase(Phase.TUNE)
        await settle(app)
        assert "✓ you predicted 128 KiB" in app.panes.lesson.source
        assert "✗ you predicted 30" in app.panes.lesson.source
        # A new connection asks again only what was predicted wrong.
        await app.action_restart()
        await steps_until_next(app, Phase.TCP)
        app.action_step()
        retry = {"tune-heartbeat": "60 s"}
        assert await answer(app, pilot, retry) == ["tune-heartbeat"]
        await steps_until_next(app, Phase.OPEN)
        assert progress.answers["tune-heartbeat"].startswith("✓ you predicted 60 s")
        assert not isinstance(app.screen, QuestionScreen)
    saved = Progress.load()
    assert set(saved.answers) == set(guesses)


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
        app.quizzes.quiz(Phase.TUNE)  # before the tune frames exist
        await pilot.pause()
        assert "step through the tune phase first" in notes(app)[-1]
        while app.stepper.next_phase is not Phase.OPEN:
            app.action_step()
            await settle(app)
        app.lessons.show_phase(Phase.TUNE)
        await settle(app)
        assert "press a" not in app.panes.lesson.source, (
            "no predictions, no results yet"
        )
        app.action_quiz()  # the a key
        first = await asked(app)
        assert [q.name for q in first.questions] == ["tune-frame-size"]
        first.query_one(Input).value = "20 bytes"
        await pilot.press("enter")
        second = await asked(app, first)
        assert [q.name for q in second.questions] == ["tune-ok-heartbeat"]
        await pilot.press("escape")  # skipped: not graded
        await settle(app)
        assert not isinstance(app.screen, QuestionScreen)
        graded = [n for n in app.notifications if n.message.startswith(("✓", "✗"))]
        assert [n.message.split(";")[0] for n in graded] == ["✓ you answered 20 bytes"]
        assert "recording" in graded[0].title
        assert progress.answers == {}, "a recording never counts"
        await settle(app)
        assert "✓ you answered 20 bytes" in app.panes.lesson.source  # for this session
        assert "not answered yet" in app.panes.lesson.source


async def test_an_experiment_prediction_is_a_choice_graded_after_the_run() -> None:
    progress = Progress.load()
    app = ExplorerApp(
        replay(bundled_recording()), source="bundled", progress=progress, predict=True
    )
    async with running(app) as pilot:
        app.run_worker(app.quizmaster.before_experiment("channel-max-above"))
        screen = await asked(app)
        assert screen.questions == (QUESTIONS["channel-max-above"],)
        options = screen.query_one(OptionList)
        assert options.option_count == len(screen.questions[0].choices)
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
        grade = app.quizzes.grade_pending
        assert grade(frames, over=False) == []  # it may still answer
        (result,) = grade(frames)
        assert result.right
        assert progress.answers["channel-max-above"].startswith(
            "✓ you predicted it drops"
        )
        # Answered right: not asked again before the next run.
        await app.quizmaster.before_experiment("channel-max-above")
        assert not isinstance(app.screen, QuestionScreen)
        # Skipped with escape: not pending, and not asked again this session.
        app.run_worker(app.quizmaster.before_experiment("unknown-vhost"))
        skipped = await asked(app)
        assert [q.name for q in skipped.questions] == ["unknown-vhost-code"]
        await pilot.press("escape")
        await settle(app)
        assert app.quizmaster.predicted == {}
        await app.quizmaster.before_experiment("unknown-vhost")
        assert not isinstance(app.screen, QuestionScreen)


async def test_the_questions_fit_80x24_scroll_and_answer_by_mouse() -> None:
    app = ExplorerApp(replay(bundled_recording()), source="bundled")
    questions = [
        *predictions_before(Phase.TCP),
        QUESTIONS["channel-max-above"],
        QUESTIONS["wrong-password-silent"],
    ]
    async with running(app, size=(80, 24)) as pilot:
        asking = app.run_worker(app.quizmaster.ask(questions))
        screen = await asked(app)
        assert screen.questions == tuple(questions), "all of them on one screen"
        await pilot.pause()  # laid out
        dialog = screen.query_one("#question")
        whole = app.screen.region
        assert whole.contains_region(dialog.region), "the screen fits 80x24"
        assert dialog.max_scroll_y > 0, "five questions do not: they scroll"
        confirm = screen.query_one("#confirm", Button)
        assert whole.contains_region(confirm.region), "Confirm stays on screen"
        first = screen.answers[0]
        assert isinstance(first, Input)
        await pilot.click(first)
        await pilot.press(*"SASL")  # typed into the first answer
        assert first.value == "SASL"
        choices = screen.answers[3]
        assert isinstance(choices, Choices)
        choices.scroll_visible(animate=False)
        await pilot.pause()
        assert dialog.region.contains_region(choices.region), "scrolled to it"
        await pilot.click(choices, offset=(4, 3))  # its fourth choice
        assert choices.chosen == 3
        assert "● d)" in str(choices.get_option_at_index(3).prompt)
        quiet = screen.answers[4]
        assert isinstance(quiet, Choices)
        quiet.focus()
        await pilot.press("c")  # a choice's letter chooses it; the last: sent
        await asking.wait()
    assert asking.result == {
        "start-mechanisms": "SASL",
        "channel-max-above": DROPS,
        "wrong-password-silent": SAYS_NOTHING,
    }, "blank ones are skipped"


async def test_confirm_and_skip_all_answer_the_whole_screen() -> None:
    progress = Progress.load()
    app = ExplorerApp(
        replay(bundled_recording()), source="bundled", progress=progress, predict=True
    )
    due = predictions_before(Phase.TCP)
    async with running(app) as pilot:
        # Escape skips all: none waits, none is asked again this session.
        app.run_worker(app.quizmaster.before_step(Phase.TCP, [], "0-9-1"))
        screen = await asked(app)
        assert len(screen.questions) == len(due)
        await pilot.press("escape")
        await settle(app)
        assert app.quizmaster.predicted == {}
        assert app.quizmaster.skipped == {q.name for q in due}
        await app.quizmaster.before_step(Phase.TCP, [], "0-9-1")
        assert not isinstance(app.screen, QuestionScreen)
        # Confirm by mouse sends what was answered; a blank one is skipped.
        app.quizmaster.skipped.clear()
        app.run_worker(app.quizmaster.before_step(Phase.TCP, [], "0-9-1"))
        screen = await asked(app)
        first, second = screen.query(Input)[:2]
        first.value, second.value = "PLAIN AMQPLAIN", "131072"
        await pilot.click("#confirm")
        await settle(app)
        assert app.quizmaster.predicted == {
            "start-mechanisms": "PLAIN AMQPLAIN",
            "tune-frame-max": "131072",
        }
        assert app.quizmaster.skipped == {"tune-heartbeat"}
