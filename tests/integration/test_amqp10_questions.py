"""The AMQP 1.0 predictions, graded from live frames on RabbitMQ 4.0.5.

Each 1.0 failure experiment runs through lab_engine with a throwaway user (as
tests/integration/test_amqp10_experiments.py runs them); its prediction is
graded from the frames it made, and a plain 1.0 lifecycle answers the
predictions asked before its tcp step.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from explorer.course.answers10 import NOTHING
from explorer.course.questions import AMQP10, QUESTIONS, grade, predictions_before
from explorer.engine.core import Engine
from explorer.protocol.dialect import AMQP_1_0
from explorer.protocol.frames import Frame
from explorer.protocol.lifecycle import Phase
from tests.conftest import User, answering
from tests.integration.test_amqp10_bytes import BROKER4, throwaway_user
from tests.integration.test_amqp10_experiments import run, url4

pytestmark = pytest.mark.broker


@pytest.fixture
def user4(request: pytest.FixtureRequest) -> Iterator[User]:
    answering(BROKER4, request)
    yield from throwaway_user()


def graded(name: str, said: str, frames: list[Frame], *, over: bool = True) -> str:
    result = grade(QUESTIONS[name], said, frames, over=over)
    assert result is not None, f"{name}: the frames should hold the answer"
    return result.summary


async def test_a_plain_1_0_lifecycle_answers_the_predictions(user4: User) -> None:
    engine = Engine(url4(user4), lambda event: None, dialect=AMQP_1_0)
    try:
        await engine.run()
    finally:
        await engine.aclose()
    frames = engine.frames
    said = {
        "amqp10-mechanisms": "PLAIN AMQPLAIN ANONYMOUS",
        "amqp10-max-frame-size": "131072",
        "amqp10-idle-time-out": "30000",
    }
    assert list(said) == [q.name for q in predictions_before(Phase.TCP, AMQP10)]
    for name, value in said.items():
        assert graded(name, value, frames, over=False).startswith("✓"), name


async def test_a_wrong_password_gets_sasl_outcome_code_1(user4: User) -> None:
    result = await run(url4(user4), "amqp10-wrong-password")
    summary = graded("amqp10-wrong-password-code", "1", result.frames)
    assert summary == (
        "✓ you predicted 1; your broker answered sasl-init with sasl-outcome "
        "code=1 (auth)"
    )
    assert user4.password not in summary


async def test_an_unknown_vhost_gets_no_open_and_no_close(user4: User) -> None:
    result = await run(url4(user4), "amqp10-unknown-vhost")
    question = QUESTIONS["amqp10-unknown-vhost-answer"]
    assert grade(question, "c", result.frames, over=False) is None
    summary = graded("amqp10-unknown-vhost-answer", "c", result.frames)
    assert summary.startswith("✓ you predicted c; your client's open carried ")
    assert "hostname='vhost:amqp-explorer-no-such-vhost'" in summary
    assert graded("amqp10-unknown-vhost-answer", NOTHING, result.frames)[0] == "✓"
    assert graded("amqp10-unknown-vhost-answer", "a", result.frames)[0] == "✗"


async def test_a_missing_queue_gets_amqp_not_found(user4: User) -> None:
    result = await run(url4(user4), "amqp10-missing-queue")
    summary = graded("amqp10-missing-queue-condition", "not found", result.frames)
    assert summary.startswith("✓ you predicted not found; your client attached")
    assert "end with amqp:not-found" in summary
