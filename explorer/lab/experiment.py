"""What an experiment is, and how its outcome is read from the wire.

Owns `Scenario`: a named change to the plain lifecycle (a URL rewritten by
`rewrite`, a user created, a step replaced, the raw client's handshake) with
what the broker is expected to do, and `conclude`, which reports what the
broker really did:
the reply after the provoking frame, when the broker dropped the socket, and
the broker's log lines about the connection when the log can be read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final, Literal
from urllib.parse import quote

from yarl import URL

from explorer.engine.core import Engine, Operation, Step
from explorer.lab import broker
from explorer.net.endpoint import parse
from explorer.net.raw import Handshake
from explorer.protocol.amqp10.frames import Body
from explorer.protocol.amqp10.lifecycle import SASL_CODES
from explorer.protocol.amqp10.queries import error_of
from explorer.protocol.dialect import AMQP_0_9_1, Dialect
from explorer.protocol.fields import JSON
from explorer.protocol.frames import B2C, C2B, Frame
from explorer.protocol.lifecycle import Phase
from explorer.protocol.queries import first_named, sent_since
from explorer.protocol.stream import RESET_BY_BROKER

Setup = Callable[[Engine], Awaitable[None]]
Facts = dict[str, JSON]
#: What a topic experiment shows, computed from the frames of the run.
Summary = Callable[[Sequence[Frame]], tuple[Facts, list[str]]]
#: What an experiment measures on connections of its own, once the run ends.
Measure = Callable[[Engine], Awaitable[tuple[Facts, list[str]]]]
#: Frames by which a broker answers a provocation (0-9-1's, then 1.0's: a
#: 1.0 frame counts only when it carries a failure code or error).
REPLIES: Final = ("Connection.Close", "Channel.Close", "Basic.Return")
REPLIES_1_0: Final = ("sasl-outcome", "close", "end", "detach")
#: The broker's frame that closes the whole connection, in either protocol.
CLOSES: Final = ("Connection.Close", "close")
#: How long to wait for the broker's log to mention the connection's end: the
#: broker logs a refused connection's close when it drops it, 3 s later, and
#: its log handler writes to the file a few seconds after that.
LOG_WAIT: Final = 8.0
#: How far the broker's log clock may be behind the TCP connect, in time.
CLOCK_SLACK: Final = timedelta(seconds=1)
#: Seconds a measurement of its own may take.
MEASURE_TIME: Final = 40.0


@dataclass(frozen=True)
class Scenario:
    """One experiment: what it changes, and what the broker should do."""

    name: str
    title: str
    #: "failure" (the failure lab) or "topic" (a topic lesson's experiment).
    kind: Literal["failure", "topic"]
    #: The phase where the broker reacts.
    phase: Phase
    #: What the broker is expected to do, in one sentence.
    expect: str
    #: The client frame that provokes the reaction (its first occurrence).
    trigger: str = ""
    #: The broker's expected reply to the trigger: frame name and reply code
    #: (an AMQP 1.0 error's condition, e.g. "amqp:not-found").
    reply: tuple[str, int | str] | None = None
    #: The broker drops the socket, without a Close, this long after the trigger.
    drop_within: tuple[float, float] | None = None
    #: The connection is still open afterwards (closed cleanly by the client).
    lives_on: bool = False
    setup: Setup | None = None
    steps: Mapping[Phase, Step | None] = field(default_factory=dict)
    operations: Mapping[str, Operation] = field(default_factory=dict)
    handshake: Handshake | None = None
    #: The handshake must be held step by step, even in a trace.
    held: bool = False
    summary: Summary | None = None
    #: The protocol the run speaks (the Engine's steps follow it).
    dialect: Dialect = AMQP_0_9_1
    #: Run when the run ends; its facts and notes join the report.
    measure: Measure | None = None

    async def prepare(self, engine: Engine) -> None:
        """Set up what the experiment needs; a failure is reported, not raised."""
        if self.setup is None:
            return
        try:
            await self.setup(engine)
        except broker.LabError as exc:
            engine.fail(
                Phase.ENDPOINT,
                f"the {self.name} experiment cannot run here: {exc}",
                advice="run amqp-explorer as root (or as the rabbitmq user) on the "
                "broker's machine",
            )

    async def conclude(self, engine: Engine) -> None:
        """Report what the broker did, against what was expected."""
        facts, notes = observe(self, engine)
        if self.summary is not None:
            shown, said = self.summary(engine.frames)
            facts.update(shown)
            notes += said
        if self.measure is not None:
            what = f"the {self.name} experiment's own connections"
            shown, said = await engine.during(what, MEASURE_TIME, self.measure(engine))
            facts.update(shown)
            notes += said
        log = broker.log_file()
        client = engine.tap.client_address
        if self.measure is not None:
            facts["broker_log"] = (
                "not looked up for connections of the experiment's own"
            )
        elif log is None or not client:
            facts["broker_log"] = (
                "not readable here (sudo rabbitmq-diagnostics log_tail)"
            )
        else:
            what = "the broker's log to record the end of the connection"
            since = _wall_clock(engine, engine.tcp_at or 0.0) - CLOCK_SLACK
            lines = await engine.during(
                what, LOG_WAIT + 1, _log_lines(log, client, since)
            )
            facts["broker_log"] = list(lines)
        engine.outcome = bool(facts["as_expected"])
        engine.report(Phase.CLOSE, facts, notes)


def rewrite(**changes: str) -> Callable[[Engine], Awaitable[None]]:
    """A setup that changes the learner's URL: user, password, vhost or options."""

    async def setup(engine: Engine) -> None:
        url = URL(engine.url)
        where = parse(engine.url)
        user, password = changes.get("user", where.user), changes.get("password")
        url = url.with_user(user).with_password(password or where.password)
        if "vhost" in changes:
            url = url.with_path("/" + quote(changes["vhost"], safe=""), encoded=True)
        options = {
            k: v for k, v in changes.items() if k not in ("user", "password", "vhost")
        }
        engine.url = str(url.update_query(options) if options else url)

    return setup


