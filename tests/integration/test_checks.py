"""Each try-it check on the live broker: the way that passes and a way that does not."""

from __future__ import annotations

import pytest
from yarl import URL

from explorer.checks import CHECKS, Seen, judge
from explorer.engine import Engine
from explorer.events import EngineEvent, PhaseFailed, PhaseReport
from explorer.lab import lab_engine


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


# check -> (how to pass, how not to); "{url}" is the broker's URL.
WAYS: dict[str, tuple[dict[str, object], dict[str, object]]] = {
    "heartbeat-changed": ({"heartbeat": 5}, {}),
    "frame-max-lowered": ({"frame_max": 8192}, {}),
    "channel-max-lowered": ({"channel_max": 5}, {}),
    "connection-named": ({"connection_name": "try-it"}, {}),
    "heartbeat-seen": ({"heartbeat": 2}, {}),
    "pushed-and-polled": ({}, {"password": "wrong"}),
    "wrong-password-refused": ({"password": "wrong"}, {}),
    "unknown-vhost-refused": ({"vhost": "no-such-vhost"}, {}),
    "body-split": ({"experiment": "body-split"}, {}),
    "channels-interleaved": ({"experiment": "two-channels"}, {}),
    "channel-past-max": ({"experiment": "channel-max"}, {"channel_max": 2}),
    "closed-cleanly": ({}, {"password": "wrong"}),
    "name-not-resolved": ({"host": "no-such-host.invalid"}, {}),
    "tls-refused": ({"scheme": "amqps"}, {}),
    "handshake-timed-out": ({"experiment": "handshake-timeout"}, {}),
    "mechanism-refused": ({"auth": "external"}, {}),
    "socket-limit-hit": ({"experiment": "socket-limit"}, {}),
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
async def test_check_passes_only_when_the_task_is_done(
    broker_url: str, name: str
) -> None:
    passing, failing = WAYS[name]
    done = judge(name, await seen_on(url_for(broker_url, passing)))
    assert done.passed, done.detail
    not_done = judge(name, await seen_on(url_for(broker_url, failing)))
    assert not not_done.passed, not_done.detail
    assert not_done.detail
