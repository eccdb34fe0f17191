"""Questions are graded from the learner's own frames, leniently, never from a key."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pamqp import commands
from pamqp.body import ContentBody
from pamqp.frame import FrameTypes
from pamqp.header import ContentHeader

from explorer.course.answers import (
    CARRIES_ON,
    CLOSES_403,
    CLOSES_530,
    CLOSES_OTHER,
    DROPS,
    SAYS_NOTHING,
)
from explorer.course.grading import names, number
from explorer.course.questions import (
    QUESTIONS,
    Question,
    grade,
    predictions_before,
    predictions_for,
    questions_for,
    was_right,
)
from explorer.lab.registry import EXPERIMENTS
from explorer.protocol import Direction, Frame, FrameDecoder
from explorer.protocol.frames import B2C, C2B
from explorer.protocol.lifecycle import Phase
from tests.conftest import capture_frames, wire


def tune(
    channel_max: int = 2047, frame_max: int = 131072, heartbeat: int = 60
) -> list[Frame]:
    return wire((B2C, commands.Connection.Tune(channel_max, frame_max, heartbeat)))


def right(name: str, said: str, frames: list[Frame], *, over: bool = False) -> bool:
    result = grade(QUESTIONS[name], said, frames, over=over)
    assert result is not None, f"{name}: the frames should hold the answer"
    return result.right


@pytest.fixture(scope="module")
def happy(happy_frames: list[Frame]) -> list[Frame]:
    return happy_frames


# The happy path, recorded against RabbitMQ 3.10.8 ---


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [
        ("tune-frame-max", ["131072", "131 072", "131,072", "128 KiB", "128k"],
         ["131071", "65536", "128", "frame_max", ""]),
        ("tune-heartbeat", ["60", " 60 s", "60 seconds", "1 min"],
         ["30", "0", "sixty"]),
        ("start-mechanisms",
         ["PLAIN AMQPLAIN", "amqplain, plain", "plain and AMQPLAIN"],
         ["PLAIN", "PLAIN AMQPLAIN EXTERNAL", "ANONYMOUS"]),
        ("start-product",
         ["RabbitMQ 3.10.8", "3.10.8", "rabbitmq/3.10.8", "  RABBITMQ   3.10.8 "],
         ["RabbitMQ", "3.10.7", "RabbitMQ 4.0.0"]),
        ("auth-capabilities",
         ["publisher_confirms basic.nack connection.blocked consumer_cancel_notify "
          "authentication_failure_close",
          "authentication-failure-close, basic.nack, connection.blocked, "
          "consumer_cancel_notify, publisher_confirms"],
         ["publisher_confirms basic.nack", "none"]),
        ("tune-frame-size", ["20", "20 bytes", "20 B"], ["19", "12", "8"]),
        ("tune-ok-heartbeat", ["60"], ["5"]),
        ("open-vhost", ["/", "'/'", "%2F"], ["", "default", "guest"]),
        ("publish-body-frames", ["1", "1 frame"], ["0", "2", "one"]),
    ],
)  # fmt: skip
def test_answers_come_from_the_happy_path(
    happy: list[Frame], name: str, good: list[str], bad: list[str]
) -> None:
    for said in good:
        assert right(name, said, happy), f"{said!r} should be right"
    for said in bad:
        assert not right(name, said, happy), f"{said!r} should be wrong"


def test_a_refused_password_is_graded_from_the_close() -> None:
    frames = capture_frames("wrong-password")
    assert right("wrong-password-code", "403", frames)
    assert right("wrong-password-code", "403 ACCESS_REFUSED", frames)
    assert not right("wrong-password-code", "530", frames)
    # The login failed, so nothing about tuning is on the wire to grade.
    assert grade(QUESTIONS["tune-frame-max"], "131072", frames) is None
    assert grade(QUESTIONS["unknown-vhost-code"], "530", frames) is None


def test_an_unknown_vhost_is_graded_from_the_close() -> None:
    frames = capture_frames("unknown-vhost")
    assert right("unknown-vhost-code", "530", frames)
    assert right("unknown-vhost-code", "530 not-allowed", frames)
    assert not right("unknown-vhost-code", "403", frames)
    assert right("open-vhost", "no-such-vhost", frames)
    assert grade(QUESTIONS["wrong-password-code"], "403", frames) is None


def test_the_explanation_points_at_the_frame_and_its_value(happy: list[Frame]) -> None:
    result = grade(QUESTIONS["tune-frame-max"], "65 536", happy)
    assert result is not None
    assert not result.right
    assert "Connection.Tune" in result.answer.explanation
    assert "frame_max=131072" in result.answer.explanation
    assert result.summary.startswith("✗ you predicted 65 536;")
    assert not was_right(result.summary)
    quiz = grade(QUESTIONS["tune-frame-size"], "20", happy)
    assert quiz is not None
    assert quiz.summary.startswith("✓ you answered 20;")
    assert was_right(quiz.summary)


@pytest.mark.parametrize(
    "name", sorted(n for n, q in QUESTIONS.items() if q.protocol == "0-9-1")
)
def test_not_answerable_until_its_frame_is_there(happy: list[Frame], name: str) -> None:
    """Too few frames: no grade; from the first frame that holds it, the answer."""
    question = QUESTIONS[name]
    full = question.answer(happy)
    if full is None:
        assert question.experiment, f"{name} is answered by the plain lifecycle"
        return
    first = next(n for n in range(len(happy) + 1) if question.answer(happy[:n]))
    assert first > 0
    assert grade(question, full.accepted[0], happy[: first - 1]) is None
    assert question.answer(happy[:first]) == full


def test_a_publish_is_answered_only_once_its_whole_body_is_sent() -> None:
    publish = (C2B, commands.Basic.Publish(exchange="", routing_key="q"), 1)
    header = (C2B, ContentHeader(0, 300, commands.Basic.Properties()), 1)
    part = (C2B, ContentBody(b"x" * 100), 1)
    question = QUESTIONS["publish-body-frames"]
    assert question.answer(wire(publish)) is None
    assert question.answer(wire(publish, header, part, part)) is None
    done = wire(publish, header, part, part, part, part)  # a second publish's body
    assert right("publish-body-frames", "3", done)


# Nothing is hard-coded: change the broker's value and the answer changes ---


@given(
    frame_max=st.integers(4096, 2**31 - 1).filter(lambda n: n != 131072),
    heartbeat=st.integers(0, 65535).filter(lambda n: n != 60),
)
def test_the_accepted_answer_is_the_value_on_the_wire(
    frame_max: int, heartbeat: int
) -> None:
    frames = tune(frame_max=frame_max, heartbeat=heartbeat)
    assert right("tune-frame-max", str(frame_max), frames)
    assert not right("tune-frame-max", "131072", frames)
    assert not right("tune-frame-max", str(frame_max + 1), frames)
    assert right("tune-heartbeat", f"{heartbeat} s", frames)
    assert not right("tune-heartbeat", "60", frames)


def test_a_small_frame_max_is_accepted_in_any_spelling() -> None:
    frames = tune(frame_max=8192)
    for said in ("8192", "8 192", "8 KiB", "8k"):
        assert right("tune-frame-max", said, frames)
    assert not right("tune-frame-max", "131072", frames)


@given(
    offered=st.lists(
        st.sampled_from(["PLAIN", "AMQPLAIN", "EXTERNAL", "ANONYMOUS", "X-DEMO"]),
        min_size=1, unique=True,
    ),
    version=st.from_regex(r"[1-9]\.[0-9]{1,2}\.[0-9]{1,2}", fullmatch=True),
)  # fmt: skip
def test_mechanisms_and_version_come_from_connection_start(
    offered: list[str], version: str
) -> None:
    start = commands.Connection.Start(
        server_properties={"product": "SomeBroker", "version": version},
        mechanisms=" ".join(offered),
    )
    frames = wire((B2C, start))
    assert right("start-mechanisms", ", ".join(reversed(offered)), frames)
    assert not right("start-mechanisms", " ".join([*offered, "GSSAPI"]), frames)
    assert right("start-product", f"SomeBroker {version}", frames)
    assert right("start-product", version, frames)
    assert not right("start-product", "RabbitMQ 3.10.8", frames)


@given(size=st.integers(0, 5000), room=st.integers(1, 1200))
def test_body_frames_are_counted_not_assumed(size: int, room: int) -> None:
    chunks = [b"x" * min(room, size - i) for i in range(0, size, room)]
    frames = wire(
        (C2B, commands.Basic.Publish(exchange="", routing_key="q"), 1),
        (C2B, ContentHeader(0, size, commands.Basic.Properties()), 1),
        *((C2B, ContentBody(chunk), 1) for chunk in chunks),
    )
    assert right("publish-body-frames", str(len(chunks)), frames)
    assert not right("publish-body-frames", str(len(chunks) + 1), frames)


# Experiments: multiple choice, and the broker's silence once the run is over ---

ABOVE = (C2B, commands.Connection.TuneOk(4000, 131072, 60))


@pytest.mark.parametrize(
    ("reply", "choice"),
    [
        ((B2C, commands.Connection.Close(530, "NOT_ALLOWED", 10, 31)), CLOSES_530),
        (
            (B2C, commands.Connection.Close(503, "COMMAND_INVALID", 10, 31)),
            CLOSES_OTHER,
        ),
        ((B2C, commands.Connection.OpenOk()), CARRIES_ON),
    ],
)
def test_channel_max_above_is_graded_from_what_came_back(
    reply: tuple[Direction, FrameTypes], choice: str
) -> None:
    question = QUESTIONS["channel-max-above"]
    frames = tune() + wire(ABOVE, (C2B, commands.Connection.Open()), reply)
    letter = "abcd"[question.choices.index(choice)]
    for said in (
        letter,
        letter.upper() + ")",
        choice.upper(),
        str("abcd".index(letter) + 1),
    ):
        assert right("channel-max-above", said, frames), said
    other = next(c for c in question.choices if c != choice)
    assert not right("channel-max-above", other, frames)


def test_a_dropped_connection_counts_only_once_the_run_is_over() -> None:
    question = QUESTIONS["channel-max-above"]
    frames = tune() + wire(ABOVE, (C2B, commands.Connection.Open()))
    assert question.answer(frames) is None  # it may still answer
    assert right("channel-max-above", "d", frames, over=True)
    assert not right("channel-max-above", "b", frames, over=True)
    answer = question.answer(frames, over=True)
    assert answer is not None
    assert answer.accepted == (DROPS,)
    assert "channel_max=4000 above the broker's 2047" in answer.explanation
    # Heartbeats say nothing about the TuneOk: still a drop.
    beat = FrameDecoder(B2C).feed(b"\x08\x00\x00\x00\x00\x00\x00\xce")
    frames += [f for f in beat if isinstance(f, Frame)]
    assert right("channel-max-above", "d", frames, over=True)


@pytest.mark.parametrize("asked", [2047, 100, 1])
def test_no_channel_max_answer_unless_tune_ok_asked_for_more(asked: int) -> None:
    frames = tune() + wire((C2B, commands.Connection.TuneOk(asked, 131072, 60)))
    assert grade(QUESTIONS["channel-max-above"], "d", frames, over=True) is None


def test_channel_max_zero_means_no_limit_which_is_above() -> None:
    frames = tune() + wire((C2B, commands.Connection.TuneOk(0, 131072, 60)))
    assert right("channel-max-above", "d", frames, over=True)


def test_a_quiet_refusal_needs_a_client_without_authentication_failure_close() -> None:
    quiet = commands.Connection.StartOk(
        client_properties={"capabilities": {"basic.nack": True}}, response="\0u\0p"
    )
    frames = wire((C2B, quiet))
    assert grade(QUESTIONS["wrong-password-silent"], "c", frames) is None
    assert right("wrong-password-silent", "c", frames, over=True)
    assert right("wrong-password-silent", SAYS_NOTHING, frames, over=True)
    closed = wire(
        (C2B, quiet), (B2C, commands.Connection.Close(403, "ACCESS_REFUSED", 10, 11))
    )
    assert right("wrong-password-silent", CLOSES_403, closed)
    # aiormq advertises authentication_failure_close: not this experiment.
    happy = capture_frames("wrong-password")
    assert grade(QUESTIONS["wrong-password-silent"], "a", happy, over=True) is None


def test_a_wrong_password_dropped_in_silence_has_no_reply_code() -> None:
    frames = wire((C2B, commands.Connection.StartOk(response="\0u\0p")))
    assert grade(QUESTIONS["wrong-password-code"], "403", frames) is None
    assert right("wrong-password-code", "none", frames, over=True)
    assert not right("wrong-password-code", "403", frames, over=True)


# Lenient reading ---


@pytest.mark.parametrize(
    ("said", "value"),
    [("131072", 131072), ("131 072", 131072), ("131_072", 131072), ("128 KiB", 131072),
     ("128kb", 131072), ("1 MiB", 1048576), ("60s", 60), ("2 minutes", 120),
     ("530 NOT_ALLOWED", 530), ("0.5 KiB", 512), ("3.10.8", None), ("sixty", None),
     ("1 frame", 1), ("", None)],
)  # fmt: skip
def test_numbers_are_read_as_numbers(said: str, value: int | None) -> None:
    assert number(said) == value


def test_names_are_a_set() -> None:
    assert names("PLAIN, amqplain") == names("AMQPLAIN  plain") == {"plain", "amqplain"}
    assert names("none") == frozenset()


def test_an_unknown_choice_is_wrong(happy: list[Frame]) -> None:
    frames = tune() + wire(ABOVE, (B2C, commands.Connection.OpenOk()))
    assert not right("channel-max-above", "e", frames)
    assert not right("channel-max-above", "it carries", frames)


# The set of questions ---


def test_the_questions_asked_at_least() -> None:
    predict = {q.name for q in QUESTIONS.values() if q.kind == "predict"}
    quiz = {q.name for q in QUESTIONS.values() if q.kind == "quiz"}
    assert {"tune-frame-max", "tune-heartbeat", "start-mechanisms",
            "unknown-vhost-code", "channel-max-above",
            "wrong-password-code"} <= predict  # fmt: skip
    assert {"start-product", "auth-capabilities", "publish-body-frames",
            "tune-frame-size"} <= quiz  # fmt: skip
    assert all(q.choices for q in QUESTIONS.values() if q.name == "channel-max-above")


@pytest.mark.parametrize(
    "question", [q for q in QUESTIONS.values() if q.experiment], ids=lambda q: q.name
)
def test_every_experiment_question_names_a_real_experiment(question: Question) -> None:
    assert question.experiment in EXPERIMENTS
    assert question in predictions_for(question.experiment)
    assert question.kind == "predict"


def test_handshake_predictions_are_asked_before_tcp_connects() -> None:
    """Once TCP is up the broker's 10 s handshake_timeout runs: no time to think."""
    asked = {q.name for q in predictions_before(Phase.TCP)}
    assert {"tune-frame-max", "tune-heartbeat", "start-mechanisms"} <= asked
    assert predictions_before(Phase.TUNE) == []
    assert [q.name for q in questions_for(Phase.TUNE, "quiz")] == [
        "tune-frame-size",
        "tune-ok-heartbeat",
    ]


def test_questions_import_no_io_and_no_ui() -> None:
    code = "import sys, explorer.course.questions; print('\\n'.join(sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    loaded = {name.split(".")[0] for name in result.stdout.split()}
    assert loaded.isdisjoint({"asyncio", "socket", "textual", "rich"})


def test_the_explorer_predicts_unless_told_not_to() -> None:
    from explorer.cli.main import _app_parser

    assert _app_parser().parse_args([]).predict is True
    assert _app_parser().parse_args(["--no-predict"]).predict is False
