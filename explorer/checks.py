"""Try-it checks: has the learner done what a lesson asked, on their own broker?

Owns the named checks a lesson's manifest entry lists. Each one looks only at
what the learner's own connection showed (its frames, its failures, its phase
reports; never a fixed answer key) and says whether the task succeeded, and if
not, what is still missing. Sans-I/O.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from pamqp import commands

from explorer.events import PhaseFailed, PhaseReport
from explorer.protocol.content import publishes
from explorer.protocol.frames import Direction, Frame, first_named, first_payload
from explorer.protocol.lifecycle import Phase

C2B, B2C = Direction.CLIENT_TO_BROKER, Direction.BROKER_TO_CLIENT


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a check passed, and why (or what is missing)."""

    passed: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Seen:
    """What one connection showed: its frames, failures and phase reports."""

    frames: Sequence[Frame]
    failures: Sequence[PhaseFailed] = ()
    reports: Sequence[PhaseReport] = ()


Judge = Callable[[Seen], Verdict]
FrameJudge = Callable[[Sequence[Frame]], Verdict]


@dataclass(frozen=True, slots=True)
class Check:
    """A task a lesson sets, judged from what the learner's connection showed."""

    name: str
    #: What the learner is asked to do, in one line.
    task: str
    judge: Judge


def _tune_pair(
    frames: Sequence[Frame],
) -> tuple[commands.Connection.Tune, commands.Connection.TuneOk] | None:
    tune = first_payload(frames, B2C, commands.Connection.Tune)
    tune_ok = first_payload(frames, C2B, commands.Connection.TuneOk)
    if tune is None or tune_ok is None:
        return None
    return tune, tune_ok


def _lowered(field: str, what: str) -> FrameJudge:
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


def _closed_with(code: int, phase_frame: str) -> FrameJudge:
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
    start_ok = first_payload(frames, C2B, commands.Connection.StartOk)
    if start_ok is None:
        return Verdict(False, "no Connection.StartOk on the wire yet")
    name = (start_ok.client_properties or {}).get("connection_name")
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


def _channel_past_max(frames: Sequence[Frame]) -> Verdict:
    """Passes when a Channel.Open beyond TuneOk's channel_max got Close 530."""
    pair = _tune_pair(frames)
    limit = pair[1].channel_max if pair else 0
    opened = [
        f.channel for f in frames if f.direction is C2B and f.name == "Channel.Open"
    ]
    beyond = [n for n in opened if limit and n > limit]
    close = first_payload(frames, B2C, commands.Connection.Close)
    if beyond and close is not None and close.reply_code == 530:
        return Verdict(
            True,
            f"channel {beyond[0]} is past channel_max={limit}: the broker said 530",
        )
    return Verdict(
        False, "no channel past channel_max yet: run the channel-max experiment"
    )


def _closed_cleanly(frames: Sequence[Frame]) -> Verdict:
    close = first_payload(frames, C2B, commands.Connection.Close)
    closed = first_named(frames, B2C, "Connection.CloseOk") is not None
    if close is not None and close.reply_code == 200 and closed:
        return Verdict(True, "Connection.Close 200, answered by Connection.CloseOk")
    return Verdict(False, "the client has not closed the connection cleanly yet")


def _start_ok_withheld(seen: Seen) -> Verdict:
    """Passes when the client got Connection.Start and gave up at auth."""
    started = first_named(seen.frames, B2C, "Connection.Start") is not None
    answered = first_named(seen.frames, C2B, "Connection.StartOk") is not None
    gave_up = next((f for f in seen.failures if f.phase is Phase.AUTH), None)
    if started and not answered and gave_up is not None:
        return Verdict(True, gave_up.message)
    return Verdict(False, "the client still answered Connection.Start: ?auth=external")


def _failed_at(phase: Phase | None, hint: str, words: str = "") -> Judge:
    """Passes when the connection failed at `phase` (any, if None) saying `words`."""

    def judge(seen: Seen) -> Verdict:
        for failure in seen.failures:
            if phase in (None, failure.phase) and words in failure.message:
                return Verdict(True, failure.message)
        return Verdict(False, hint)

    return judge


def _socket_limit_hit(seen: Seen) -> Verdict:
    """Passes when a child process ran out of file descriptors opening connections."""
    for report in seen.reports:
        if "Too many open files" in str(report.facts.get("error", "")):
            return Verdict(True, str(report.facts.get("summary", "")))
    return Verdict(False, "no child process hit its limit yet: run socket-limit")


def _on_frames(judge: FrameJudge) -> Judge:
    """A judge of the frames alone."""
    return lambda seen: judge(seen.frames)


CHECKS: Final[dict[str, Check]] = {
    check.name: check
    for check in (
        Check("heartbeat-changed", "use a heartbeat of your own (?heartbeat=5)",
              _on_frames(_heartbeat_changed)),
        Check("frame-max-lowered", "ask for a smaller frame_max (?frame_max=8192)",
              _on_frames(_lowered("frame_max", "?frame_max=8192"))),
        Check("channel-max-lowered", "ask for fewer channels (?channel_max=5)",
              _on_frames(_lowered("channel_max", "?channel_max=5"))),
        Check("wrong-password-refused", "make the broker refuse a wrong password",
              _on_frames(_closed_with(403, "Connection.StartOk"))),
        Check("unknown-vhost-refused", "open a vhost that does not exist",
              _on_frames(_closed_with(530, "Connection.Open"))),
        Check("connection-named", "name your connection (?connection_name=x)",
              _on_frames(_named)),
        Check("heartbeat-seen", "watch the broker's heartbeat arrive",
              _on_frames(_heartbeat_seen)),
        Check("pushed-and-polled", "see a message pushed and one polled",
              _on_frames(_pushed_and_polled)),
        Check("body-split", "publish a body larger than frame_max",
              _on_frames(_body_split)),
        Check("channels-interleaved", "watch two channels share the socket",
              _on_frames(_interleaved)),
        Check("channel-past-max", "open a channel past channel_max",
              _on_frames(_channel_past_max)),
        Check("closed-cleanly", "run the lifecycle to a clean close",
              _on_frames(_closed_cleanly)),
        Check("name-not-resolved", "give a host name that does not resolve",
              _failed_at(Phase.RESOLVE, "every name resolved so far: try "
                         "no-such-host.invalid")),
        Check("tls-refused", "speak TLS to a plain AMQP port",
              _failed_at(Phase.TLS, "no TLS handshake failed yet: amqps:// to 5672")),
        Check("handshake-timed-out", "let the broker's handshake_timeout run out",
              _failed_at(None, "the handshake never ran out of time: stop "
                         "after the header step and wait", "handshake_timeout")),
        Check("mechanism-refused", "ask for a mechanism the broker does not offer",
              _start_ok_withheld),
        Check("socket-limit-hit", "open connections until the file limit",
              _socket_limit_hit),
    )
}  # fmt: skip


def judge(name: str, seen: Seen) -> Verdict:
    """Judge the check called `name` against what the learner's connection showed.

    Raises:
        KeyError: no check has that name (the content lint prevents this).
    """
    return CHECKS[name].judge(seen)
