"""The AMQP 1.0 experiments, live: side by side, amqp-1.0 and the 1.0 failures.

Side by side runs on both brokers: on RabbitMQ 4.0.5 both jobs complete and
every count equals what the frames of each job show; on 3.10.8 (no 1.0
plugin) the 1.0 job is reported refused with the plugin's explanation. The
three 1.0 failures run on 4.0.5 with a throwaway user, through lab_engine
(the Engine with the 1.0 dialect): the phase that fails, the code or
condition, whether the connection lives on, and the user removed after.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from explorer.engine.events import EngineEvent, PhaseFailed, PhaseReport
from explorer.lab import sidebyside
from explorer.lab.registry import lab_engine
from explorer.net.endpoint import parse
from explorer.protocol.dialect import AMQP_0_9_1, AMQP_1_0
from explorer.protocol.fields import JSON
from explorer.protocol.frames import B2C, C2B, Frame
from explorer.protocol.lifecycle import Phase
from tests.conftest import BROKERS, User, answering
from tests.integration.test_amqp10_bytes import (
    BROKER4,
    HOST,
    PORT,
    ctl4,
    throwaway_user,
)

pytestmark = pytest.mark.broker
URL3 = "amqp://guest:guest@127.0.0.1:5672/"


@dataclass
class Run:
    frames: list[Frame]
    reports: list[PhaseReport] = field(default_factory=list)
    failed: list[PhaseFailed] = field(default_factory=list)
    outcome: bool | None = None

    @property
    def facts(self) -> dict[str, JSON]:
        return self.reports[-1].facts


async def run(url: str, name: str) -> Run:
    seen = Run([])

    def keep(event: EngineEvent) -> None:
        if isinstance(event, PhaseReport):
            seen.reports.append(event)
        elif isinstance(event, PhaseFailed):
            seen.failed.append(event)

    engine = lab_engine(url, name, keep)
    try:
        await engine.run()
    finally:
        await engine.aclose()
    seen.frames, seen.outcome = engine.frames, engine.outcome
    return seen


@pytest.fixture
def user4(request: pytest.FixtureRequest) -> Iterator[User]:
    answering(BROKER4, request)
    yield from throwaway_user()


def url4(user: User) -> str:
    return f"amqp://{user.name}:{user.password}@{HOST}:{PORT}/"


def names(frames: list[Frame]) -> list[str]:
    return [f.name for f in frames if f.name not in sidebyside.IDLE]


# Side by side ---


async def test_side_by_side_counts_what_crossed_the_wire(user4: User) -> None:
    where = parse(url4(user4))
    queue = "amqp-explorer-test-sbs"
    await sidebyside._queue(where, queue, delete=False)
    try:
        old = await sidebyside.job_0_9_1(where, queue)
        new, refused = await sidebyside.job_1_0(where, queue)
    finally:
        await sidebyside._queue(where, queue, delete=True)
    assert refused == ""
    for tap, dialect, last in (
        (old, AMQP_0_9_1, "Connection.CloseOk"),
        (new, AMQP_1_0, "close"),
    ):
        frames = sidebyside.frames_of(tap.events, dialect)
        counted = sidebyside.tally(tap.events, dialect)
        steps = [f for f in frames if f.name not in sidebyside.IDLE]
        assert counted.frames[C2B] == sum(f.direction is C2B for f in steps)
        assert counted.frames[B2C] == sum(f.direction is B2C for f in steps)
        assert counted.round_trips == sidebyside.round_trips(frames) > 0
        assert [s.split(" ", 1)[1] for s in counted.sequence] == names(frames)
        assert names(frames)[-1] == last  # the job completed: the close answered
        assert counted.handshake_ms is not None
        assert 0 < counted.handshake_ms <= counted.job_ms
    assert "transfer" in names(sidebyside.frames_of(new.events, AMQP_1_0))


async def test_side_by_side_through_the_engine_on_4(user4: User) -> None:
    result = await run(url4(user4), "side-by-side")
    assert result.outcome is True
    facts = result.facts
    for key in ("0-9-1", "1.0"):
        column = facts[key]
        assert isinstance(column, dict)
        listed = column["frames"]
        assert isinstance(listed, list)
        sent = [s for s in listed if str(s).startswith("→")]
        assert column["client_frames"] == len(sent)
        assert column["broker_frames"] == len(listed) - len(sent)
    notes = "\n".join(result.reports[-1].notes)
    assert "round trips" in notes
    assert "'vhost:/'" in notes
    assert "'/queues/amqp-explorer-side-by-side-" in notes


async def test_side_by_side_on_3_reports_the_1_0_job_refused(
    request: pytest.FixtureRequest,
) -> None:
    answering(BROKERS[0], request)
    result = await run(URL3, "side-by-side")
    refused = result.facts["1.0"]
    assert isinstance(refused, dict)
    assert refused["broker_answered"] == "41 4d 51 50 00 00 09 01"
    assert "rabbitmq_amqp1_0 plugin" in "\n".join(result.reports[-1].notes)
    assert result.outcome is True


# amqp-1.0 ---


async def test_amqp_1_0_on_4_decodes_the_answer_as_1_0(user4: User) -> None:
    result = await run(url4(user4), "amqp-1.0")
    assert result.outcome is True
    assert result.facts["broker_answered"] == "41 4d 51 50 03 01 00 00"
    assert result.facts["sasl_mechanisms"] == ["PLAIN", "AMQPLAIN", "ANONYMOUS"]
    assert [f.name for f in result.frames if f.direction is B2C][:2] == [
        "sasl-header", "sasl-mechanisms",
    ]  # fmt: skip
    assert "--protocol 1.0" in "\n".join(result.reports[-1].notes)


async def test_amqp_1_0_on_3_explains_the_plugin(
    request: pytest.FixtureRequest,
) -> None:
    answering(BROKERS[0], request)
    result = await run(URL3, "amqp-1.0")
    assert result.facts["broker_answered"] == "41 4d 51 50 00 00 09 01"
    assert "rabbitmq_amqp1_0 plugin" in "\n".join(result.reports[-1].notes)


# The three failures ---


def gone(user: User) -> bool:
    return user.name not in ctl4("list_users")


async def test_wrong_password_gets_sasl_outcome_code_1(user4: User) -> None:
    result = await run(url4(user4), "amqp10-wrong-password")
    assert result.outcome is True
    reply = result.facts["reply"]
    assert isinstance(reply, dict)
    assert (reply["frame"], reply["reply_code"]) == ("sasl-outcome", 1)
    assert isinstance(reply["after_s"], float)
    assert 2.5 <= reply["after_s"] <= 4.5  # RabbitMQ 4.0.5's delay
    assert [f.phase for f in result.failed][:1] == [Phase.AUTH]
    assert not any(f.name == "open" for f in result.frames)
    assert user4.password.encode() not in b"".join(
        f.raw for f in result.frames if f.name != "sasl-init"
    )


async def test_unknown_vhost_gets_a_reset_and_no_open(user4: User) -> None:
    result = await run(url4(user4), "amqp10-unknown-vhost")
    assert result.outcome is True
    broker = [f.name for f in result.frames if f.direction is B2C]
    assert broker[-1] == "amqp-header"
    assert "open" not in broker
    assert "close" not in broker
    assert [f.phase for f in result.failed][:1] == [Phase.OPEN]
    dropped = result.facts["dropped_after_s"]
    assert isinstance(dropped, float)
    assert 2.5 <= dropped <= 4.5


async def test_missing_queue_ends_the_session_and_the_connection_lives_on(
    user4: User,
) -> None:
    result = await run(url4(user4), "amqp10-missing-queue")
    assert result.outcome is True
    reply = result.facts["reply"]
    assert isinstance(reply, dict)
    assert (reply["frame"], reply["reply_code"]) == ("end", "amqp:not-found")
    assert result.facts["connection_lived_on"] is True
    broker = names([f for f in result.frames if f.direction is B2C])
    assert broker.count("attach") == 0
    assert broker[-1] == "close"


def test_the_throwaway_users_are_removed(request: pytest.FixtureRequest) -> None:
    answering(BROKER4, request)
    made = iter(throwaway_user())
    user = next(made)
    assert not gone(user)
    with pytest.raises(StopIteration):
        next(made)
    assert gone(user)
