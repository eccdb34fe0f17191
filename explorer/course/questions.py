"""Predict-then-see questions and quizzes, graded from the learner's own frames.

Owns the question model (asked before a step or an experiment runs, or after
its frames exist), the Grade of what the learner said, and the registry of
questions with their lookups. The right answers are read from the frames by
explorer.course.answers, and compared leniently by explorer.course.grading.
Sans-I/O: imports no asyncio, socket or Textual.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from explorer.course import answers
from explorer.course.answers import Answer, AnswerFrom
from explorer.course.grading import letter, matches
from explorer.protocol.frames import Frame
from explorer.protocol.lifecycle import Phase

#: letter is grading's, named here too: the UI reads choices with the questions.
__all__ = [
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
    )
}  # fmt: skip


def questions_for(phase: Phase, kind: Kind | None = None) -> list[Question]:
    """The questions about `phase` (of one kind, if given), in order."""
    return [
        q
        for q in QUESTIONS.values()
        if q.phase is phase and (kind is None or q.kind == kind)
    ]


def predictions_before(phase: Phase) -> list[Question]:
    """The predictions asked before the lifecycle step of `phase`."""
    return [
        q
        for q in QUESTIONS.values()
        if q.kind == "predict" and not q.experiment and q.asked_before is phase
    ]


def predictions_for(experiment: str) -> list[Question]:
    """The predictions asked before the experiment called `experiment`."""
    return [q for q in QUESTIONS.values() if q.experiment == experiment]
