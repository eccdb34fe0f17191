"""Predict-then-see questions and quizzes, graded from the learner's own frames.

Owns the questions (asked before a step or an experiment runs, or after its
frames exist), reading each right answer from the frames of the learner's own
connection (never from a fixed key), and grading what the learner typed
leniently. Sans-I/O: imports no asyncio, socket or Textual.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import quote

from pamqp import commands

from explorer.protocol.content import publishes
from explorer.protocol.fields import JSON, table_of
from explorer.protocol.frames import (
    B2C,
    C2B,
    Frame,
    first_named,
    first_payload,
)
from explorer.protocol.lifecycle import Phase

#: The marks a graded result starts with (and how a saved result is read back).
RIGHT: Final = "✓"
WRONG: Final = "✗"

Kind = Literal["predict", "quiz"]


@dataclass(frozen=True, slots=True)
class Answer:
    """The right answer, as the learner's frames hold it."""

    #: Every accepted form; the first is the one shown to the learner.
    accepted: tuple[str, ...]
    #: One line pointing at the frame and field it came from, e.g. "your
    #: broker's Connection.Tune carried frame_max=131072".
    explanation: str


#: Reads the right answer from frames in the order they crossed the wire;
#: None while the frames do not hold it yet.
AnswerFrom = Callable[[Sequence[Frame]], Answer | None]


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
    return Grade(question, given, _matches(question, given, answer), answer)


def was_right(result: str) -> bool:
    """Whether a saved result (a Grade's summary) was a right answer."""
    return result.startswith(RIGHT)


def letter(index: int) -> str:
    """The letter of the choice at `index`: a, b, c ..."""
    return string.ascii_lowercase[index]


# Comparing leniently ---

