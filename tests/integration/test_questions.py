"""Predictions and quizzes graded against the live broker's own frames."""

from __future__ import annotations

import struct

import pytest
from yarl import URL

from explorer.course.questions import QUESTIONS, grade
from explorer.engine.core import Engine
from explorer.lab.registry import lab_engine
from explorer.protocol.frames import Direction, Frame
from explorer.protocol.queries import first_named

B2C = Direction.BROKER_TO_CLIENT


async def frames_of(url: str, experiment: str | None = None) -> list[Frame]:
    """Every frame of one full run against the broker (or of one experiment)."""
    engine = (
        lab_engine(url, experiment, lambda event: None, live_handshake=False, wait=5)
        if experiment
        else Engine(url, lambda event: None, live_handshake=False, wait=5)
    )
    try:
        await engine.run()
    finally:
        await engine.aclose()
    return engine.frames


def right(name: str, said: str, frames: list[Frame], *, over: bool = False) -> bool:
    result = grade(QUESTIONS[name], said, frames, over=over)
    assert result is not None, f"{name}: the live frames should hold the answer"
    return result.right


def tune_values(frames: list[Frame]) -> tuple[int, int, int]:
    """channel_max, frame_max, heartbeat, read from the Tune frame's own bytes."""
    tune = first_named(frames, B2C, "Connection.Tune")
    assert tune is not None
    # 7-byte frame header, then class id and method id (2 + 2 bytes).
    values: tuple[int, int, int] = struct.unpack_from(">HIH", tune.raw, 11)
    return values


async def test_predictions_are_graded_from_the_live_handshake(broker_url: str) -> None:
    frames = await frames_of(str(URL(broker_url).update_query(heartbeat=5)))
    _, frame_max, heartbeat = tune_values(frames)
    assert right("tune-frame-max", str(frame_max), frames)
    assert right("tune-frame-max", f"{frame_max // 1024} KiB", frames)
    assert not right("tune-frame-max", str(frame_max - 1), frames)
    # The question is what the broker proposes: ?heartbeat=5 changes TuneOk only.
    assert heartbeat == 60  # RabbitMQ's default
    assert right("tune-heartbeat", "60", frames)
    assert not right("tune-heartbeat", "5", frames)
    assert right("tune-ok-heartbeat", "5 s", frames)
    start = first_named(frames, B2C, "Connection.Start")
    assert start is not None
    offered = str(getattr(start.payload, "mechanisms", "")).split()
    assert "PLAIN" in offered
    assert right("start-mechanisms", ", ".join(reversed(offered)), frames)
    assert not right(
        "start-mechanisms", " ".join([*offered, "NOT-A-MECHANISM"]), frames
    )


async def test_quizzes_are_graded_from_the_live_connection(broker_url: str) -> None:
    frames = await frames_of(str(URL(broker_url).update_query(frame_max=8192)))
    properties = getattr(first_named(frames, B2C, "Connection.Start"), "payload", None)
    server = getattr(properties, "server_properties", {})
    assert server["product"] == "RabbitMQ"
    version = str(server["version"])
    assert right("start-product", f"rabbitmq {version}", frames)
    assert right("start-product", version, frames)
    assert not right("start-product", "RabbitMQ 0.0.1", frames)
    # A smaller frame_max in the URL changes TuneOk, not the broker's proposal.
    assert not right("tune-frame-max", "8192", frames)
    assert right("tune-frame-size", "20", frames)
    assert right("open-vhost", "/", frames)
    # aiormq asks for publisher confirms, among others; all of them, any order.
    assert not right("auth-capabilities", "publisher_confirms", frames)
    assert right(
        "auth-capabilities",
        "publisher_confirms, basic.nack, connection.blocked, "
        "consumer_cancel_notify, authentication_failure_close",
        frames,
    )
    assert right("publish-body-frames", "1", frames)


@pytest.mark.parametrize(
    ("experiment", "question", "said", "wrong"),
    [
        ("wrong-password", "wrong-password-code", "403", "530"),
        ("unknown-vhost", "unknown-vhost-code", "530 NOT_ALLOWED", "403"),
    ],
)
async def test_experiment_predictions_are_graded_from_the_broker_reply(
    broker_url: str, experiment: str, question: str, said: str, wrong: str
) -> None:
    frames = await frames_of(broker_url, experiment)
    assert right(question, said, frames)
    assert not right(question, wrong, frames)


@pytest.mark.parametrize(
    ("experiment", "question", "letter"),
    [
        ("channel-max-above", "channel-max-above", "d"),
        ("wrong-password-silent", "wrong-password-silent", "c"),
    ],
)
async def test_a_drop_without_close_is_graded_once_the_experiment_is_over(
    broker_url: str, experiment: str, question: str, letter: str
) -> None:
    frames = await frames_of(broker_url, experiment)
    assert grade(QUESTIONS[question], letter, frames) is None  # silence, so far
    assert right(question, letter, frames, over=True)
    assert not right(question, "b", frames, over=True)
