"""The AMQP 1.0 questions are answered and graded from the learner's own 1.0 frames.

The recorded 1.0 lifecycle (RabbitMQ 4.0.5, Qpid Proton) answers every 1.0
lifecycle question; the three 1.0 failures are that recording with the
broker's answer changed, byte by byte, as the failure experiments see it live
(tests/integration/test_amqp10_questions.py runs them on the broker).
"""

from __future__ import annotations

import pytest

from explorer.course.answers10 import CLOSE_ONLY, NOTHING, OPEN_THEN_CLOSE
from explorer.course.questions import (
    AMQP10,
    QUESTIONS,
    Question,
    grade,
    predictions_before,
    predictions_for,
    questions_for,
)
from explorer.lab.registry import EXPERIMENTS
from explorer.protocol.amqp10.decoder import Amqp10Decoder
from explorer.protocol.dialect import AMQP_1_0
from explorer.protocol.frames import B2C, C2B, Frame
from explorer.protocol.lifecycle import Phase
from tests.conftest import capture_frames

TEN = [q for q in QUESTIONS.values() if q.protocol == AMQP10]
LIFECYCLE = [q for q in TEN if not q.experiment]


@pytest.fixture(scope="module")
def frames() -> list[Frame]:
    """The recorded 1.0 lifecycle, both directions, in wire order."""
    return capture_frames("amqp10/lifecycle")


def right(name: str, said: str, frames: list[Frame], *, over: bool = False) -> bool:
    result = grade(QUESTIONS[name], said, frames, over=over)
    assert result is not None, f"{name}: the frames should hold the answer"
    return result.right


# Bytes of a broker's answer the recording does not hold ---


def _list8(*items: bytes) -> bytes:
    payload = b"".join(items)
    return b"\xc0" + bytes([len(payload) + 1, len(items)]) + payload


def _text(code: int, text: str) -> bytes:
    return bytes([code, len(text)]) + text.encode()


def _frame(body: bytes, frame_type: int = 0) -> bytes:
    return (8 + len(body)).to_bytes(4) + bytes([2, frame_type, 0, 0]) + body


def carrying_error(descriptor: int, condition: str, description: str) -> bytes:
    """An end (0x17) or close (0x18) frame carrying an error (0x1d)."""
    error = b"\x00\x53\x1d" + _list8(_text(0xA3, condition), _text(0xA1, description))
    return _frame(b"\x00\x53" + bytes([descriptor]) + _list8(error))


def answered(frames: list[Frame], last: str, *broker: bytes) -> list[Frame]:
    """The recording up to the client's `last` frame, then the broker's `broker`.

    The broker's frames are the recorded ones before it, then `broker` (just
    after it), decoded as one stream, as the explorer decodes a live one.
    """
    cut = next(i for i, f in enumerate(frames) if (f.direction, f.name) == (C2B, last))
    before, t = frames[: cut + 1], frames[cut].t
    recorded = [f.raw for f in before if f.direction is B2C]
    decoder = Amqp10Decoder(B2C)
    times = [f.t for f in before if f.direction is B2C]
    times += [t + 0.001 * n for n in range(1, len(broker) + 1)]
    sent = [
        decoded
        for raw, at in zip([*recorded, *broker], times, strict=True)
        for decoded in decoder.feed(raw, at)
        if isinstance(decoded, Frame)
    ]
    return sorted(
        [*[f for f in before if f.direction is C2B], *sent], key=lambda f: f.t
    )


# The lifecycle's questions, from the recording ---


#: Each lifecycle question: answers graded right, and answers graded wrong.
ROWS = [
        ("amqp10-mechanisms",
         ["PLAIN AMQPLAIN ANONYMOUS", "anonymous, plain and amqplain"],
         ["PLAIN AMQPLAIN", "PLAIN AMQPLAIN ANONYMOUS EXTERNAL", "none"]),
        ("amqp10-max-frame-size", ["131072", "131 072", "128 KiB"],
         ["32768", "65536", "128"]),
        ("amqp10-idle-time-out",
         ["30000", "30000 ms", "30 000 ms", "30 s", "30s", "30 seconds", "0.5 min"],
         ["1000", "30", "60 s", "15000", "30000 s", "60 ms", "30 ms"]),
        ("amqp10-header-protocol-id", ["3", "0x03", "3 (sasl)"], ["0", "2", "sasl"]),
        ("amqp10-init-mechanism", ["PLAIN", "plain"], ["AMQPLAIN", "ANONYMOUS"]),
        ("amqp10-channel-max", ["63"], ["32767", "2047", "64"]),
        ("amqp10-container-id", ["rabbit4@vm", " Rabbit4@VM "],
         ["amqp-explorer-proton", "rabbit4@localhost"]),
        ("amqp10-open-constructor", ["0xd0", "D0", "list32"],
         ["0xc0", "list8", "0x10", "0x00"]),
        ("amqp10-begin-incoming-window", ["400"], ["2147483647", "255"]),
        ("amqp10-link-credit", ["170"], ["1", "0", "2147483647"]),
        ("amqp10-disposition-state", ["accepted", "0x24", "36"],
         ["released", "rejected", "settled"]),
        ("amqp10-empty-frame-size", ["8", "8 bytes"], ["0", "4", "12"]),
        ("amqp10-close-constructor", ["0x45", "list0"], ["0xc0", "list8", "0x18"]),
]  # fmt: skip


