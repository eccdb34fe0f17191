"""Each try-it check without a broker: the way that passes, and every way that
must not, false credit included.

Frames are pamqp objects marshalled and decoded again (conftest `wire`) or a
committed capture's; reports and failures are built as the engine and the lab
emit them. A false-credit case is a run where the wire shows what a task asks
for, but the learner did not do it on purpose: an experiment did it, a default
did it, or the broker refused it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Final

import pytest
from pamqp import commands
from pamqp.body import ContentBody
from pamqp.common import FieldTable
from pamqp.frame import FrameTypes
from pamqp.header import ContentHeader, ProtocolHeader
from pamqp.heartbeat import Heartbeat

from explorer.course.checks import CHECKS, Seen, judge
from explorer.engine.events import PhaseFailed, PhaseReport
from explorer.protocol import Direction
from explorer.protocol.fields import JSON
from explorer.protocol.frames import B2C, C2B
from explorer.protocol.lifecycle import Phase
from tests.conftest import capture_frames, wire

Sent = tuple[Direction, FrameTypes] | tuple[Direction, FrameTypes, int]

#: RabbitMQ 3.10.8's proposal.
TUNE: Final = commands.Connection.Tune(2047, 131072, 60)
RAN_OUT: Final = (
    "the broker dropped the connection 10.0 s after TCP accept while the explorer "
    "held the client's next frame (connection lost: Connection reset by peer): its "
    "handshake_timeout (10 s by default) ran out before Connection.Open"
)
LOST: Final = (
    "the connection was lost 3.0 s after TCP accept: connection lost: Connection "
    "reset by peer"
)


def endpoint(**given: JSON) -> PhaseReport:
    """The endpoint report of a URL that wrote `given` (all else defaulted)."""
    defaults: dict[str, JSON] = {"host": "localhost", "heartbeat": 60, "auth": "PLAIN"}
    written = [(name, value, "url") for name, value in given.items()]
    written += [(n, v, "default") for n, v in defaults.items() if n not in given]
    settings: list[JSON] = [
        {"name": name, "value": value, "from": source, "note": ""}
        for name, value, source in written
    ]
    return PhaseReport(
        Phase.ENDPOINT, {"url": "amqp://localhost", "settings": settings}
    )


def tcp(pace: str) -> PhaseReport:
    return PhaseReport(Phase.TCP, {"local": "127.0.0.1:50000", "pace": pace})


def concluded(experiment: str) -> PhaseReport:
    """An experiment's last report, as `Scenario.conclude` makes it."""
    facts: dict[str, JSON] = {
        "experiment": experiment,
        "expected": "what the experiment expects",
        "trigger": "(none)",
        "as_expected": True,
    }
    return PhaseReport(Phase.CLOSE, facts)


def named(experiment: str) -> PhaseReport:
    """A report naming the experiment from the start of its run."""
    return PhaseReport(Phase.ENDPOINT, {"experiment": experiment})


def start_ok(**properties: str) -> Sent:
    table: FieldTable = dict(properties)
    return (C2B, commands.Connection.StartOk(table, "PLAIN", "\0guest\0guest"))


HELLO: Final[list[Sent]] = [
    (C2B, ProtocolHeader()),
    (B2C, commands.Connection.Start(mechanisms="PLAIN AMQPLAIN")),
]
OPENED: Final[list[Sent]] = [
    (C2B, commands.Connection.Open("/")),
    (B2C, commands.Connection.OpenOk()),
]


def tuned(tune_ok: commands.Connection.TuneOk, *after: Sent) -> list[Sent]:
    """The handshake up to `tune_ok`, then `after` (OPENED when accepted)."""
    return [*HELLO, start_ok(), (B2C, TUNE), (C2B, tune_ok), *after]


def seen(
    sent: list[Sent],
    *reports: PhaseReport,
    failures: tuple[PhaseFailed, ...] = (),
) -> Seen:
    return Seen(wire(*sent), failures, reports)


