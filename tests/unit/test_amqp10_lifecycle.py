"""The AMQP 1.0 lifecycle table, on the committed capture of a Proton client's
lifecycle against RabbitMQ 4.0.5, and on that lifecycle put out of order."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Final

import pytest

from explorer.protocol.amqp10.decoder import Amqp10Decoder
from explorer.protocol.amqp10.frames import Body, Header
from explorer.protocol.amqp10.lifecycle import (
    PLAN,
    TRANSITIONS,
    Amqp10Lifecycle,
    plan_for,
)
from explorer.protocol.amqp10.values import Described, Symbol
from explorer.protocol.dialect import ends_handshake
from explorer.protocol.frames import B2C, C2B, Direction, Frame
from explorer.protocol.lifecycle import LifecycleError, Phase, Transition
from explorer.protocol.stream import Chunk, WireEvent
from explorer.recording.capture import load

FIXTURE: Final = (
    Path(__file__).resolve().parents[1] / "captures" / "amqp10" / "lifecycle.jsonl"
)
P = Phase
#: Each frame of the fixture, in wire order, and the phase it is filed under.
PLACED: Final = [
    ("c2b", "sasl-header", P.HEADER), ("b2c", "sasl-header", P.HEADER),
    ("b2c", "sasl-mechanisms", P.AUTH), ("c2b", "sasl-init", P.AUTH),
    ("b2c", "sasl-outcome", P.AUTH), ("c2b", "amqp-header", P.OPEN),
    ("c2b", "open", P.OPEN), ("b2c", "amqp-header", P.OPEN),
    ("b2c", "open", P.OPEN), ("c2b", "begin", P.CHANNEL),
    ("b2c", "begin", P.CHANNEL), ("b2c", "heartbeat", P.CHANNEL),
    ("b2c", "heartbeat", P.CHANNEL), ("c2b", "attach", P.OPERATIONS),
    ("b2c", "heartbeat", P.OPERATIONS), ("b2c", "attach", P.OPERATIONS),
    ("b2c", "flow", P.OPERATIONS), ("c2b", "transfer", P.OPERATIONS),
    ("b2c", "disposition", P.OPERATIONS), ("c2b", "attach", P.OPERATIONS),
    ("b2c", "attach", P.OPERATIONS), ("c2b", "flow", P.OPERATIONS),
    ("b2c", "transfer", P.OPERATIONS), ("c2b", "disposition", P.OPERATIONS),
    ("c2b", "detach", P.OPERATIONS), ("c2b", "detach", P.CLOSE),
    ("b2c", "detach", P.CLOSE), ("b2c", "detach", P.CLOSE),
    ("c2b", "end", P.CLOSE), ("b2c", "end", P.CLOSE),
    ("c2b", "close", P.CLOSE), ("b2c", "close", P.CLOSE),
]  # fmt: skip


def frames_of(events: Iterable[WireEvent]) -> list[Frame]:
    """Every frame of `events`, both ways, in the order they crossed."""
    decoders = {d: Amqp10Decoder(d) for d in Direction}
    out = []
    for event in events:
        if isinstance(event, Chunk):
            items = decoders[event.direction].feed(event.data, event.t)
            assert all(isinstance(i, Frame) for i in items), items
            out += [i for i in items if isinstance(i, Frame)]
    return out


def observe_all(frames: Iterable[Frame], phase: Phase = P.TCP) -> list[Transition]:
    model = Amqp10Lifecycle(phase)
    return [model.observe(f) for f in frames]


@pytest.fixture(scope="module")
def fixture_frames() -> list[Frame]:
    return frames_of(load(FIXTURE).events)


def test_the_fixture_goes_through_the_phases_in_order(
    fixture_frames: list[Frame],
) -> None:
    transitions = observe_all(fixture_frames)
    assert [t.violation for t in transitions if t.violation] == []
    placed = [(t.frame.direction.value, t.frame.name, t.phase) for t in transitions]
    assert placed == PLACED
    phases = [t.phase for t in transitions]
    assert phases == sorted(phases, key=PLAN.index)
    assert [p for p in PLAN if p in phases] == [
        P.HEADER, P.AUTH, P.OPEN, P.CHANNEL, P.OPERATIONS, P.CLOSE,
    ]  # fmt: skip


def test_every_performative_of_the_fixture_is_in_the_rules(
    fixture_frames: list[Frame],
) -> None:
    ruled = {name for _, _, name in TRANSITIONS}
    names = {f.name for f in fixture_frames}
    assert names - ruled <= {
        "attach", "flow", "transfer", "disposition", "detach", "end", "close",
        "heartbeat",
    }  # fmt: skip
    assert len(names) == 15


def test_the_handshake_ends_with_the_brokers_open(
    fixture_frames: list[Frame],
) -> None:
    (end,) = [f for f in fixture_frames if ends_handshake(f)]
    assert (end.direction, end.name) == (B2C, "open")


def test_the_plan_has_no_start_and_no_tune() -> None:
    assert P.START not in PLAN
    assert P.TUNE not in PLAN
    assert plan_for(tls=False) == tuple(p for p in PLAN if p is not P.TLS)
    assert plan_for(tls=True) == PLAN


def moved(frames: list[Frame], name: str, before: str) -> list[Frame]:
    """`frames` with the client's first `name` put just before its first
    `before`."""
    index = next(
        i for i, f in enumerate(frames) if (f.direction, f.name) == (C2B, name)
    )
    frame = frames[index]
    rest = frames[:index] + frames[index + 1 :]
    at = next(i for i, f in enumerate(rest) if (f.direction, f.name) == (C2B, before))
    return [*rest[:at], frame, *rest[at:]]


@pytest.mark.parametrize(
    ("name", "before", "violation"),
    [
        ("attach", "begin", "client sent attach during the open phase"),
        ("transfer", "attach", "client sent transfer on handle 0, which it has not"),
        ("begin", "amqp-header", "client sent begin during the auth phase"),
        ("open", "sasl-init", "client sent open during the auth phase"),
    ],
)
def test_a_frame_out_of_order_is_a_violation(
    fixture_frames: list[Frame], name: str, before: str, violation: str
) -> None:
    transitions = observe_all(moved(fixture_frames, name, before))
    first = next(t for t in transitions if t.violation)
    assert first.frame.name == name
    assert first.violation.startswith(violation)
    assert first.after is first.before


def test_a_transfer_on_a_handle_not_attached_is_a_violation(
    fixture_frames: list[Frame],
) -> None:
    """The sender's attach comes, the receiver's is gone: its flow names a
    handle the client never attached."""
    index = [
        i
        for i, f in enumerate(fixture_frames)
        if (f.direction, f.name) == (C2B, "attach")
    ][1]
    frames = fixture_frames[:index] + fixture_frames[index + 1 :]
    (bad, *_) = [t for t in observe_all(frames) if t.violation]
    assert (bad.frame.name, bad.violation) == (
        "flow",
        "client sent flow on handle 1, which it has not attached",
    )


def test_a_failed_sasl_outcome_ends_the_lifecycle(
    fixture_frames: list[Frame],
) -> None:
    outcome = next(f for f in fixture_frames if f.name == "sasl-outcome")
    body = outcome.payload
    assert isinstance(body, Body)
    assert body.performative is not None
    failed = Described(body.performative.descriptor, [1])
    frame = outcome._replace(payload=Body(body.frame_type, failed))
    model = Amqp10Lifecycle(P.AUTH)
    transition = model.observe(frame)
    assert (transition.phase, transition.after) == (P.AUTH, P.CLOSE)
    assert transition.note == "authentication failed: code 1 (auth)"
    assert transition.violation == ""


def test_the_brokers_end_with_an_error_interrupts_operations(
    fixture_frames: list[Frame],
) -> None:
    end = next(f for f in fixture_frames if (f.direction, f.name) == (B2C, "end"))
    body = end.payload
    assert isinstance(body, Body)
    assert body.performative is not None
    error = Described(0x1D, [Symbol("amqp:not-found"), "no queue"])
    frame = end._replace(payload=Body(body.frame_type, Described(0x17, [error])))
    upto = next(i for i, f in enumerate(fixture_frames) if f.name == "transfer")
    model = Amqp10Lifecycle(P.TCP)
    for earlier in fixture_frames[:upto]:
        model.observe(earlier)
    transition = model.observe(frame)
    assert transition.violation == ""
    assert (transition.phase, transition.after) == (P.OPERATIONS, P.OPERATIONS)
    assert transition.note.startswith("the broker ends a session")


def test_a_header_other_than_the_clients_is_a_refusal(
    fixture_frames: list[Frame],
) -> None:
    client, broker = fixture_frames[0], fixture_frames[1]
    amqp091 = broker._replace(raw=b"AMQP\x00\x00\x09\x01")
    refused = amqp091._replace(payload=Header(0, 0, 9, 1))
    model = Amqp10Lifecycle(P.TCP)
    model.observe(client)
    transition = model.observe(refused)
    assert transition.violation == (
        "the broker refuses our sasl-header: it answers with its own, amqp-header 0.9.1"
    )


def test_steps_move_as_0_9_1_steps_do() -> None:
    model = Amqp10Lifecycle()
    for phase in (P.RESOLVE, P.TCP, P.HEADER):
        model.enter(phase)
    assert model.phase is P.HEADER
    with pytest.raises(LifecycleError):
        model.enter(P.OPERATIONS)
