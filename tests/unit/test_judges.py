"""Each try-it check's judge without a broker: the way that passes, and every
way that must not, false credit included.

Each check passes on frames built in memory (tests/unit/conftest `passing`);
RECORDED adds committed captures of real runs, and some runs that must not
pass are captures too. A false-credit case is a run where the wire shows what
a task asks for, but the learner did not do it on purpose: an experiment did
it, a default did it, or the broker refused it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import pytest
from pamqp import commands
from pamqp.heartbeat import Heartbeat

from explorer.course.checks import CHECKS, Seen, judge
from explorer.engine.events import PhaseFailed, PhaseReport
from explorer.protocol.frames import B2C, C2B, Frame
from explorer.protocol.lifecycle import Phase
from tests.unit import conftest
from tests.unit.conftest import (
    CLIENT_CLOSE,
    ECHOED,
    HELLO,
    LOST,
    OPENED,
    PAST_MAX,
    POLLED,
    PUSHED,
    RAN_OUT,
    REFUSED,
    TUNE,
    channels_closed,
    closed,
    concluded,
    endpoint,
    happy,
    lifecycle,
    named,
    opened_channels,
    passing,
    publish,
    recorded,
    seen,
    start_ok,
    tcp,
    tune_ok,
    tuned,
)

#: Committed captures of real runs that do a task: (check, the run).
RECORDED: Final[list[tuple[str, Callable[[], Seen]]]] = [
    ("wrong-password-refused",
     lambda: recorded("wrong-password", endpoint(password="***"))),
    ("unknown-vhost-refused",
     lambda: recorded("unknown-vhost", endpoint(vhost="no-such-vhost"))),
    ("heartbeat-seen", lambda: happy((B2C, Heartbeat()))),
    ("pushed-and-polled", happy),
    ("closed-cleanly", happy),
]  # fmt: skip


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
    ("wrong-password-refused", "the password accepted",
     lambda: seen([*HELLO, start_ok(), (B2C, TUNE)], endpoint(password="***"))),
    ("wrong-password-refused", "403 for a vhost, not for the password",
     lambda: seen(tuned(ECHOED, (C2B, commands.Connection.Open("/")), REFUSED),
                  endpoint(password="***"))),
    ("unknown-vhost-refused", "the happy path", happy),
    ("unknown-vhost-refused", "the vhost opened",
     lambda: seen(tuned(ECHOED, *OPENED), endpoint(vhost="/"))),
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
    ("heartbeat-seen", "only the client's heartbeat",
     lambda: seen(lifecycle((C2B, Heartbeat())), endpoint())),
    ("heartbeat-seen", "false credit: heartbeat-timeout's broker heartbeats",
     lambda: seen([*tuned(tune_ok(heartbeat=2), *OPENED), (B2C, Heartbeat())],
                  endpoint(), concluded("heartbeat-timeout"))),
    ("pushed-and-polled", "a refused login", lambda: recorded("wrong-password")),
    ("pushed-and-polled", "pushed, never polled",
     lambda: seen(lifecycle(*PUSHED), endpoint())),
    ("pushed-and-polled", "polled, never pushed",
     lambda: seen(lifecycle(*POLLED), endpoint())),
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
    ("closed-cleanly", "the client's Close never answered",
     lambda: seen(lifecycle(CLIENT_CLOSE), endpoint())),
    ("closed-cleanly", "closed by the broker",
     lambda: seen(lifecycle(closed(320, "CONNECTION_FORCED - shutdown"),
                            (C2B, commands.Connection.CloseOk())), endpoint())),
    ("closed-cleanly", "closed with an error code",
     lambda: seen(lifecycle((C2B, commands.Connection.Close(541, "oops", 0, 0)),
                            (B2C, commands.Connection.CloseOk())), endpoint())),
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


def test_every_passing_run_is_built_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_capture(name: str) -> list[Frame]:
        raise AssertionError(f"a passing run loads the {name} capture")

    monkeypatch.setattr(conftest, "capture_frames", no_capture)
    assert set(passing.__wrapped__()) == set(CHECKS)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_check_passes_when_the_task_is_done(name: str) -> None:
    verdict = judge(name, passing()[name])
    assert verdict.passed, verdict.detail
    assert verdict.detail


@pytest.mark.parametrize(("name", "run"), RECORDED, ids=[n for n, _ in RECORDED])
def test_check_passes_on_a_recorded_run(name: str, run: Callable[[], Seen]) -> None:
    verdict = judge(name, run())
    assert verdict.passed, verdict.detail


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
