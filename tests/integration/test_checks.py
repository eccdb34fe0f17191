"""Each try-it check on the live broker: the way that passes, and the ways that
must not (false credit included), judged on what the whole run showed."""

from __future__ import annotations

import pytest
from yarl import URL

from explorer.course.checks import CHECKS, Seen, judge
from explorer.engine.core import Engine
from explorer.engine.events import EngineEvent, PhaseFailed, PhaseReport
from explorer.lab.registry import lab_engine
from tests.conftest import seen_of


async def seen_on(url: str) -> Seen:
    """What a connection to `url` showed (an experiment's, with ?experiment=)."""
    failures: list[PhaseFailed] = []
    reports: list[PhaseReport] = []

    def keep(event: EngineEvent) -> None:
        if isinstance(event, PhaseFailed):
            failures.append(event)
        elif isinstance(event, PhaseReport):
            reports.append(event)

    way = URL(url)
    experiment = way.query.get("experiment")
    if experiment:  # an experiment the lesson offers for this task
        url = str(way.without_query_params("experiment"))
        engine = lab_engine(url, experiment, keep, live_handshake=False)
    else:
        engine = Engine(url, keep, live_handshake=False, wait=5)
    try:
        await engine.run()
    finally:
        await engine.aclose()
    return Seen(engine.frames, failures, reports)


# check -> (how to pass, ways that must not pass). A way is URL changes, or
# an experiment (?experiment=NAME); the second list holds the false credit
# issue 10 removed: experiments and refusals that once passed a learner's task.
WAYS: dict[str, tuple[dict[str, object], list[dict[str, object]]]] = {
    "heartbeat-changed": (
        {"heartbeat": 5},
        [{}, {"experiment": "heartbeat-timeout"}],
    ),
    "frame-max-lowered": (
        {"frame_max": 8192},
        [
            {},
            {"frame_max": 1024},
            {"experiment": "tune-below-minimum"},
            {"experiment": "frame-too-large"},
        ],
    ),
    "channel-max-lowered": ({"channel_max": 5}, [{}, {"experiment": "channel-max"}]),
    "connection-named": (
        {"connection_name": "try-it"},
        [{}, {"experiment": "broker-log"}],
    ),
    "heartbeat-seen": ({"heartbeat": 2}, [{}, {"experiment": "heartbeat-timeout"}]),
    "pushed-and-polled": (
        {},
        [{"password": "wrong"}, {"experiment": "push-vs-poll"}],
    ),
    "wrong-password-refused": (
        {"password": "wrong"},
        [{}, {"experiment": "wrong-password"}],
    ),
    "unknown-vhost-refused": (
        {"vhost": "no-such-vhost"},
        [{}, {"experiment": "unknown-vhost"}, {"experiment": "channel-max"}],
    ),
    "body-split": ({"experiment": "body-split"}, [{}]),
    "channels-interleaved": (
        {"experiment": "two-channels"},
        [{}, {"experiment": "channel-max"}],
    ),
    "channel-past-max": ({"experiment": "channel-max"}, [{"channel_max": 2}]),
    "closed-cleanly": ({}, [{"password": "wrong"}, {"experiment": "two-channels"}]),
    "name-not-resolved": ({"host": "no-such-host.invalid"}, [{}]),
    "tls-refused": ({"scheme": "amqps"}, [{}]),
    "handshake-timed-out": ({"experiment": "handshake-timeout"}, [{}]),
    "mechanism-refused": (
        {"auth": "external"},
        [{}, {"experiment": "handshake-timeout"}],
    ),
    "socket-limit-hit": ({"experiment": "socket-limit"}, [{}]),
}


def url_for(broker_url: str, way: dict[str, object]) -> str:
    url = URL(broker_url)
    options = dict(way)
    if "host" in options:
        url = url.with_host(str(options.pop("host")))
    if "scheme" in options:
        url = url.with_scheme(str(options.pop("scheme")))
    if "password" in options:
        url = url.with_password(str(options.pop("password")))
    if "vhost" in options:
        url = url.with_path("/" + str(options.pop("vhost")))
    return str(url.update_query({k: str(v) for k, v in options.items()}))


def test_every_check_has_both_ways() -> None:
    assert set(WAYS) == set(CHECKS)


@pytest.mark.parametrize("name", sorted(WAYS))
async def test_check_passes_when_the_task_is_done(broker_url: str, name: str) -> None:
    done = judge(name, await seen_on(url_for(broker_url, WAYS[name][0])))
    assert done.passed, done.detail


@pytest.mark.parametrize(
    ("name", "way"),
    [(name, way) for name, (_, ways) in sorted(WAYS.items()) for way in ways],
    ids=[
        f"{name}-{'-'.join(map(str, way.values())) or 'plain'}"
        for name, (_, ways) in sorted(WAYS.items())
        for way in ways
    ],
)
async def test_check_fails_when_the_learner_did_not_do_it(
    broker_url: str, name: str, way: dict[str, object]
) -> None:
    not_done = judge(name, await seen_on(url_for(broker_url, way)))
    assert not not_done.passed, not_done.detail
    assert not_done.detail


@pytest.mark.parametrize(
    "experiment",
    ["wrong-password", "unknown-vhost", "channel-max", "push-vs-poll", "broker-log"],
)
async def test_an_experiment_earns_no_credit_at_any_step(
    broker_url: str, experiment: str
) -> None:
    """Judged after every step, as the app judges: only the tasks an experiment
    is meant to do ever pass, from its first step on."""
    events: list[EngineEvent] = []
    engine = lab_engine(broker_url, experiment, events.append)
    credited: set[str] = set()
    try:
        while not engine.finished:
            await engine.step()
            credited |= {n for n in CHECKS if judge(n, seen_of(events)).passed}
    finally:
        await engine.aclose()
    assert credited <= {n for n, c in CHECKS.items() if experiment in c.counts_in}