def publish(channel: int, bodies: int = 1) -> list[Sent]:
    chunk = b"x" * 100
    return [
        (C2B, commands.Basic.Publish(routing_key="q"), channel),
        (C2B, ContentHeader(body_size=len(chunk) * bodies), channel),
        *[(C2B, ContentBody(chunk), channel) for _ in range(bodies)],
    ]


def opened_channels(*numbers: int) -> list[Sent]:
    return [(C2B, commands.Channel.Open(), n) for n in numbers]


def channels_closed(*numbers: int) -> list[Sent]:
    return [(C2B, commands.Channel.Close(200, "", 0, 0), n) for n in numbers]


def closed(code: int, text: str) -> Sent:
    return (B2C, commands.Connection.Close(code, text, 0, 0))


PAST_MAX: Final = closed(
    530,
    "NOT_ALLOWED - number of channels opened (2) has reached the negotiated "
    "channel_max (2)",
)


def tune_ok(**values: int) -> commands.Connection.TuneOk:
    """A TuneOk echoing TUNE but for `values`."""
    echoed = {"channel_max": 2047, "frame_max": 131072, "heartbeat": 60}
    return commands.Connection.TuneOk(**(echoed | values))


#: What aiormq answers TUNE with when the URL asks for nothing.
ECHOED: Final = tune_ok()


def recorded(name: str, *reports: PhaseReport) -> Seen:
    """A committed capture's frames, with `reports`."""
    return Seen(capture_frames(name), (), reports)


def happy(*more: Sent) -> Seen:
    """The happy-path capture (the plain lifecycle), with `more` frames after."""
    return Seen([*capture_frames("happy-path"), *wire(*more)], (), (endpoint(),))


@functools.cache
def passing() -> dict[str, Seen]:
    """For each check, a run of the learner's own that does its task."""
    return {
        "heartbeat-changed": seen(
            tuned(tune_ok(heartbeat=5), *OPENED),
            endpoint(heartbeat=5),
        ),
        "frame-max-lowered": seen(
            tuned(tune_ok(frame_max=8192), *OPENED),
            endpoint(frame_max=8192),
        ),
        "channel-max-lowered": seen(
            tuned(tune_ok(channel_max=5), *OPENED),
            endpoint(channel_max=5),
        ),
        "wrong-password-refused": Seen(
            capture_frames("wrong-password"), (), (endpoint(password="***"),)
        ),
        "unknown-vhost-refused": Seen(
            capture_frames("unknown-vhost"), (), (endpoint(vhost="no-such-vhost"),)
        ),
        "connection-named": seen(
            [*HELLO, start_ok(connection_name="lesson-1")],
            endpoint(connection_name="lesson-1"),
        ),
        "heartbeat-seen": happy((B2C, Heartbeat())),
        "pushed-and-polled": happy(),
        "body-split": seen([*tuned(ECHOED, *OPENED), *publish(1, bodies=3)]),
        "channels-interleaved": seen(
            [*opened_channels(1, 2), *publish(1), *publish(2), *publish(1)]
        ),
        "channel-past-max": seen(
            [
                *tuned(tune_ok(channel_max=2), *OPENED),
                *opened_channels(1, 2, 3),
                PAST_MAX,
            ]
        ),
        "closed-cleanly": happy(),
        "name-not-resolved": seen(
            [],
            endpoint(host="no-such-host.invalid"),
            failures=(
                PhaseFailed(
                    Phase.RESOLVE,
                    "the host name 'no-such-host.invalid' does not resolve "
                    "(Name or service not known)",
                ),
            ),
        ),
        "tls-refused": seen(
            [],
            endpoint(scheme="amqps"),
            failures=(
                PhaseFailed(
                    Phase.TLS,
                    "the TLS handshake failed: [SSL: WRONG_VERSION_NUMBER] wrong "
                    "version number (_ssl.c:1006)",
                ),
            ),
        ),
        "handshake-timed-out": seen(
            HELLO,
            endpoint(),
            tcp("race"),
            failures=(PhaseFailed(Phase.START, RAN_OUT),),
        ),
        "mechanism-refused": seen(
            HELLO,
            endpoint(auth="EXTERNAL"),
            tcp("learner"),
            failures=(
                PhaseFailed(
                    Phase.AUTH,
                    "aiormq was asked to log in with EXTERNAL; the broker offers "
                    "PLAIN AMQPLAIN and aiormq supports PLAIN EXTERNAL, so aiormq "
                    "gave up without sending Connection.StartOk",
                ),
            ),
        ),
        "socket-limit-hit": seen(
            [],
            tcp("learner"),
            PhaseReport(
                Phase.TCP,
                {
                    "error": "AMQPConnectionError: [Errno 24] Too many open files",
                    "summary": "With a limit of 14 open files and 6 held, the "
                    "child opened 8 connections",
                },
            ),
        ),
    }