@pytest.mark.parametrize(("name", "good", "bad"), ROWS)
def test_answers_come_from_the_recorded_lifecycle(
    frames: list[Frame], name: str, good: list[str], bad: list[str]
) -> None:
    for said in good:
        assert right(name, said, frames), f"{said!r} should be right"
    for said in bad:
        assert not right(name, said, frames), f"{said!r} should be wrong"


def test_every_lifecycle_question_is_in_the_table_above() -> None:
    assert {row[0] for row in ROWS} == {q.name for q in LIFECYCLE}


@pytest.mark.parametrize("question", LIFECYCLE, ids=lambda q: q.name)
def test_not_answerable_until_its_frame_is_there(
    frames: list[Frame], question: Question
) -> None:
    full = question.answer(frames)
    assert full is not None, f"{question.name} is answered by the 1.0 lifecycle"
    first = next(n for n in range(len(frames) + 1) if question.answer(frames[:n]))
    assert grade(question, full.accepted[0], frames[: first - 1]) is None
    assert question.answer(frames[:first]) == full


def test_the_explanation_points_at_the_frame_and_its_value(
    frames: list[Frame],
) -> None:
    result = grade(QUESTIONS["amqp10-idle-time-out"], "60 s", frames)
    assert result is not None
    assert not result.right
    assert result.summary == (
        "✗ you predicted 60 s; your broker's open carried idle-time-out=30000 ms"
    )
    opened = grade(QUESTIONS["amqp10-open-constructor"], "d0", frames)
    assert opened is not None
    assert opened.right
    assert "0xd0 at offset 11 (list32" in opened.answer.explanation
    heartbeat = grade(QUESTIONS["amqp10-empty-frame-size"], "8", frames)
    assert heartbeat is not None
    assert "00 00 00 08 02 00 00 00" in heartbeat.answer.explanation


def test_the_protocols_answer_only_their_own_questions(
    frames: list[Frame], happy_frames: list[Frame]
) -> None:
    for question in QUESTIONS.values():
        if question.protocol == AMQP10:
            assert question.answer(happy_frames, over=True) is None, question.name
        else:
            assert question.answer(frames, over=True) is None, question.name


def test_a_plain_lifecycle_answers_no_failure_prediction(frames: list[Frame]) -> None:
    """The login was accepted, the vhost opened, the attach answered: no grade."""
    for question in TEN:
        if question.experiment:
            assert question.answer(frames, over=True) is None, question.name


# The three failures: the broker's answer, changed from the recording ---


def test_a_wrong_password_is_graded_from_sasl_outcome(frames: list[Frame]) -> None:
    outcome = next(f for f in frames if f.name == "sasl-outcome").raw
    assert outcome.endswith(b"\x50\x00\x40")  # code 0, as a smallubyte: ok
    refused = answered(frames, "sasl-init", outcome[:-2] + b"\x01\x40")
    assert right("amqp10-wrong-password-code", "1", refused)
    assert right("amqp10-wrong-password-code", "1 (auth)", refused)
    assert right("amqp10-wrong-password-code", "auth", refused)
    assert not right("amqp10-wrong-password-code", "0", refused)
    result = grade(QUESTIONS["amqp10-wrong-password-code"], "1", refused)
    assert result is not None
    assert "sasl-outcome code=1 (auth)" in result.answer.explanation
    # No open was sent: nothing about it to grade.
    assert grade(QUESTIONS["amqp10-max-frame-size"], "131072", refused) is None