_SPACES: Final = re.compile(r"\s+")
#: A number with thousands separators and an optional unit: "131 072", "128 KiB".
_NUMBER: Final = re.compile(r"(\d[\d\s_,']*?(?:\.\d+)?)\s*([a-z]+)?")
#: A number and then words: "530 not-allowed", "2047 channels".
_LEADING_NUMBER: Final = re.compile(r"(\d[\d_,']*)\s+\D.*")
_UNITS: Final[dict[str, int]] = {
    **dict.fromkeys(("b", "byte", "bytes", "s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("k", "kb", "ki", "kib"), 1024),
    **dict.fromkeys(("m", "mb", "mi", "mib"), 1024 * 1024),
    **dict.fromkeys(("min", "mins", "minute", "minutes"), 60),
}
_SEPARATORS: Final = re.compile(r"[\s,;|+]+|\band\b")


def _text(value: str) -> str:
    """Case and spacing folded, surrounding quotes and a final full stop dropped."""
    folded = _SPACES.sub(" ", value.casefold()).strip()
    return folded.strip("\"'`").removesuffix(".").strip()


def number(value: str) -> int | None:
    """`value` read as a whole number, or None: "131 072" and "128 KiB" are 131072."""
    text = _text(value)
    whole = _NUMBER.fullmatch(text)
    if whole is not None and (whole.group(2) or "b") in _UNITS:
        digits, unit = whole.groups()
        amount = float(re.sub(r"[\s_,']", "", digits)) * _UNITS[unit or "b"]
        return int(amount) if amount.is_integer() else None
    leading = _LEADING_NUMBER.fullmatch(text)  # "530 not-allowed", "1 frame"
    if leading is not None:
        return int(re.sub(r"[_,']", "", leading.group(1)))
    return None


def names(value: str) -> frozenset[str]:
    """`value` read as a set of names, whatever the order and separators."""
    found = {n.replace("-", "_") for n in _SEPARATORS.split(_text(value)) if n}
    return frozenset(found - {"none", "nothing"})


def _chosen(question: Question, given: str) -> str | None:
    """The choice `given` names by its letter, number or text."""
    text = _text(given)
    mark = text.strip("()[]").rstrip(").:")  # "b", "(b)", "b)", "2."
    for index, choice in enumerate(question.choices):
        if mark in (letter(index), str(index + 1)) or text == _text(choice):
            return choice
    return None


def _matches(question: Question, given: str, answer: Answer) -> bool:
    if question.choices:
        chosen = _chosen(question, given)
        return chosen is not None and chosen in answer.accepted
    if question.unordered:
        return any(names(given) == names(right) for right in answer.accepted)
    said = number(given)
    for right in answer.accepted:
        if right.isdigit() and said is not None:
            if said == int(right):
                return True
        elif _text(given) == _text(right):
            return True
    return False


# Reading answers from the frames ---


def _after(frames: Sequence[Frame], frame: Frame) -> Sequence[Frame]:
    """The frames that crossed the wire after `frame`."""
    for index, seen in enumerate(frames):
        if seen is frame or seen == frame:
            return frames[index + 1 :]
    return ()


def _str(value: JSON) -> str:
    """A field-table value as text ("" when absent)."""
    return "" if value is None else str(value)


def _capabilities_of(start_ok: Frame) -> dict[str, JSON]:
    """The capabilities table a client's StartOk advertised ({} if none)."""
    advertised = table_of(start_ok, "client_properties").get("capabilities")
    return advertised if isinstance(advertised, dict) else {}


def _broker_said(frames: Sequence[Frame]) -> list[Frame]:
    """The broker's frames, heartbeats left out (they say nothing new)."""
    return [f for f in frames if f.direction is B2C and f.name != "Heartbeat"]


def _proposed(field: str, unit: str = "") -> AnswerFrom:
    """The value of `field` in the broker's Connection.Tune."""

    def answer(frames: Sequence[Frame]) -> Answer | None:
        tune = first_payload(frames, B2C, commands.Connection.Tune)
        if tune is None:
            return None
        value = int(getattr(tune, field))
        return Answer(
            (str(value),),
            f"your broker's Connection.Tune carried {field}={value}{unit}",
        )

    return answer


def _tune_ok_heartbeat(frames: Sequence[Frame]) -> Answer | None:
    tune = first_payload(frames, B2C, commands.Connection.Tune)
    tune_ok = first_payload(frames, C2B, commands.Connection.TuneOk)
    if tune is None or tune_ok is None:
        return None
    return Answer(
        (str(tune_ok.heartbeat),),
        f"your client's Connection.TuneOk carried heartbeat={tune_ok.heartbeat} "
        f"(the broker had proposed {tune.heartbeat})",
    )


def _tune_size(frames: Sequence[Frame]) -> Answer | None:
    frame = first_named(frames, B2C, "Connection.Tune")
    if frame is None:
        return None
    payload = frame.size - 8  # 7 bytes of frame header, 1 end byte
    return Answer(
        (str(frame.size),),
        f"your broker's Connection.Tune frame was {frame.size} bytes: a 7-byte "
        f"header, {payload} bytes of payload and the end byte 0x{frame.raw[-1]:02X}",
    )


def _mechanisms(frames: Sequence[Frame]) -> Answer | None:
    start = first_payload(frames, B2C, commands.Connection.Start)
    if start is None:
        return None
    offered = str(start.mechanisms)
    return Answer(
        (offered,), f"your broker's Connection.Start carried mechanisms={offered!r}"
    )


def _product(frames: Sequence[Frame]) -> Answer | None:
    start = first_named(frames, B2C, "Connection.Start")
    if start is None:
        return None
    properties = table_of(start, "server_properties")
    product, version = _str(properties.get("product")), _str(properties.get("version"))
    if not product or not version:
        return None
    return Answer(
        (
            f"{product} {version}", str(version), f"{product}/{version}",
            f"{product} v{version}", f"v{version}",
        ),
        f"your broker's Connection.Start carried server_properties "
        f"product={product!r} and version={version!r}",
    )  # fmt: skip


def _capabilities(frames: Sequence[Frame]) -> Answer | None:
    start_ok = first_named(frames, C2B, "Connection.StartOk")
    if start_ok is None:
        return None
    table = _capabilities_of(start_ok)
    on = sorted(str(name) for name, value in table.items() if value)
    shown = " ".join(on) or "none"
    return Answer(
        (shown,),
        f"your client's Connection.StartOk set client_properties.capabilities "
        f"{', '.join(on) or 'none'} to true",
    )


def _body_frames(frames: Sequence[Frame]) -> Answer | None:
    """Body frames of the client's first publish, once its whole body is sent."""
    first = next(iter(publishes(frames)), None)
    if first is None or not first.complete:
        return None  # no publish yet, or the rest of its body is on its way
    size, bodies = first.body_size, len(first.bodies)
    tune_ok = first_payload(frames, C2B, commands.Connection.TuneOk)
    limit = f"; frame_max was {tune_ok.frame_max}" if tune_ok is not None else ""
    frames_word = "frame" if bodies == 1 else "frames"
    return Answer(
        (str(bodies),),
        f"your client's Basic.Publish sent a {size}-byte body (ContentHeader "
        f"body_size={size}) in {bodies} ContentBody {frames_word}{limit}",
    )


def _vhost(frames: Sequence[Frame]) -> Answer | None:
    opened = first_payload(frames, C2B, commands.Connection.Open)
    if opened is None:
        return None
    vhost = str(opened.virtual_host)
    return Answer(
        tuple(dict.fromkeys((vhost, quote(vhost, safe="")))),
        f"your client's Connection.Open carried virtual_host={vhost!r}",
    )


def _refusal(sent: str, passed: str) -> AnswerFrom:
    """The reply code of the broker's Close after the client's `sent` frame.

    Only when the broker sent no `passed` frame first: then `sent` was accepted.
    """

    def answer(frames: Sequence[Frame]) -> Answer | None:
        frame = first_named(frames, C2B, sent)
        if frame is None:
            return None
        for reply in _broker_said(_after(frames, frame)):
            if reply.name == passed:
                return None
            close = reply.payload
            if isinstance(close, commands.Connection.Close):
                return Answer(
                    (str(close.reply_code),),
                    f"your broker answered {sent} with Connection.Close "
                    f"reply_code={close.reply_code} ({close.reply_text})",
                )
        return None

    return answer


def _silent_after(sent: str) -> AnswerFrom:
    """Once over: the broker answered the client's `sent` with no frame at all."""

    def answer(frames: Sequence[Frame]) -> Answer | None:
        frame = first_named(frames, C2B, sent)
        if frame is None or _broker_said(_after(frames, frame)):
            return None
        return Answer(
            ("none", "no code", "no close", "nothing", "0"),
            f"your broker sent nothing after {sent}, not even a Connection.Close: "
            "it dropped the connection",
        )

    return answer


#: The choices of the channel_max experiment, each read from what came back.
CARRIES_ON: Final = "it carries on: Connection.OpenOk comes back"
CLOSES_530: Final = "it sends Connection.Close 530 (not-allowed)"
CLOSES_OTHER: Final = "it sends Connection.Close with another reply code"
DROPS: Final = "it drops the TCP connection without sending a Close"


def _above_channel_max(frames: Sequence[Frame]) -> tuple[Frame, str] | None:
    """The client's TuneOk, when it asked for more channels than the broker offered.

    A channel_max of 0 means "no limit", which is above any limit the broker set.
    """
    tune = first_payload(frames, B2C, commands.Connection.Tune)
    tune_ok = first_named(frames, C2B, "Connection.TuneOk")
    asking = first_payload(frames, C2B, commands.Connection.TuneOk)
    if tune is None or tune_ok is None or asking is None:
        return None
    offered, asked = tune.channel_max, asking.channel_max
    if offered == 0 or (asked != 0 and asked <= offered):
        return None
    return tune_ok, f"TuneOk asked for channel_max={asked} above the broker's {offered}"


def _channel_max_reply(frames: Sequence[Frame]) -> Answer | None:
    found = _above_channel_max(frames)
    if found is None:
        return None
    tune_ok, asked = found
    for reply in _broker_said(_after(frames, tune_ok)):
        close = reply.payload
        if isinstance(close, commands.Connection.Close):
            choice = CLOSES_530 if close.reply_code == 530 else CLOSES_OTHER
            return Answer(
                (choice,),
                f"{asked}; your broker sent Connection.Close "
                f"reply_code={close.reply_code} ({close.reply_text})",
            )
        if reply.name == "Connection.OpenOk":
            return Answer((CARRIES_ON,), f"{asked}; your broker sent Connection.OpenOk")
    return None


def _channel_max_silence(frames: Sequence[Frame]) -> Answer | None:
    """Once over, no Close and no OpenOk after the TuneOk means a dropped connection.

    Frames alone cannot show TCP ending; the caller says the run is over. RabbitMQ
    3.10.8 drops the socket about 3 s after such a TuneOk, without a Close.
    """
    found = _above_channel_max(frames)
    if found is None:
        return None
    tune_ok, asked = found
    if _broker_said(_after(frames, tune_ok)):
        return None
    return Answer(
        (DROPS,), f"{asked}; your broker sent nothing more, not even a Connection.Close"
    )


#: The choices of the silent wrong-password experiment.
CLOSES_403: Final = "a Connection.Close 403 (access-refused), as to any client"
CHALLENGES: Final = "a Connection.Secure challenge, to ask again"
SAYS_NOTHING: Final = "nothing: it drops the TCP connection without a Close"


def _without_failure_close(frames: Sequence[Frame]) -> Frame | None:
    """The client's StartOk, when it did not advertise authentication_failure_close."""
    start_ok = first_named(frames, C2B, "Connection.StartOk")
    if start_ok is None:
        return None
    return (
        None
        if _capabilities_of(start_ok).get("authentication_failure_close")
        else start_ok
    )


def _refused_quietly(frames: Sequence[Frame]) -> Answer | None:
    start_ok = _without_failure_close(frames)
    if start_ok is None:
        return None
    premise = "your client's StartOk left out authentication_failure_close"
    for reply in _broker_said(_after(frames, start_ok)):
        close = reply.payload
        if isinstance(close, commands.Connection.Close):
            return Answer(
                (CLOSES_403,),
                f"{premise}; your broker sent Connection.Close "
                f"reply_code={close.reply_code} ({close.reply_text})",
            )
        if reply.name == "Connection.Secure":
            return Answer(
                (CHALLENGES,), f"{premise}; your broker sent Connection.Secure"
            )
        return None  # Tune: the login was accepted, this was no wrong password
    return None


def _refused_in_silence(frames: Sequence[Frame]) -> Answer | None:
    """Once over: nothing at all from the broker after that StartOk."""
    start_ok = _without_failure_close(frames)
    if start_ok is None or _broker_said(_after(frames, start_ok)):
        return None
    return Answer(
        (SAYS_NOTHING,),
        "your client's StartOk left out authentication_failure_close; your broker "
        "sent nothing more, not even a Connection.Close",
    )


QUESTIONS: Final[dict[str, Question]] = {
    question.name: question
    for question in (
        Question(
            "start-mechanisms", "predict", Phase.START,
            "Which SASL mechanisms will your broker offer in Connection.Start? "
            "(names, separated by spaces or commas)",
            _mechanisms, ask_before=Phase.TCP, unordered=True,
        ),
        Question(
            "tune-frame-max", "predict", Phase.TUNE,
            "Which frame_max (bytes) will your broker propose in Connection.Tune?",
            _proposed("frame_max"), ask_before=Phase.TCP,
        ),
        Question(
            "tune-heartbeat", "predict", Phase.TUNE,
            "Which heartbeat (seconds) will your broker propose in Connection.Tune?",
            _proposed("heartbeat", " s"), ask_before=Phase.TCP,
        ),
        Question(
            "wrong-password-code", "predict", Phase.AUTH,
            "Which reply code will the broker send when Connection.StartOk "
            "carries a wrong password?",
            _refusal("Connection.StartOk", "Connection.Tune"),
            experiment="wrong-password",
            answer_at_end=_silent_after("Connection.StartOk"),
        ),
        Question(
            "wrong-password-silent", "predict", Phase.AUTH,
            "Your client leaves authentication_failure_close out of StartOk and "
            "sends a wrong password. What does the broker send back?",
            _refused_quietly,
            choices=(CLOSES_403, CHALLENGES, SAYS_NOTHING),
            experiment="wrong-password-silent",
            answer_at_end=_refused_in_silence,
        ),
        Question(
            "unknown-vhost-code", "predict", Phase.OPEN,
            "Which reply code will the broker send when Connection.Open names "
            "a vhost that does not exist?",
            _refusal("Connection.Open", "Connection.OpenOk"),
            experiment="unknown-vhost",
        ),
        Question(
            "channel-max-above", "predict", Phase.TUNE,
            "TuneOk asks for channel_max above the broker's proposal. "
            "What does the broker do?",
            _channel_max_reply,
            choices=(CARRIES_ON, CLOSES_530, CLOSES_OTHER, DROPS),
            experiment="channel-max-above",
            answer_at_end=_channel_max_silence,
        ),
        Question(
            "start-product", "quiz", Phase.START,
            "What product and version is your broker?", _product,
        ),
        Question(
            "auth-capabilities", "quiz", Phase.AUTH,
            "Which capabilities did your client advertise in Connection.StartOk? "
            "(names, separated by spaces or commas)",
            _capabilities, unordered=True,
        ),
        Question(
            "tune-frame-size", "quiz", Phase.TUNE,
            "How many bytes long was the broker's Connection.Tune frame, "
            "end byte included?",
            _tune_size,
        ),
        Question(
            "tune-ok-heartbeat", "quiz", Phase.TUNE,
            "Which heartbeat (seconds) did your client's TuneOk settle on?",
            _tune_ok_heartbeat,
        ),
        Question(
            "open-vhost", "quiz", Phase.OPEN,
            "Which vhost did your client's Connection.Open carry?", _vhost,
        ),
        Question(
            "publish-body-frames", "quiz", Phase.OPERATIONS,
            "How many body frames did the client's first publish need?",
            _body_frames,
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