#: Runs that must not pass each check: (check, what the run is, the run).
#: Ids starting "false credit" passed before issue 10 was fixed.
# fmt: off
NOT_DONE: Final[list[tuple[str, str, Callable[[], Seen]]]] = [
    ("heartbeat-changed", "no tune yet", lambda: seen(HELLO, endpoint())),
    ("heartbeat-changed", "the broker's own value asked for",
     lambda: seen(tuned(ECHOED, *OPENED), endpoint(heartbeat=60))),
    ("heartbeat-changed", "false credit: aiormq's 60 s against a broker's 30 s",
     lambda: seen([*HELLO, start_ok(), (B2C, commands.Connection.Tune(2047, 131072,
                   30)), (C2B, ECHOED), *OPENED], endpoint())),
    ("heartbeat-changed", "false credit: heartbeat-timeout's raw TuneOk",
     lambda: seen(tuned(tune_ok(heartbeat=2), *OPENED), endpoint(),
                  concluded("heartbeat-timeout"))),
    ("frame-max-lowered", "the broker's value echoed",
     lambda: seen(tuned(ECHOED, *OPENED), endpoint())),
    ("frame-max-lowered", "false credit: tune-below-minimum, refused by a drop",
     lambda: seen(tuned(tune_ok(frame_max=1024)), endpoint(),
                  failures=(PhaseFailed(Phase.TUNE, LOST),))),
    ("frame-max-lowered", "false credit: ?frame_max=1024, refused by a drop",
     lambda: seen(tuned(tune_ok(frame_max=1024), (C2B, commands.Connection.Open("/"))),
                  endpoint(frame_max=1024), failures=(PhaseFailed(Phase.OPEN, LOST),))),
    ("frame-max-lowered", "false credit: frame-too-large's raw TuneOk, accepted",
     lambda: seen(tuned(tune_ok(frame_max=8192), *OPENED), endpoint())),
    ("channel-max-lowered", "the broker's value echoed",
     lambda: seen(tuned(ECHOED, *OPENED), endpoint())),
    ("channel-max-lowered", "channel-max-above's raw TuneOk, refused",
     lambda: seen(tuned(tune_ok(channel_max=4000)), endpoint())),
    ("channel-max-lowered", "false credit: the channel-max experiment's URL",
     lambda: seen(tuned(tune_ok(channel_max=2), *OPENED), endpoint(channel_max=2),
                  concluded("channel-max"))),
    ("channel-max-lowered", "false credit: the channel-max experiment, named early",
     lambda: seen(tuned(tune_ok(channel_max=2), *OPENED), named("channel-max"),
                  endpoint(channel_max=2))),
    ("wrong-password-refused", "the happy path", happy),
    ("wrong-password-refused", "false credit: the wrong-password experiment",
     lambda: recorded("wrong-password", endpoint(password="***"),
                      concluded("wrong-password"))),
    ("wrong-password-refused", "false credit: 403 for a password the URL never gave",
     lambda: recorded("wrong-password", endpoint())),
    ("unknown-vhost-refused", "the happy path", happy),
    ("unknown-vhost-refused", "false credit: the unknown-vhost experiment",
     lambda: recorded("unknown-vhost", endpoint(vhost="no-such-vhost"),
                      concluded("unknown-vhost"))),
    ("unknown-vhost-refused", "false credit: 530 for channel 3 past channel_max",
     lambda: seen([*tuned(tune_ok(channel_max=2), *OPENED), *opened_channels(1, 2, 3),
                   PAST_MAX], endpoint(channel_max=2, vhost="/"))),
    ("unknown-vhost-refused", "false credit: 530 for a vhost without permissions",
     lambda: seen(tuned(ECHOED, (C2B, commands.Connection.Open("/")), closed(
         530, "NOT_ALLOWED - access to vhost '/' refused for user 'alice'")),
         endpoint(vhost="/"))),
    ("connection-named", "no name", lambda: seen([*HELLO, start_ok()], endpoint())),
    ("connection-named", "false credit: the broker-log experiment's name",
     lambda: seen([*HELLO, start_ok(connection_name="amqp-explorer-log-demo")],
                  endpoint(connection_name="amqp-explorer-log-demo"),
                  concluded("broker-log"))),
    ("heartbeat-seen", "no heartbeat", happy),
    ("heartbeat-seen", "false credit: heartbeat-timeout's broker heartbeats",
     lambda: seen([*tuned(tune_ok(heartbeat=2), *OPENED), (B2C, Heartbeat())],
                  endpoint(), concluded("heartbeat-timeout"))),
    ("pushed-and-polled", "a refused login", lambda: recorded("wrong-password")),
    ("pushed-and-polled", "false credit: the push-vs-poll experiment",
     lambda: recorded("happy-path", concluded("push-vs-poll"))),
    ("pushed-and-polled", "false credit: socket-limit's connection",
     lambda: recorded("happy-path", concluded("socket-limit"))),
    ("body-split", "one body frame",
     lambda: seen([*tuned(ECHOED, *OPENED), *publish(1)])),
    ("channels-interleaved", "one channel", happy),
    ("channels-interleaved", "false credit: channel-max opening 1, 2, 3 in turn",
     lambda: seen([*tuned(tune_ok(channel_max=2), *OPENED),
                   *opened_channels(1), (C2B, commands.Confirm.Select(), 1),
                   *opened_channels(2), (C2B, commands.Confirm.Select(), 2),
                   *opened_channels(3)])),
    ("channels-interleaved", "false credit: channels opened, then closed in reverse",
     lambda: seen([*opened_channels(1, 2), *channels_closed(2, 1)])),
    ("channel-past-max", "channel_max=2 and no third channel",
     lambda: seen(tuned(tune_ok(channel_max=2), *OPENED), endpoint(channel_max=2))),
    ("closed-cleanly", "a refused login", lambda: recorded("wrong-password")),
    ("closed-cleanly", "false credit: the two-channels experiment's close",
     lambda: recorded("happy-path", concluded("two-channels"))),
    ("name-not-resolved", "every name resolved", happy),
    ("name-not-resolved", "false credit: the default host failed to resolve",
     lambda: seen([], endpoint(), failures=(PhaseFailed(Phase.RESOLVE,
         "the host name 'localhost' does not resolve (Temporary failure in name "
         "resolution)"),))),
    ("tls-refused", "no TLS", happy),
    ("tls-refused", "false credit: a TLS port whose certificate is not trusted",
     lambda: seen([], endpoint(scheme="amqps"), failures=(PhaseFailed(Phase.TLS,
         "the TLS handshake failed: certificate verify failed: self-signed "
         "certificate; the client could not verify the broker's certificate"),))),
    ("handshake-timed-out", "the handshake in time", happy),
    ("handshake-timed-out", "false credit: ran out at the learner's pace (a proxy)",
     lambda: seen(HELLO, endpoint(), tcp("learner"),
                  failures=(PhaseFailed(Phase.START, RAN_OUT),))),
    ("handshake-timed-out", "false credit: a held handshake, no race asked for",
     lambda: seen(HELLO, endpoint(), failures=(PhaseFailed(Phase.AUTH, RAN_OUT),))),
    ("handshake-timed-out", "false credit: a race lost in another experiment",
     lambda: seen(HELLO, endpoint(), tcp("race"), concluded("wrong-password-silent"),
                  failures=(PhaseFailed(Phase.AUTH, RAN_OUT),))),
    ("mechanism-refused", "the client answered", happy),
    ("mechanism-refused", "false credit: a race lost at the auth step",
     lambda: seen(HELLO, endpoint(), tcp("race"),
                  failures=(PhaseFailed(Phase.AUTH, RAN_OUT),))),
    ("mechanism-refused", "false credit: the handshake-timeout experiment",
     lambda: seen(HELLO, endpoint(), tcp("race"), concluded("handshake-timeout"),
                  failures=(PhaseFailed(Phase.AUTH, RAN_OUT),))),
    ("mechanism-refused", "false credit: ?auth=amqplain, which the broker offers",
     lambda: seen(HELLO, endpoint(auth="AMQPLAIN"), tcp("race"),
                  failures=(PhaseFailed(Phase.AUTH, RAN_OUT),))),
    ("socket-limit-hit", "no child process", happy),
    ("socket-limit-hit", "false credit: the limit in another phase's report",
     lambda: seen([], PhaseReport(Phase.OPERATIONS, {"error": "Too many open files"}))),
]
# fmt: on