def test_an_unknown_vhost_dropped_is_graded_once_over(frames: list[Frame]) -> None:
    # RabbitMQ 4.0.5 sends its AMQP header, then resets the TCP connection.
    header = next(f for f in frames if (f.direction, f.name) == (B2C, "amqp-header"))
    dropped = answered(frames, "open", header.raw)
    question = QUESTIONS["amqp10-unknown-vhost-answer"]
    assert grade(question, "c", dropped) is None, "silence, so far"
    assert right("amqp10-unknown-vhost-answer", "c", dropped, over=True)
    assert not right("amqp10-unknown-vhost-answer", "a", dropped, over=True)
    result = grade(question, "c", dropped, over=True)
    assert result is not None
    assert result.answer.accepted == (NOTHING,)
    assert "hostname='vhost:/'" in result.answer.explanation


def test_an_unknown_vhost_closed_is_graded_from_the_close(frames: list[Frame]) -> None:
    header, broker_open = (
        next(f for f in frames if (f.direction, f.name) == (B2C, name))
        for name in ("amqp-header", "open")
    )
    close = carrying_error(0x18, "amqp:not-found", "vhost 'x' does not exist")
    closed = answered(frames, "open", header.raw, close)
    opened = answered(frames, "open", header.raw, broker_open.raw, close)
    assert right("amqp10-unknown-vhost-answer", "b", closed)
    assert right("amqp10-unknown-vhost-answer", CLOSE_ONLY, closed)
    assert right("amqp10-unknown-vhost-answer", "a", opened)
    assert right("amqp10-unknown-vhost-answer", OPEN_THEN_CLOSE, opened)
    assert not right("amqp10-unknown-vhost-answer", "c", opened, over=True)


def test_a_missing_queue_is_graded_from_the_end(frames: list[Frame]) -> None:
    end = carrying_error(0x17, "amqp:not-found", "no queue 'q' in vhost '/'")
    ended = answered(frames, "attach", end)
    for said in ("amqp:not-found", "not-found", "not found", "AMQP:NOT-FOUND"):
        assert right("amqp10-missing-queue-condition", said, ended), said
    for said in ("amqp:unauthorized-access", "404", "detach"):
        assert not right("amqp10-missing-queue-condition", said, ended), said
    result = grade(QUESTIONS["amqp10-missing-queue-condition"], "x", ended)
    assert result is not None
    assert result.answer.explanation.startswith(
        "your client attached a link to /queues/explorer-a10-"
    )
    assert "end with amqp:not-found (no queue 'q' in vhost '/')" in (
        result.answer.explanation
    )


# Which questions are asked, and when ---


def test_before_tcp_each_protocol_asks_its_own() -> None:
    ten = [q.name for q in predictions_before(Phase.TCP, AMQP10)]
    assert ten == ["amqp10-mechanisms", "amqp10-max-frame-size", "amqp10-idle-time-out"]
    old = [q.name for q in predictions_before(Phase.TCP)]
    assert old == ["start-mechanisms", "tune-frame-max", "tune-heartbeat"]
    assert predictions_before(Phase.TCP, "0-9-1") == predictions_before(Phase.TCP)


@pytest.mark.parametrize(
    "phase",
    [Phase.HEADER, Phase.AUTH, Phase.OPEN, Phase.CHANNEL, Phase.OPERATIONS,
     Phase.HEARTBEAT, Phase.CLOSE],
)  # fmt: skip
def test_every_1_0_phase_lesson_with_frames_has_a_quiz(phase: Phase) -> None:
    quiz = questions_for(phase, "quiz", AMQP10)
    assert quiz
    assert all(q.protocol == AMQP10 for q in quiz)
    assert phase in AMQP_1_0.plan_for(False)


def test_1_0_quizzes_are_not_0_9_1_quizzes() -> None:
    for phase in Phase:
        old = questions_for(phase, "quiz")
        assert all(q.protocol == "0-9-1" for q in old)
        assert not set(old) & set(questions_for(phase, "quiz", AMQP10))


@pytest.mark.parametrize(
    "name",
    ["amqp10-wrong-password", "amqp10-unknown-vhost", "amqp10-missing-queue",
     "side-by-side", "amqp-1.0"],
)  # fmt: skip
def test_1_0_experiments_ask_only_1_0_questions(name: str) -> None:
    asked = predictions_for(name)
    assert all(q.protocol == AMQP10 for q in asked)
    if name.startswith("amqp10-"):
        assert len(asked) == 1
        assert EXPERIMENTS[name].dialect is AMQP_1_0
        assert asked[0].phase is EXPERIMENTS[name].phase