def observe(scenario: Scenario, engine: Engine) -> tuple[dict[str, JSON], list[str]]:
    """What the broker did after the trigger, read from the wire."""
    frames = engine.frames
    start = engine.trigger_at
    if start is None:
        sent = first_named(frames, C2B, scenario.trigger)
        start = sent.t if sent is not None else None
    answer = _reply(frames, start)
    # After a clean close the broker's end of TCP (RabbitMQ 4 resets it) is no drop.
    dropped = None if _closed_cleanly(frames) else _dropped_after(engine, start)
    facts: dict[str, JSON] = {
        "experiment": scenario.name,
        "expected": scenario.expect,
        "trigger": scenario.trigger or "(none)",
    }
    said = []
    refusal = first_named(frames, B2C, "ProtocolHeader")
    if refusal is not None:
        said.append(f"the broker answered with its own header {refusal.raw.hex(' ')}")
    if answer is not None:
        code, text = reply_code(answer)
        facts["reply"] = {
            "frame": answer.name,
            "channel": answer.channel,
            "reply_code": code,
            "reply_text": text,
            "after_s": round(answer.t - (start or answer.t), 3),
        }
        said.append(f"{answer.name} {code}: {text!r}" if code else answer.name)
    if dropped is not None:
        facts["dropped_after_s"] = round(dropped, 2)
        said.append(f"the broker dropped the TCP connection {dropped:.1f} s later")
    if scenario.lives_on:
        facts["connection_lived_on"] = _closed_cleanly(frames)
    passed = _as_expected(scenario, facts, answer, dropped)
    facts["as_expected"] = passed
    observed = "; ".join(said) or "the broker sent no reply and kept the connection"
    quiet = scenario.kind == "topic" and not said
    notes = (
        [] if quiet else [f"After {scenario.trigger or 'the experiment'}: {observed}."]
    )
    if not passed:
        notes.append(
            "That is not what this experiment expected ("
            f"{scenario.expect}); what is on the wire is what your broker does."
        )
    return facts, notes


def reply_code(frame: Frame) -> tuple[int | str, str]:
    """A broker answer's code and text: 0-9-1's reply code and text, a
    sasl-outcome's code and its name, or a 1.0 error's condition and
    description (0 and "" when the frame carries none)."""
    payload = frame.payload
    if not isinstance(payload, Body):
        return int(getattr(payload, "reply_code", 0)), str(
            getattr(payload, "reply_text", "")
        )
    if payload.name == "sasl-outcome":
        code = payload.fields.get("code")
        number = code if isinstance(code, int) else 0
        return number, SASL_CODES.get(number, "") if number else ""
    return error_of(frame) or (0, "")


def _answers(frame: Frame) -> bool:
    if frame.name in REPLIES:
        return not isinstance(frame.payload, Body)
    return frame.name in REPLIES_1_0 and bool(reply_code(frame)[0])


def _reply(frames: list[Frame], start: float | None) -> Frame | None:
    if start is None:
        return None
    return next((f for f in sent_since(frames, B2C, start) if _answers(f)), None)


def _closed_cleanly(frames: list[Frame]) -> bool:
    """Whether the broker closed the connection as asked: 0-9-1's CloseOk, or
    1.0's close without an error."""
    return any(
        f.direction is B2C
        and (
            f.name == "Connection.CloseOk"
            or (f.name == "close" and not reply_code(f)[0])
        )
        for f in frames
    )


def _dropped_after(engine: Engine, start: float | None) -> float | None:
    """Seconds from the trigger to the broker ending the TCP connection."""
    end = engine.ended.get(B2C)
    by_broker = end is not None and end.reason.startswith(
        ("closed by the broker", "connection lost", RESET_BY_BROKER)
    )
    if start is None or end is None or not by_broker:
        return None
    return end.t - start


def _as_expected(
    scenario: Scenario,
    facts: dict[str, JSON],
    answer: Frame | None,
    dropped: float | None,
) -> bool:
    ok = True
    if scenario.reply is not None:
        name, code = scenario.reply
        got = reply_code(answer)[0] if answer else None
        ok = answer is not None and answer.name == name and got == code
    if scenario.drop_within is not None:
        low, high = scenario.drop_within
        silent = answer is None or answer.name not in CLOSES
        ok = ok and silent and dropped is not None and low <= dropped <= high
    if scenario.lives_on:
        ok = ok and facts.get("connection_lived_on") is True
    return ok


def _wall_clock(engine: Engine, t: float) -> datetime:
    """The date and time of `t` on the engine's clock."""
    return datetime.now(UTC) - timedelta(seconds=engine.tap.now() - t)


async def _log_lines(path: Path, client: str, since: datetime) -> list[str]:
    """The broker's log lines about this connection, once it logged its end."""
    lines: list[str] = []
    for _ in range(int(LOG_WAIT / 0.1)):
        lines = broker.log_lines(path, client, since)
        if any("closing AMQP connection" in line for line in lines):
            break
        await asyncio.sleep(0.1)
    return lines
