"""The answer readers: each question's right answer, read from the learner's frames.

Owns Answer (the accepted forms and where they came from) and the readers
that find it in the frames of the learner's own connection, never in a fixed
key, with the choices of the multiple-choice questions they read. Sans-I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

from pamqp import commands

from explorer.protocol.content import publishes
from explorer.protocol.fields import JSON, table_of
from explorer.protocol.frames import B2C, C2B, Frame
from explorer.protocol.queries import (
    broker_said_after,
    first_named,
    first_payload,
    server_product,
    tune_pair,
)


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


def _capabilities_of(start_ok: Frame) -> dict[str, JSON]:
    """The capabilities table a client's StartOk advertised ({} if none)."""
    advertised = table_of(start_ok, "client_properties").get("capabilities")
    return advertised if isinstance(advertised, dict) else {}


def proposed(field: str, unit: str = "") -> AnswerFrom:
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


def tune_ok_heartbeat(frames: Sequence[Frame]) -> Answer | None:
    """The heartbeat the client's TuneOk settled on."""
    pair = tune_pair(frames)
    if pair is None:
        return None
    tune, tune_ok = pair
    return Answer(
        (str(tune_ok.heartbeat),),
        f"your client's Connection.TuneOk carried heartbeat={tune_ok.heartbeat} "
        f"(the broker had proposed {tune.heartbeat})",
    )


def tune_size(frames: Sequence[Frame]) -> Answer | None:
    """The size of the broker's Connection.Tune frame, end byte included."""
    frame = first_named(frames, B2C, "Connection.Tune")
    if frame is None:
        return None
    payload = frame.size - 8  # 7 bytes of frame header, 1 end byte
    return Answer(
        (str(frame.size),),
        f"your broker's Connection.Tune frame was {frame.size} bytes: a 7-byte "
        f"header, {payload} bytes of payload and the end byte 0x{frame.raw[-1]:02X}",
    )


def mechanisms(frames: Sequence[Frame]) -> Answer | None:
    """The SASL mechanisms the broker's Connection.Start offered."""
    start = first_payload(frames, B2C, commands.Connection.Start)
    if start is None:
        return None
    offered = str(start.mechanisms)
    return Answer(
        (offered,), f"your broker's Connection.Start carried mechanisms={offered!r}"
    )


def product(frames: Sequence[Frame]) -> Answer | None:
    """The product and version the broker's Connection.Start named."""
    start = first_named(frames, B2C, "Connection.Start")
    if start is None:
        return None
    name, version = server_product(start)
    if not name or not version:
        return None
    return Answer(
        (
            f"{name} {version}", version, f"{name}/{version}",
            f"{name} v{version}", f"v{version}",
        ),
        f"your broker's Connection.Start carried server_properties "
        f"product={name!r} and version={version!r}",
    )  # fmt: skip


def capabilities(frames: Sequence[Frame]) -> Answer | None:
    """The capabilities the client's Connection.StartOk set to true."""
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


def body_frames(frames: Sequence[Frame]) -> Answer | None:
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


def vhost(frames: Sequence[Frame]) -> Answer | None:
    """The vhost the client's Connection.Open named."""
    opened = first_payload(frames, C2B, commands.Connection.Open)
    if opened is None:
        return None
    name = str(opened.virtual_host)
    return Answer(
        tuple(dict.fromkeys((name, quote(name, safe="")))),
        f"your client's Connection.Open carried virtual_host={name!r}",
    )


def refusal(sent: str, passed: str) -> AnswerFrom:
    """The reply code of the broker's Close after the client's `sent` frame.

    Only when the broker sent no `passed` frame first: then `sent` was accepted.
    """

    def answer(frames: Sequence[Frame]) -> Answer | None:
        frame = first_named(frames, C2B, sent)
        if frame is None:
            return None
        for reply in broker_said_after(frames, frame):
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


def silent_after(sent: str) -> AnswerFrom:
    """Once over: the broker answered the client's `sent` with no frame at all."""

    def answer(frames: Sequence[Frame]) -> Answer | None:
        frame = first_named(frames, C2B, sent)
        if frame is None or broker_said_after(frames, frame):
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
    pair = tune_pair(frames)
    tune_ok = first_named(frames, C2B, "Connection.TuneOk")
    if pair is None or tune_ok is None:
        return None
    offered, asked = pair[0].channel_max, pair[1].channel_max
    if offered == 0 or (asked != 0 and asked <= offered):
        return None
    return tune_ok, f"TuneOk asked for channel_max={asked} above the broker's {offered}"


def channel_max_reply(frames: Sequence[Frame]) -> Answer | None:
    """What the broker sent after a TuneOk above its channel_max."""
    found = _above_channel_max(frames)
    if found is None:
        return None
    tune_ok, asked = found
    for reply in broker_said_after(frames, tune_ok):
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


def channel_max_silence(frames: Sequence[Frame]) -> Answer | None:
    """Once over, no Close and no OpenOk after the TuneOk means a dropped connection.

    Frames alone cannot show TCP ending; the caller says the run is over. RabbitMQ
    3.10.8 drops the socket about 3 s after such a TuneOk, without a Close.
    """
    found = _above_channel_max(frames)
    if found is None:
        return None
    tune_ok, asked = found
    if broker_said_after(frames, tune_ok):
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


def refused_quietly(frames: Sequence[Frame]) -> Answer | None:
    """What the broker sent a client without authentication_failure_close."""
    start_ok = _without_failure_close(frames)
    if start_ok is None:
        return None
    premise = "your client's StartOk left out authentication_failure_close"
    for reply in broker_said_after(frames, start_ok):
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


def refused_in_silence(frames: Sequence[Frame]) -> Answer | None:
    """Once over: nothing at all from the broker after that StartOk."""
    start_ok = _without_failure_close(frames)
    if start_ok is None or broker_said_after(frames, start_ok):
        return None
    return Answer(
        (SAYS_NOTHING,),
        "your client's StartOk left out authentication_failure_close; your broker "
        "sent nothing more, not even a Connection.Close",
    )
