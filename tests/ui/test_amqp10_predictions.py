"""Predict, then see, and quizzes in the app for AMQP 1.0 (issue 15).

A live 1.0 run on RabbitMQ 4.0.5 asks, before tcp, what its own 1.0 frames
will answer (never 0-9-1's Start and Tune), and grades it when the broker's
sasl-mechanisms and open arrive; a 0-9-1 run still asks its own. The quizzes
of the 1.0 lessons are answered from a 1.0 connection's frames: the recorded
1.0 lifecycle's here, which needs no broker.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Input

from explorer.course.progress import Progress
from explorer.course.questions import AMQP10, QUESTIONS, predictions_before
from explorer.protocol.dialect import AMQP_1_0
from explorer.protocol.lifecycle import Phase
from explorer.ui.app import ExplorerApp, live, replay
from explorer.ui.question import QuestionScreen
from tests.conftest import User, answering
from tests.integration.test_amqp10_bytes import BROKER4, HOST, PORT, throwaway_user
from tests.ui.conftest import running, settle, step
from tests.ui.test_questions import answer, asked, notes, steps_until_next

CAPTURE = Path(__file__).parents[1] / "captures" / "amqp10" / "lifecycle.jsonl"
#: The learner's predictions: right about the mechanisms and max-frame-size.
GUESSES = {
    "amqp10-mechanisms": "anonymous, PLAIN, AMQPLAIN",
    "amqp10-max-frame-size": "128 KiB",
    "amqp10-idle-time-out": "60 s",  # RabbitMQ 4.0.5 announces 30000 ms: wrong
}


@pytest.fixture
def user4(request: pytest.FixtureRequest) -> Iterator[User]:
    """A throwaway user on RabbitMQ 4.0.5 (skipped without the broker)."""
    answering(BROKER4, request)
    yield from throwaway_user()


@pytest.mark.broker
async def test_a_1_0_run_asks_the_1_0_predictions_before_tcp(user4: User) -> None:
    url = f"amqp://{user4.name}:{user4.password}@{HOST}:{PORT}/"
    progress = Progress.load()
    app = ExplorerApp(
        live(url, dialect=AMQP_1_0), source="live 1.0", url=url, progress=progress,
        predict=True,
    )  # fmt: skip
    async with running(app) as pilot:
        await steps_until_next(app, Phase.TCP)
        app.action_step()  # the tcp step: its 1.0 predictions are asked first
        screen = await asked(app)
        assert all(q.protocol == AMQP10 for q in screen.questions)
        assert "Predict, then see · before the tcp step" in str(
            screen.query_one("#question-kind").render()
        )
        assert await answer(app, pilot, GUESSES) == list(GUESSES)
        assert list(GUESSES) == [q.name for q in predictions_before(Phase.TCP, AMQP10)]
        await settle(app)
        assert app.stepper.next_phase is Phase.HEADER, "the tcp step ran after"
        assert set(app.quizmaster.predicted) == set(GUESSES), "nothing to grade yet"
        await steps_until_next(app, Phase.CHANNEL)  # header, auth, open
        assert app.quizmaster.predicted == {}
        answers = progress.answers
        assert answers["amqp10-mechanisms"].startswith(
            "✓ you predicted anonymous, PLAIN, AMQPLAIN; your broker's sasl-mechanisms"
        )
        assert answers["amqp10-max-frame-size"] == (
            "✓ you predicted 128 KiB; your broker's open carried max-frame-size=131072"
        )
        assert answers["amqp10-idle-time-out"] == (
            "✗ you predicted 60 s; your broker's open carried idle-time-out=30000 ms"
        )
        assert any(m.startswith("✗ you predicted 60 s;") for m in notes(app))
        assert not {q.name for q in predictions_before(Phase.TCP)} & set(answers)
        # The 1.0 open lesson lists its questions with the results.
        app.lessons.show_phase(Phase.OPEN)
        await settle(app)
        source = app.panes.lesson.source
        assert "Which max-frame-size (bytes) will your broker announce" in source
        assert "✗ you predicted 60 s" in source
        assert "Connection.Tune" not in source.split("**Predict, then see")[-1]
        # A quiz on open, answered from this connection's frames.
        app.quizzes.quiz(Phase.OPEN)
        for said in ("63", "rabbit4@vm", "0xd0"):
            quiz = await asked(app, screen)
            field = quiz.answers[0]
            assert isinstance(field, Input)
            field.value = said
            await pilot.press("enter")
            screen = quiz
        await settle(app)
        assert progress.answers["amqp10-channel-max"].startswith("✓ you answered 63;")
        assert progress.answers["amqp10-open-constructor"].startswith("✓")
        while not app.stepper.finished:
            await step(app, pilot)
    assert user4.password not in "\n".join(Progress.load().answers.values())


async def test_a_0_9_1_run_still_asks_its_own(broker_url: str) -> None:
    app = ExplorerApp(live(broker_url), source="live", predict=True)
    async with running(app) as pilot:
        assert app.stepper.dialect.key == "0-9-1"
        await steps_until_next(app, Phase.TCP)
        app.action_step()
        screen = await asked(app)
        assert [q.name for q in screen.questions] == [
            "start-mechanisms",
            "tune-frame-max",
            "tune-heartbeat",
        ]
        await pilot.press("escape")
        await settle(app)
        assert app.stepper.next_phase is Phase.HEADER


async def test_the_1_0_quizzes_are_asked_on_a_1_0_recording() -> None:
    """A recording: nothing is predicted, and a quiz's result is not saved."""
    app = ExplorerApp(replay(CAPTURE), source="amqp10", predict=True)
    async with running(app) as pilot:
        app.quizzes.quiz(Phase.HEARTBEAT)
        await settle(app)
        assert "step through the heartbeat phase first" in notes(app)[-1]
        while not app.stepper.finished:
            await step(app, pilot)
        assert not isinstance(app.screen, QuestionScreen), "a recording: no predicting"
        app.quizzes.quiz(Phase.TUNE)
        await settle(app)
        assert notes(app)[-1] == "No quiz on the tune phase."  # 1.0 has no tune
        app.quizzes.quiz(Phase.HEARTBEAT)
        quiz = await asked(app)
        assert quiz.questions == (QUESTIONS["amqp10-empty-frame-size"],)
        field = quiz.answers[0]
        assert isinstance(field, Input)
        field.value = "8"
        await pilot.press("enter")
        await settle(app)
        told = app.quizmaster.results["amqp10-empty-frame-size"]
        assert told.startswith("✓ you answered 8; your broker's empty frame was 8")
        assert "amqp10-empty-frame-size" not in app.progress.answers
