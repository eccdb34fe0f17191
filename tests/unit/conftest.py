"""Runs of a learner's connection, built in memory, for the try-it check tests.

Frames are pamqp objects marshalled and decoded again (tests/conftest `wire`);
reports and failures are built as the engine and the lab emit them. `passing`
holds, for each check, a run of the learner's own that does its task.
"""

from __future__ import annotations

import functools
from typing import Final

from pamqp import commands
from pamqp.body import ContentBody
from pamqp.common import FieldTable
from pamqp.frame import FrameTypes
from pamqp.header import ContentHeader, ProtocolHeader
from pamqp.heartbeat import Heartbeat

from explorer.course.checks import Seen
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


def delivered(method: FrameTypes) -> list[Sent]:
    """The broker's `method` on channel 1 with a message of 5 bytes."""
    return [
        (B2C, method, 1),
        (B2C, ContentHeader(body_size=5), 1),
        (B2C, ContentBody(b"hello"), 1),
    ]


#: A message pushed to a consumer.
PUSHED: Final = [
    (C2B, commands.Basic.Consume(queue="q"), 1),
    (B2C, commands.Basic.ConsumeOk("ctag"), 1),
    *delivered(commands.Basic.Deliver("ctag", 1, False, "", "q")),
]
#: A message polled, then the queue found empty.
POLLED: Final = [
    (C2B, commands.Basic.Get(queue="q"), 1),
    *delivered(commands.Basic.GetOk(2, False, "", "q", 0)),
    (C2B, commands.Basic.Get(queue="q"), 1),
    (B2C, commands.Basic.GetEmpty(), 1),
]
REFUSED: Final = closed(
    403,
    "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. "
    "For details see the broker logfile.",
)
CLIENT_CLOSE: Final = (C2B, commands.Connection.Close(200, "Normal shutdown", 0, 0))


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


def lifecycle(*more: Sent) -> list[Sent]:
    """The handshake to OpenOk, channel 1 opened, then `more`."""
    return [*tuned(ECHOED, *OPENED), *opened_channels(1), *more]


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
        "wrong-password-refused": seen(
            [*HELLO, start_ok(), REFUSED], endpoint(password="***")
        ),
        "unknown-vhost-refused": seen(
            tuned(
                ECHOED,
                (C2B, commands.Connection.Open("no-such-vhost")),
                closed(530, "NOT_FOUND - vhost no-such-vhost not found"),
            ),
            endpoint(vhost="no-such-vhost"),
        ),
        "connection-named": seen(
            [*HELLO, start_ok(connection_name="lesson-1")],
            endpoint(connection_name="lesson-1"),
        ),
        "heartbeat-seen": seen(lifecycle((B2C, Heartbeat())), endpoint()),
        "pushed-and-polled": seen(lifecycle(*PUSHED, *POLLED), endpoint()),
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
        "closed-cleanly": seen(
            lifecycle(CLIENT_CLOSE, (B2C, commands.Connection.CloseOk())), endpoint()
        ),
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
