"""Predict-then-see questions and quizzes, graded from the learner's own frames.

Owns the question model (asked before a step or an experiment runs, or after
its frames exist), the Grade of what the learner said, and the registry of
questions of both protocols with their lookups, each by protocol. The right
answers are read from the frames by explorer.course.answers (AMQP 0-9-1) and
answers10 (AMQP 1.0), and compared leniently by explorer.course.grading.
Sans-I/O: imports no asyncio, socket or Textual.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from explorer.course import answers, answers10
from explorer.course.answers import Answer, AnswerFrom
from explorer.course.grading import letter, matches
from explorer.course.lessons import PROTOCOLS
from explorer.protocol.frames import B2C, C2B, Frame
from explorer.protocol.lifecycle import Phase

#: letter is grading's, named here too: the UI reads choices with the questions.
__all__ = [
    "AMQP10",
    "QUESTIONS",
    "RIGHT",
    "WRONG",
    "Grade",
    "Kind",
    "Question",
    "grade",
    "letter",
    "predictions_before",
    "predictions_for",
    "questions_for",
    "was_right",
]

#: The protocol of the 1.0 questions.
AMQP10: Final = PROTOCOLS[1]
#: The marks a graded result starts with (and how a saved result is read back).
RIGHT: Final = "✓"
WRONG: Final = "✗"

Kind = Literal["predict", "quiz"]


@dataclass(frozen=True, slots=True)
class Question:
    """One question, with where its answer comes from."""

    #: A stable key: the learner's result is saved under it.
    name: str
    #: "predict": asked before something runs; "quiz": asked after.
    kind: Kind
    #: The phase the question is about (its lesson lists it).
    phase: Phase
    #: What the learner is asked.
    prompt: str
    #: Reads the right answer from the frames.
    answer_from: AnswerFrom
    #: Multiple choice; empty for a free-text answer.
    choices: tuple[str, ...] = ()
    #: A prediction asked before the experiment of this name (explorer.lab)
    #: instead of before a step of the lifecycle.
    experiment: str = ""
    #: The step a prediction is asked before, when not the step of `phase`:
    #: the broker's answer may arrive a step early (its Tune answers the
    #: auth step's StartOk), and once TCP is up its handshake_timeout runs.
    ask_before: Phase | None = None
    #: The answer is a set of names: order and separators do not matter.
    unordered: bool = False
    #: What the frames prove once the run that made them has ended: a broker
    #: that drops a connection without a Close shows only as silence.
    answer_at_end: AnswerFrom | None = None
    #: The protocol whose frames answer it: "0-9-1" or "1.0" (its lesson's).
    protocol: str = PROTOCOLS[0]

    @property
    def asked_before(self) -> Phase:
        """The step a prediction is asked before."""
        return self.ask_before or self.phase

    def answer(self, frames: Sequence[Frame], *, over: bool = False) -> Answer | None:
        """The right answer the frames hold, or None if they do not hold it yet.

        Args:
            frames: The learner's frames, in the order they crossed the wire.
            over: The run that made the frames has ended (its TCP connection is
                gone), so silence from the broker counts as an answer.
        """
        found = self.answer_from(frames)
        if found is None and over and self.answer_at_end is not None:
            found = self.answer_at_end(frames)
        return found


@dataclass(frozen=True, slots=True)
class Grade:
    """What the learner said, whether it was right, and what the frames held."""

    question: Question
    #: What the learner typed or chose, as it was.
    given: str
    right: bool
    #: The answer the frames held, with where it came from.
    answer: Answer

    @property
    def summary(self) -> str:
        """One line: the mark, what the learner said, where the answer came from."""
        mark = RIGHT if self.right else WRONG
        verb = "predicted" if self.question.kind == "predict" else "answered"
        said = " ".join(self.given.split()) or "nothing"
        return f"{mark} you {verb} {said}; {self.answer.explanation}"


def grade(
    question: Question, given: str, frames: Sequence[Frame], *, over: bool = False
) -> Grade | None:
    """Grade `given` against the answer `frames` hold; None if they hold none yet.

    Lenient: case and spacing do not matter, numbers compare as numbers
    ("131072", "131 072", "128 KiB"), sets of names in any order with any
    separators, and a choice is answered by its letter, number or text.

    Args:
        question: The question asked.
        given: What the learner typed or chose.
        frames: The learner's frames, in the order they crossed the wire.
        over: The run that made the frames has ended (see Question.answer).
    """
    answer = question.answer(frames, over=over)
    if answer is None:
        return None
    right = matches(
        given,
        answer.accepted,
        choices=question.choices,
        unordered=question.unordered,
    )
    return Grade(question, given, right, answer)


def was_right(result: str) -> bool:
    """Whether a saved result (a Grade's summary) was a right answer."""
    return result.startswith(RIGHT)


QUESTIONS: Final[dict[str, Question]] = {
    question.name: question
    for question in (
        Question(
            "start-mechanisms", "predict", Phase.START,
            "Which SASL mechanisms will your broker offer in Connection.Start? "
            "(names, separated by spaces or commas)",
            answers.mechanisms, ask_before=Phase.TCP, unordered=True,
        ),
        Question(
            "tune-frame-max", "predict", Phase.TUNE,
            "Which frame_max (bytes) will your broker propose in Connection.Tune?",
            answers.proposed("frame_max"), ask_before=Phase.TCP,
        ),
        Question(
            "tune-heartbeat", "predict", Phase.TUNE,
            "Which heartbeat (seconds) will your broker propose in Connection.Tune?",
            answers.proposed("heartbeat", " s"), ask_before=Phase.TCP,
        ),
        Question(
            "wrong-password-code", "predict", Phase.AUTH,
            "Which reply code will the broker send when Connection.StartOk "
            "carries a wrong password?",
            answers.refusal("Connection.StartOk", "Connection.Tune"),
            experiment="wrong-password",
            answer_at_end=answers.silent_after("Connection.StartOk"),
        ),
        Question(
            "wrong-password-silent", "predict", Phase.AUTH,
            "Your client leaves authentication_failure_close out of StartOk and "
            "sends a wrong password. What does the broker send back?",
            answers.refused_quietly,
            choices=(answers.CLOSES_403, answers.CHALLENGES, answers.SAYS_NOTHING),
            experiment="wrong-password-silent",
            answer_at_end=answers.refused_in_silence,
        ),
        Question(
            "unknown-vhost-code", "predict", Phase.OPEN,
            "Which reply code will the broker send when Connection.Open names "
            "a vhost that does not exist?",
            answers.refusal("Connection.Open", "Connection.OpenOk"),
            experiment="unknown-vhost",
        ),
        Question(
            "channel-max-above", "predict", Phase.TUNE,
            "TuneOk asks for channel_max above the broker's proposal. "
            "What does the broker do?",
            answers.channel_max_reply,
            choices=(
                answers.CARRIES_ON, answers.CLOSES_530, answers.CLOSES_OTHER,
                answers.DROPS,
            ),
            experiment="channel-max-above",
            answer_at_end=answers.channel_max_silence,
        ),
        Question(
            "start-product", "quiz", Phase.START,
            "What product and version is your broker?", answers.product,
        ),
        Question(
            "auth-capabilities", "quiz", Phase.AUTH,
            "Which capabilities did your client advertise in Connection.StartOk? "
            "(names, separated by spaces or commas)",
            answers.capabilities, unordered=True,
        ),
        Question(
            "tune-frame-size", "quiz", Phase.TUNE,
            "How many bytes long was the broker's Connection.Tune frame, "
            "end byte included?",
            answers.tune_size,
        ),
        Question(
            "tune-ok-heartbeat", "quiz", Phase.TUNE,
            "Which heartbeat (seconds) did your client's TuneOk settle on?",
            answers.tune_ok_heartbeat,
        ),
        Question(
            "open-vhost", "quiz", Phase.OPEN,
            "Which vhost did your client's Connection.Open carry?", answers.vhost,
        ),
        Question(
            "publish-body-frames", "quiz", Phase.OPERATIONS,
            "How many body frames did the client's first publish need?",
            answers.body_frames,
        ),
        # AMQP 1.0: answered from the 1.0 frames, asked when the stepper speaks 1.0.
        Question(
            "amqp10-mechanisms", "predict", Phase.AUTH,
            "Which SASL mechanisms will your broker offer in sasl-mechanisms? "
            "(names, separated by spaces or commas)",
            answers10.mechanisms, ask_before=Phase.TCP, unordered=True,
            protocol=AMQP10,
        ),
        Question(
            "amqp10-max-frame-size", "predict", Phase.OPEN,
            "Which max-frame-size (bytes) will your broker announce in its open?",
            answers10.field(B2C, "open", "max-frame-size"), ask_before=Phase.TCP,
            protocol=AMQP10,
        ),
        Question(
            "amqp10-idle-time-out", "predict", Phase.OPEN,
            "Which idle-time-out (milliseconds) will your broker announce in its "
            "open?",
            answers10.field(B2C, "open", "idle-time-out", ms=True),
            ask_before=Phase.TCP, protocol=AMQP10,
        ),
        Question(
            "amqp10-wrong-password-code", "predict", Phase.AUTH,
            "Which code will the broker's sasl-outcome carry when sasl-init "
            "carries a wrong password?",
            answers10.refused_login, experiment="amqp10-wrong-password",
            protocol=AMQP10,
        ),
        Question(
            "amqp10-unknown-vhost-answer", "predict", Phase.OPEN,
            "The client's open names, in its hostname (vhost:NAME), a vhost that "
            "does not exist. What does the broker send back?",
            answers10.vhost_answer,
            choices=(
                answers10.OPEN_THEN_CLOSE, answers10.CLOSE_ONLY, answers10.NOTHING,
            ),
            experiment="amqp10-unknown-vhost",
            answer_at_end=answers10.vhost_silence, protocol=AMQP10,
        ),
        Question(
            "amqp10-missing-queue-condition", "predict", Phase.OPERATIONS,
            "A sender attaches to /queues/NAME for a queue that does not exist. "
            "Which error condition will the broker send?",
            answers10.attach_error, experiment="amqp10-missing-queue",
            protocol=AMQP10,
        ),
        Question(
            "amqp10-header-protocol-id", "quiz", Phase.HEADER,
            "Which protocol id did your broker's first header carry (the byte "
            "after 'AMQP')?",
            answers10.protocol_id, protocol=AMQP10,
        ),
        Question(
            "amqp10-init-mechanism", "quiz", Phase.AUTH,
            "Which mechanism did your client's sasl-init choose?",
            answers10.field(C2B, "sasl-init", "mechanism"), protocol=AMQP10,
        ),
        Question(
            "amqp10-channel-max", "quiz", Phase.OPEN,
            "Which channel-max did your broker's open announce?",
            answers10.field(B2C, "open", "channel-max"), protocol=AMQP10,
        ),
        Question(
            "amqp10-container-id", "quiz", Phase.OPEN,
            "Which container-id did your broker's open carry?",
            answers10.field(B2C, "open", "container-id"), protocol=AMQP10,
        ),
        Question(
            "amqp10-open-constructor", "quiz", Phase.OPEN,
            "Which format code (constructor) did your broker's open write its "
            "list of fields with?",
            answers10.list_constructor(B2C, "open"), protocol=AMQP10,
        ),
        Question(
            "amqp10-begin-incoming-window", "quiz", Phase.CHANNEL,
            "Which incoming-window did your broker's begin announce: how many "
            "transfers your client may send before a flow widens it?",
            answers10.field(B2C, "begin", "incoming-window"), protocol=AMQP10,
        ),
        Question(
            "amqp10-link-credit", "quiz", Phase.OPERATIONS,
            "How much link-credit did your broker's first flow grant?",
            answers10.field(B2C, "flow", "link-credit"), protocol=AMQP10,
        ),
        Question(
            "amqp10-disposition-state", "quiz", Phase.OPERATIONS,
            "Which delivery state did your broker's disposition give your "
            "transfer?",
            answers10.outcome, protocol=AMQP10,
        ),
        Question(
            "amqp10-empty-frame-size", "quiz", Phase.HEARTBEAT,
            "How many bytes long was your broker's empty frame (its heartbeat)?",
            answers10.empty_frame, protocol=AMQP10,
        ),
        Question(
            "amqp10-close-constructor", "quiz", Phase.CLOSE,
            "Which format code (constructor) did your client's close write its "
            "list of fields with?",
            answers10.list_constructor(C2B, "close"), protocol=AMQP10,
        ),
    )
}  # fmt: skip


def questions_for(
    phase: Phase, kind: Kind | None = None, protocol: str = PROTOCOLS[0]
) -> list[Question]:
    """The questions about `phase` of `protocol` (of one kind, if given), in order."""
    return [
        q
        for q in QUESTIONS.values()
        if q.phase is phase
        and q.protocol == protocol
        and (kind is None or q.kind == kind)
    ]


def predictions_before(phase: Phase, protocol: str = PROTOCOLS[0]) -> list[Question]:
    """The predictions asked before the lifecycle step of `phase` of `protocol`."""
    return [
        q
        for q in QUESTIONS.values()
        if q.kind == "predict"
        and not q.experiment
        and q.asked_before is phase
        and q.protocol == protocol
    ]


def predictions_for(experiment: str) -> list[Question]:
    """The predictions asked before the experiment called `experiment`."""
    return [q for q in QUESTIONS.values() if q.experiment == experiment]
