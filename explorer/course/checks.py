"""Try-it checks: has the learner done what a lesson asked, on their own broker?

Owns the named checks a lesson's manifest entry lists. Each one looks only at
what the learner's own connection showed (its frames, its failures, its phase
reports; never a fixed answer key) and passes only for what the learner did on
purpose: a value their URL asked for and the broker accepted, a failure their
own choice caused. An experiment's run counts only for the checks whose task
is that experiment. Sans-I/O.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from pamqp import commands

from explorer.engine.events import PhaseFailed, PhaseReport
from explorer.protocol.content import publishes
from explorer.protocol.fields import JSON, table_of
from explorer.protocol.frames import B2C, C2B, Frame
from explorer.protocol.lifecycle import Phase
from explorer.protocol.queries import (
    all_named,
    channel_turns,
    client_channels,
    first_named,
    first_payload,
    reply_to,
    tune_pair,
)

#: The race pace (the TCP report's "pace"): the handshake held step by step.
RACE: Final = "race"


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

    @property
    def experiment(self) -> str | None:
        """The experiment this run is, once a report names it (None: the learner's)."""
        for report in self.reports:
            name = report.facts.get("experiment")
            if isinstance(name, str):
                return name
        return None

    @property
    def pace(self) -> str | None:
        """The pace the TCP report names: "race" or "learner" (None before it)."""
        for report in self.reports:
            pace = report.facts.get("pace")
            if report.phase is Phase.TCP and isinstance(pace, str):
                return pace
        return None

    def asked(self, setting: str) -> JSON:
        """The value the learner's URL gave `setting` (None: it was defaulted)."""
        for report in self.reports:
            listed = report.facts.get("settings")
            if report.phase is not Phase.ENDPOINT or not isinstance(listed, list):
                continue
            for entry in listed:
                if (
                    isinstance(entry, dict)
                    and entry.get("name") == setting
                    and entry.get("from") == "url"
                ):
                    return entry.get("value")
        return None


Judge = Callable[[Seen], Verdict]
FrameJudge = Callable[[Sequence[Frame]], Verdict]


@dataclass(frozen=True, slots=True)
class Check:
    """A task a lesson sets, judged from what the learner's connection showed."""

    name: str
    #: What the learner is asked to do, in one line.
    task: str
    judge: Judge
    #: The experiments whose runs count for this task (the ones its try-it
    #: names); the run of any other experiment never passes it.
    counts_in: frozenset[str] = frozenset()


def _tuned(field: str, how: str, *, lowered: bool, unit: str = "") -> Judge:
    """Passes when TuneOk carried the URL's `field` and the broker accepted it.

    The value must differ from the broker's proposal (if `lowered`, be below
    it); accepted means the broker went on to Connection.OpenOk.
    """

    def judge(seen: Seen) -> Verdict:
        pair = tune_pair(seen.frames)
        if pair is None:
            return Verdict(False, "no Tune/TuneOk on the wire yet")
        proposed, carried = int(getattr(pair[0], field)), int(getattr(pair[1], field))
        said = f"TuneOk carried {field} {carried}{unit}"
        if seen.asked(field) != carried:
            return Verdict(False, f"{said}, which your URL did not ask for: {how}")
        below = carried > 0 and (proposed == 0 or carried < proposed)
        if not (below if lowered else carried != proposed):
            return Verdict(False, f"{said}, the broker's own value: {how}")
        if first_named(seen.frames, B2C, "Connection.OpenOk") is None:
            return Verdict(
                False, f"{said}, and the broker has not accepted it (no OpenOk)"
            )
        return Verdict(
            True,
            f"the broker proposed {field} {proposed}{unit}, your TuneOk carried "
            f"{carried}{unit}, and the broker accepted it",
        )

    return judge


def _refused(sent: str, code: int, setting: str, words: str = "") -> Judge:
    """Passes when the broker answered `sent` with Connection.Close `code`.

    Its reply text must hold `words`, and the learner's URL must give `setting`.
    """

    def judge(seen: Seen) -> Verdict:
        answer = reply_to(seen.frames, sent)
        close = answer.payload if answer is not None else None
        if not isinstance(close, commands.Connection.Close) or close.reply_code != code:
            return Verdict(False, f"no Connection.Close {code} in answer to {sent} yet")
        text = str(close.reply_text)
        if words not in text:
            return Verdict(False, f"the broker said {code} {text}: not this task")
        if seen.asked(setting) is None:
            return Verdict(
                False, f"the broker said {code}, but your URL gave no {setting}"
            )
        return Verdict(True, f"the broker said {code} {text}")

    return judge


def _named(seen: Seen) -> Verdict:
    start_ok = first_named(seen.frames, C2B, "Connection.StartOk")
    if start_ok is None:
        return Verdict(False, "no Connection.StartOk on the wire yet")
    name = table_of(start_ok, "client_properties").get("connection_name")
    if name and name == seen.asked("connection_name"):
        return Verdict(True, f"StartOk carried connection_name={name!r}")
    return Verdict(
        False, "StartOk carried no connection_name of yours: add ?connection_name=..."
    )


def _heartbeat_seen(frames: Sequence[Frame]) -> Verdict:
    beats = all_named(frames, B2C, "Heartbeat")
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


def _interleaved(frames: Sequence[Frame]) -> Verdict:
    """Passes when a channel's frames resumed after another's, at least twice.

    Channels opened one after the other switch too, but none comes back.
    """
    counts, turns = channel_turns(frames)
    runs = [channel for channel, _ in itertools.groupby(client_channels(frames))]
    if len(runs) - len(set(runs)) > 1:
        return Verdict(
            True, f"frames of {len(counts)} channels took turns {turns} times"
        )
    return Verdict(
        False, "no two channels took turns yet: run the two-channels experiment"
    )


def _channel_past_max(frames: Sequence[Frame]) -> Verdict:
    """Passes when a Channel.Open beyond TuneOk's channel_max got Close 530."""
    pair = tune_pair(frames)
    limit = pair[1].channel_max if pair else 0
    for index, frame in enumerate(frames):
        beyond = frame.name == "Channel.Open" and 0 < limit < frame.channel
        close = first_payload(frames[index:], B2C, commands.Connection.Close)
        if beyond and frame.direction is C2B and close and close.reply_code == 530:
            return Verdict(
                True,
                f"channel {frame.channel} is past channel_max={limit}: the broker "
                "said 530",
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


def _mechanism_refused(seen: Seen) -> Verdict:
    """Passes when the client gave up at auth on a mechanism the URL asked for.

    The broker's Connection.Start must not offer it, and no StartOk went out.
    """
    asked = seen.asked("auth")
    start = first_payload(seen.frames, B2C, commands.Connection.Start)
    offered = str(start.mechanisms).split() if start is not None else []
    answered = first_named(seen.frames, C2B, "Connection.StartOk") is not None
    gave_up = next((f for f in seen.failures if f.phase is Phase.AUTH), None)
    refused = isinstance(asked, str) and asked not in offered
    if start is not None and refused and not answered and gave_up is not None:
        return Verdict(True, gave_up.message)
    return Verdict(
        False, "no mechanism of yours was refused yet: connect with ?auth=external"
    )


def _timed_out(seen: Seen) -> Verdict:
    """Passes when handshake_timeout ran out on a race, or in its experiment."""
    ran_out = next((f for f in seen.failures if "handshake_timeout" in f.message), None)
    if ran_out is None:
        return Verdict(
            False,
            "the handshake never ran out of time: race the broker's clock (c), "
            "then wait past 10 s at a handshake step",
        )
    if seen.pace == RACE or seen.experiment == "handshake-timeout":
        return Verdict(True, ran_out.message)
    return Verdict(
        False,
        "the handshake ran out of time, but not in a race you chose: press c to "
        "race the broker's clock",
    )


def _failed_at(phase: Phase, hint: str, words: str = "", setting: str = "") -> Judge:
    """Passes when the connection failed at `phase` saying `words`.

    When `setting` is named, the learner's URL must give it too.
    """

    def judge(seen: Seen) -> Verdict:
        given = not setting or seen.asked(setting) is not None
        for failure in seen.failures:
            if given and failure.phase is phase and words in failure.message:
                return Verdict(True, failure.message)
        return Verdict(False, hint)

    return judge


def _socket_limit_hit(seen: Seen) -> Verdict:
    """Passes when a child process ran out of file descriptors opening connections."""
    for report in seen.reports:
        error = str(report.facts.get("error", ""))
        if report.phase is Phase.TCP and "Too many open files" in error:
            return Verdict(True, str(report.facts.get("summary", "")))
    return Verdict(False, "no child process hit its limit yet: run socket-limit")


def _on_frames(judge: FrameJudge) -> Judge:
    """A judge of the frames alone."""
    return lambda seen: judge(seen.frames)


CHECKS: Final[dict[str, Check]] = {
    check.name: check
    for check in (
        Check("heartbeat-changed", "use a heartbeat of your own (?heartbeat=5)",
              _tuned("heartbeat", "connect with ?heartbeat=5", lowered=False,
                     unit=" s")),
        Check("frame-max-lowered", "ask for a smaller frame_max (?frame_max=8192)",
              _tuned("frame_max", "connect with ?frame_max=8192", lowered=True)),
        Check("channel-max-lowered", "ask for fewer channels (?channel_max=5)",
              _tuned("channel_max", "connect with ?channel_max=5", lowered=True)),
        Check("wrong-password-refused", "make the broker refuse a wrong password",
              _refused("Connection.StartOk", 403, "password")),
        Check("unknown-vhost-refused", "open a vhost that does not exist",
              _refused("Connection.Open", 530, "vhost", "not found")),
        Check("connection-named", "name your connection (?connection_name=x)",
              _named),
        Check("heartbeat-seen", "watch the broker's heartbeat arrive",
              _on_frames(_heartbeat_seen)),
        Check("pushed-and-polled", "see a message pushed and one polled",
              _on_frames(_pushed_and_polled)),
        Check("body-split", "publish a body larger than frame_max",
              _on_frames(_body_split), frozenset({"body-split"})),
        Check("channels-interleaved", "watch two channels share the socket",
              _on_frames(_interleaved), frozenset({"two-channels"})),
        Check("channel-past-max", "open a channel past channel_max",
              _on_frames(_channel_past_max), frozenset({"channel-max"})),
        Check("closed-cleanly", "run the lifecycle to a clean close",
              _on_frames(_closed_cleanly)),
        Check("name-not-resolved", "give a host name that does not resolve",
              _failed_at(Phase.RESOLVE, "no host name of yours failed to resolve "
                         "yet: try no-such-host.invalid", setting="host")),
        Check("tls-refused", "speak TLS to a plain AMQP port",
              _failed_at(Phase.TLS, "no TLS handshake met a plain AMQP port yet: "
                         "amqps:// to 5672", "WRONG_VERSION_NUMBER")),
        Check("handshake-timed-out", "let the broker's handshake_timeout run out",
              _timed_out, frozenset({"handshake-timeout"})),
        Check("mechanism-refused", "ask for a mechanism the broker does not offer",
              _mechanism_refused),
        Check("socket-limit-hit", "open connections until the file limit",
              _socket_limit_hit, frozenset({"socket-limit"})),
    )
}  # fmt: skip


def judge(name: str, seen: Seen) -> Verdict:
    """Judge the check called `name` against what the learner's connection showed.

    During an experiment only the checks that count it are judged; for the
    others the experiment, not the learner, did whatever the wire shows.

    Raises:
        KeyError: no check has that name (the content lint prevents this).
    """
    check = CHECKS[name]
    running = seen.experiment
    if running is not None and running not in check.counts_in:
        return Verdict(
            False, f"the {running} experiment ran this connection, not your URL"
        )
    return check.judge(seen)
