"""Try-it checks: has the learner done what a lesson asked, on their own broker?

Owns the named checks a lesson's manifest entry lists. Each one looks only at
the frames of the learner's connection (never at a fixed answer key) and says
whether the task succeeded, and if not, what is still missing. Sans-I/O.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from pamqp import commands

from explorer.protocol.content import publishes
from explorer.protocol.frames import Direction, Frame, first_named

C2B, B2C = Direction.CLIENT_TO_BROKER, Direction.BROKER_TO_CLIENT


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a check passed, and why (or what is missing)."""

    passed: bool
    detail: str


Judge = Callable[[Sequence[Frame]], Verdict]


@dataclass(frozen=True, slots=True)
class Check:
    """A task a lesson sets, judged from the learner's frames."""

    name: str
    #: What the learner is asked to do, in one line.
    task: str
    judge: Judge


def _tune_pair(
    frames: Sequence[Frame],
) -> tuple[commands.Connection.Tune, commands.Connection.TuneOk] | None:
    tune, tune_ok = (
        first_named(frames, B2C, "Connection.Tune"),
        first_named(frames, C2B, "Connection.TuneOk"),
    )
    if tune is None or tune_ok is None:
        return None
    assert isinstance(tune.payload, commands.Connection.Tune)
    assert isinstance(tune_ok.payload, commands.Connection.TuneOk)
    return tune.payload, tune_ok.payload


def _lowered(field: str, what: str) -> Judge:
    """Passes when TuneOk carried a lower `field` than the broker proposed."""

    def judge(frames: Sequence[Frame]) -> Verdict:
        pair = _tune_pair(frames)
        if pair is None:
            return Verdict(False, "no Tune/TuneOk on the wire yet")
        proposed, carried = getattr(pair[0], field), getattr(pair[1], field)
        if proposed and 0 < carried < proposed:
            return Verdict(
                True,
                f"the broker proposed {field}={proposed}, TuneOk carried {carried}",
            )
        return Verdict(
            False, f"TuneOk carried the broker's {field}={carried}; ask for {what}"
        )

    return judge


def _heartbeat_changed(frames: Sequence[Frame]) -> Verdict:
    pair = _tune_pair(frames)
    if pair is None:
        return Verdict(False, "no Tune/TuneOk on the wire yet")
    proposed, carried = pair[0].heartbeat, pair[1].heartbeat
    if carried != proposed:
        return Verdict(
            True, f"the broker proposed {proposed} s, TuneOk carried {carried} s"
        )
    return Verdict(
        False, f"TuneOk carried the broker's {proposed} s; connect with ?heartbeat=5"
    )


def _closed_with(code: int, phase_frame: str) -> Judge:
    """Passes when the broker answered the client's `phase_frame` with Close `code`."""

    def judge(frames: Sequence[Frame]) -> Verdict:
        sent = first_named(frames, C2B, phase_frame)
        for frame in frames:
            payload = frame.payload
            if (
                sent is not None
                and frame.direction is B2C
                and isinstance(payload, commands.Connection.Close)
                and payload.reply_code == code
            ):
                return Verdict(True, f"the broker said {code} {payload.reply_text}")
        return Verdict(False, f"no Connection.Close {code} after {phase_frame} yet")

    return judge


def _named(frames: Sequence[Frame]) -> Verdict:
    start_ok = first_named(frames, C2B, "Connection.StartOk")
    if start_ok is None:
        return Verdict(False, "no Connection.StartOk on the wire yet")
    assert isinstance(start_ok.payload, commands.Connection.StartOk)
    name = (start_ok.payload.client_properties or {}).get("connection_name")
    if name:
        return Verdict(True, f"StartOk carried connection_name={name!r}")
    return Verdict(
        False, "StartOk carried no connection_name; add ?connection_name=..."
    )


def _heartbeat_seen(frames: Sequence[Frame]) -> Verdict:
    beats = [f for f in frames if f.name == "Heartbeat" and f.direction is B2C]
    if beats:
        return Verdict(True, f"the broker sent {len(beats)} heartbeat(s), 8 bytes each")
    return Verdict(False, "no heartbeat from the broker yet: a short ?heartbeat= helps")


def _pushed_and_polled(frames: Sequence[Frame]) -> Verdict:
    names = {f.name for f in frames if f.direction is B2C}
    wanted = {"Basic.Deliver", "Basic.GetOk", "Basic.GetEmpty"}
    missing = sorted(wanted - names)
    if not missing:
        return Verdict(
            True, "a delivery was pushed, then polled, then the queue was empty"
        )
    return Verdict(False, f"still to see: {', '.join(missing)}")


def _body_split(frames: Sequence[Frame]) -> Verdict:
    """Passes when one publish needed two or more body frames."""
    split = next((p for p in publishes(frames) if len(p.bodies) > 1), None)
    if split is not None:
        return Verdict(
            True,
            f"one publish of {split.body_size} bytes went out in "
            f"{len(split.bodies)} body frames",
        )
    return Verdict(
        False,
        "no publish needed more than one body frame yet: run the body-split experiment",
    )


def channel_turns(frames: Sequence[Frame]) -> tuple[dict[int, int], int]:
    """The client's frames per channel (1 and up), and how often they took turns."""
    channels = [f.channel for f in frames if f.direction is C2B and f.channel]
    turns = sum(1 for a, b in itertools.pairwise(channels) if a != b)
    return {c: channels.count(c) for c in sorted(set(channels))}, turns


def _interleaved(frames: Sequence[Frame]) -> Verdict:
    """Passes when the client's frames of two channels alternate on the socket."""
    counts, turns = channel_turns(frames)
    if len(counts) > 1 and turns > 1:
        return Verdict(
            True, f"frames of {len(counts)} channels took turns {turns} times"
        )
    return Verdict(False, "only one channel talked: run the two-channels experiment")


CHECKS: Final[dict[str, Check]] = {
    check.name: check
    for check in (
        Check("heartbeat-changed", "use a heartbeat of your own (?heartbeat=5)",
              _heartbeat_changed),
        Check("frame-max-lowered", "ask for a smaller frame_max (?frame_max=8192)",
              _lowered("frame_max", "?frame_max=8192")),
        Check("channel-max-lowered", "ask for fewer channels (?channel_max=5)",
              _lowered("channel_max", "?channel_max=5")),
        Check("wrong-password-refused", "make the broker refuse a wrong password",
              _closed_with(403, "Connection.StartOk")),
        Check("unknown-vhost-refused", "open a vhost that does not exist",
              _closed_with(530, "Connection.Open")),
        Check("connection-named", "name your connection (?connection_name=x)",
              _named),
        Check("heartbeat-seen", "watch the broker's heartbeat arrive", _heartbeat_seen),
        Check("pushed-and-polled", "see a message pushed and one polled",
              _pushed_and_polled),
        Check("body-split", "publish a body larger than frame_max", _body_split),
        Check("channels-interleaved", "watch two channels share the socket",
              _interleaved),
    )
}  # fmt: skip


def judge(name: str, frames: Sequence[Frame]) -> Verdict:
    """Judge the check called `name` against the learner's frames.

    Raises:
        KeyError: no check has that name (the content lint prevents this).
    """
    return CHECKS[name].judge(frames)
