"""The topic lessons' experiments on the live broker, each judged from its own run."""

from __future__ import annotations

import pytest
from yarl import URL

from explorer.engine.events import EngineEvent, PhaseReport
from explorer.lab.registry import EXPERIMENTS, lab_engine
from explorer.lab.topics import MESSAGES, SASL_HEADER
from explorer.protocol.content import publishes
from explorer.protocol.fields import JSON
from explorer.protocol.frames import Direction, Frame

TOPICS = sorted(name for name, s in EXPERIMENTS.items() if s.kind == "topic")
AMQP_0_9_1 = bytes.fromhex("41 4d 51 50 00 00 09 01")


class Run:
    """One experiment run: its frames and every report, the conclusion last."""

    def __init__(self, frames: list[Frame], reports: list[PhaseReport]) -> None:
        self.frames, self.reports = frames, reports

    @property
    def facts(self) -> dict[str, JSON]:
        """The conclusion's facts."""
        return self.reports[-1].facts


async def run(url: str, name: str) -> Run:
    reports: list[PhaseReport] = []

    def keep(event: EngineEvent) -> None:
        if isinstance(event, PhaseReport):
            reports.append(event)

    engine = lab_engine(url, name, keep, live_handshake=False)
    try:
        await engine.run()
    finally:
        await engine.aclose()
    assert engine.outcome is True, reports[-1].notes
    return Run(engine.frames, reports)


def test_every_topic_experiment_is_tested_here() -> None:
    tested = {
        "two-channels", "push-vs-poll", "socket-limit", "body-split", "broker-log",
        "amqp-1.0", "lazy-client",  # lazy-client: test_lazy_client.py
        "side-by-side",  # test_amqp10_experiments.py
    }  # fmt: skip
    assert set(TOPICS) == tested


async def test_two_channels_take_turns_on_one_socket(broker_url: str) -> None:
    result = await run(broker_url, "two-channels")
    sent = [f for f in result.frames if f.direction is Direction.CLIENT_TO_BROKER]
    publishing = [f.channel for f in sent if f.name == "Basic.Publish"]
    assert sorted(publishing) == [1] * MESSAGES + [2] * MESSAGES
    assert publishing != sorted(publishing), "the two channels' publishes interleave"
    turns, per_channel = (
        result.facts["channel_turns"],
        result.facts["client_frames_per_channel"],
    )
    assert isinstance(turns, int)
    assert turns >= 2
    assert isinstance(per_channel, dict)
    assert set(per_channel) == {"1", "2"}


async def test_push_needs_two_round_trips_and_poll_one_per_message(
    broker_url: str,
) -> None:
    facts = (await run(broker_url, "push-vs-poll")).facts
    push, poll = facts["push"], facts["poll"]
    assert isinstance(push, dict)
    assert isinstance(poll, dict)
    assert push["round_trips"] == 2  # Basic.Consume and Basic.Cancel
    assert poll["round_trips"] == MESSAGES + 1  # a Basic.Get each, one more: empty
    assert poll["client_frames"] == MESSAGES + 1
    assert push["client_frames"] == 2, "the broker pushes; the client only asks twice"


async def test_the_child_process_hits_its_open_file_limit(broker_url: str) -> None:
    result = await run(broker_url, "socket-limit")
    child = next(r.facts for r in result.reports if "open_files_limit" in r.facts)
    assert "Too many open files" in str(child["error"])
    opened, limit = child["connections_opened"], child["open_files_limit"]
    assert isinstance(opened, int)
    assert isinstance(limit, int)
    assert 0 < opened < limit, "each connection cost one of the few files left"


@pytest.mark.parametrize("frame_max", [None, 8192])
async def test_a_large_body_is_split_into_frames_within_frame_max(
    broker_url: str, frame_max: int | None
) -> None:
    url = str(URL(broker_url).update_query(frame_max=frame_max or []))
    result = await run(url, "body-split")
    split = next(p for p in publishes(result.frames) if len(p.bodies) > 1)
    limit = frame_max or 131072
    assert split.complete
    assert len(split.bodies) == 3
    assert all(body.size <= limit for body in split.bodies)
    assert result.facts["body_frames"] == 3


async def test_the_broker_log_follows_one_named_connection(broker_url: str) -> None:
    lines = (await run(broker_url, "broker-log")).facts["broker_log"]
    assert isinstance(lines, list)
    text = "\n".join(map(str, lines))
    for fragment in (
        "accepting AMQP connection",
        "has a client-provided name: amqp-explorer-log-demo",
        "authenticated and granted access to vhost",
        "closing AMQP connection",
    ):
        assert fragment in text


async def test_an_amqp_1_0_header_gets_one_of_the_known_answers(
    broker_url: str,
) -> None:
    facts = (await run(broker_url, "amqp-1.0")).facts
    assert facts["amqp_1_0_header_sent"] == SASL_HEADER.hex(" ")
    assert facts["broker_answered"] in (AMQP_0_9_1.hex(" "), SASL_HEADER.hex(" "))