def test_every_check_has_a_passing_run_and_a_failing_one() -> None:
    assert set(passing()) == set(CHECKS)
    assert {name for name, _, _ in NOT_DONE} == set(CHECKS)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_check_passes_when_the_task_is_done(name: str) -> None:
    verdict = judge(name, passing()[name])
    assert verdict.passed, verdict.detail
    assert verdict.detail


@pytest.mark.parametrize(
    ("name", "run"),
    [(name, run) for name, _, run in NOT_DONE],
    ids=[f"{name}: {what}" for name, what, _ in NOT_DONE],
)
def test_check_fails_when_the_learner_did_not_do_it(
    name: str, run: Callable[[], Seen]
) -> None:
    verdict = judge(name, run())
    assert not verdict.passed, verdict.detail
    assert verdict.detail


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_nothing_on_the_wire_passes_nothing(name: str) -> None:
    verdict = judge(name, Seen(()))
    assert not verdict.passed
    assert verdict.detail


@pytest.mark.parametrize("name", sorted(CHECKS))
@pytest.mark.parametrize("report", [concluded, named], ids=["at-the-end", "early"])
def test_another_experiments_run_passes_nothing(
    name: str, report: Callable[[str], PhaseReport]
) -> None:
    done = passing()[name]
    other = "prefetch-size"  # an experiment no try-it asks for
    assert other not in CHECKS[name].counts_in
    verdict = judge(
        name, Seen(done.frames, done.failures, (*done.reports, report(other)))
    )
    assert not verdict.passed
    assert "prefetch-size" in verdict.detail


@pytest.mark.parametrize(
    "name", sorted(name for name, check in CHECKS.items() if check.counts_in)
)
def test_the_experiment_a_task_asks_for_counts(name: str) -> None:
    done = passing()[name]
    for experiment in CHECKS[name].counts_in:
        reports = (*done.reports, concluded(experiment))
        verdict = judge(name, Seen(done.frames, done.failures, reports))
        assert verdict.passed, verdict.detail


def test_the_handshake_timeout_experiment_counts_at_any_pace() -> None:
    run = seen(
        HELLO,
        endpoint(),
        tcp("learner"),
        concluded("handshake-timeout"),
        failures=(PhaseFailed(Phase.AUTH, RAN_OUT),),
    )
    assert judge("handshake-timed-out", run).passed


def test_what_the_reports_say() -> None:
    run = Seen(
        (),
        (),
        (endpoint(heartbeat=5), tcp("race"), tcp("learner"), concluded("body-split")),
    )
    assert run.experiment == "body-split"
    assert run.pace == "race"
    assert run.asked("heartbeat") == 5
    assert run.asked("host") is None  # defaulted, not written in the URL
    assert Seen(()).experiment is None
    assert Seen(()).pace is None
