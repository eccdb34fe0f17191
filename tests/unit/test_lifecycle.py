"""The lifecycle table: phase order over real captures, and every rule checked."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from explorer.engine.core import Engine
from explorer.engine.events import EngineEvent, FrameObserved
from explorer.protocol import Direction, Frame
from explorer.protocol.frames import B2C, C2B
from explorer.protocol.lifecycle import (
    ANYTIME,
    ORDER,
    PERMISSIONS,
    STEPPED,
    TRANSITIONS,
    LifecycleError,
    LifecycleModel,
    Phase,
)
from explorer.recording.replay import ReplayEngine
from tests.conftest import FRAME_NAMES, METHODS, load_capture
from tests.conftest import named_frame as fake


def frames_in_wire_order(name: str) -> list[Frame]:
    capture = load_capture(name)
    frames = [f for d in Direction for f in capture.decode(d) if isinstance(f, Frame)]
    return sorted(frames, key=lambda f: f.t)


def walk(name: str) -> list[tuple[str, str, str]]:
    model = LifecycleModel(Phase.HEADER)
    out = []
    for frame in frames_in_wire_order(name):
        transition = model.observe(frame)
        assert not transition.violation, transition.violation
        out.append((frame.direction.sender, frame.name, transition.after.value))
    return out


def test_happy_path_moves_through_the_phases_in_order() -> None:
    walked = walk("happy-path")
    assert walked[:12] == [
        ("client", "ProtocolHeader", "header"),
        ("broker", "Connection.Start", "start"),
        ("client", "Connection.StartOk", "auth"),
        ("broker", "Connection.Tune", "tune"),
        ("client", "Connection.TuneOk", "tune"),
        ("client", "Connection.Open", "open"),
        ("broker", "Connection.OpenOk", "open"),
        ("client", "Channel.Open", "channel"),
        ("broker", "Channel.OpenOk", "channel"),
        ("client", "Confirm.Select", "channel"),
        ("broker", "Confirm.SelectOk", "channel"),
        ("client", "Queue.Declare", "operations"),
    ]
    phases = [phase for _, _, phase in walked]
    order = [p.value for p in ORDER]
    assert [order.index(p) for p in phases] == sorted(order.index(p) for p in phases)
    assert walked[-1] == ("broker", "Connection.CloseOk", "close")


def test_refusals_close_at_the_phase_they_interrupt() -> None:
    model = LifecycleModel(Phase.HEADER)
    last = None
    for frame in frames_in_wire_order("wrong-password"):
        last = model.observe(frame)
    assert last is not None
    assert (last.frame.name, last.before, last.after) == (
        "Connection.Close", Phase.AUTH, Phase.CLOSE,
    )  # fmt: skip
    model = LifecycleModel(Phase.HEADER)
    for frame in frames_in_wire_order("unknown-vhost"):
        last = model.observe(frame)
    assert last is not None
    assert (last.frame.name, last.before) == ("Connection.Close", Phase.OPEN)


@given(
    st.sampled_from(list(Phase)),
    st.sampled_from(list(Direction)),
    st.sampled_from(sorted(FRAME_NAMES)),
)
def test_every_frame_in_every_phase_lands_somewhere(
    phase: Phase, direction: Direction, name: str
) -> None:
    model = LifecycleModel(phase)
    transition = model.observe(fake(direction, name))
    assert transition.before is phase
    if transition.violation:
        assert model.phase is phase, "a refused frame changes nothing"
        assert name in transition.violation or "refuses" in transition.violation
    else:
        assert model.phase is transition.after


def test_every_phase_is_reachable_and_every_phase_but_close_has_a_way_on() -> None:
    moves = {(before, after) for (before, _, _), after in TRANSITIONS.items()}
    moves |= {(before, after) for after, froms in STEPPED.items() for before in froms}
    reachable = {Phase.ENDPOINT}
    changed = True
    while changed:
        changed = False
        for before, after in moves:
            if before in reachable and after not in reachable:
                reachable.add(after)
                changed = True
    assert reachable == set(Phase)
    exits = {before for before, after in moves if after is not before}
    assert set(Phase) - exits == {Phase.CLOSE}


def test_a_step_enters_only_the_moves_the_table_declares() -> None:
    for phase in Phase:
        for before in Phase:
            model = LifecycleModel(before)
            ahead = ORDER.index(phase) > ORDER.index(before)
            if phase in STEPPED and not ahead:
                model.enter(phase)  # never back: the frames got further
                assert model.phase is before
            elif before in STEPPED.get(phase, ()):
                model.enter(phase)
                assert model.phase is phase
            else:
                with pytest.raises(LifecycleError, match=phase.value):
                    model.enter(phase)
                assert model.phase is before, "a refused move changes nothing"


def test_each_client_method_in_the_table_has_its_reply_in_pamqp_valid_responses() -> (
    None
):
    for (_, direction, name), phase in TRANSITIONS.items():
        method = METHODS.get(name)
        if direction is not C2B or method is None or not method.synchronous:
            continue
        replies = [n for (p, d, n) in TRANSITIONS if d is B2C and p is phase]
        replies += [n for (d, n) in ANYTIME if d is B2C]
        assert set(method.valid_responses) & set(replies), name


def test_permission_table_names_real_methods() -> None:
    assert set(PERMISSIONS) <= set(METHODS)
    for rights in PERMISSIONS.values():
        assert {right for right, _ in rights} <= {
            "configure",
            "write",
            "read",
            "access",
        }


@pytest.mark.parametrize(
    "name",
    [
        "Basic.Return",
        "Basic.Cancel",
        "Connection.Blocked",
        "Connection.Unblocked",
        "Channel.Close",
    ],
)
def test_broker_interruptions_during_operations_are_allowed_and_explained(
    name: str,
) -> None:
    model = LifecycleModel(Phase.OPERATIONS)
    transition = model.observe(fake(B2C, name))
    assert not transition.violation, transition.violation
    assert transition.note.strip()
    assert transition.note == ANYTIME[(B2C, name)][1]
    assert transition.before is transition.after is Phase.OPERATIONS
    assert model.phase is Phase.OPERATIONS


def test_the_brokers_connection_close_during_operations_moves_to_close() -> None:
    model = LifecycleModel(Phase.OPERATIONS)
    transition = model.observe(fake(B2C, "Connection.Close"))
    assert not transition.violation, transition.violation
    assert transition.note.strip()
    assert (transition.before, transition.after) == (Phase.OPERATIONS, Phase.CLOSE)
    assert model.phase is Phase.CLOSE


def test_the_client_may_answer_the_brokers_channel_close_and_operate_on() -> None:
    model = LifecycleModel(Phase.OPERATIONS)
    model.observe(fake(B2C, "Channel.Close"))
    transition = model.observe(fake(C2B, "Channel.CloseOk"))
    assert not transition.violation, transition.violation
    assert model.phase is Phase.OPERATIONS
    assert not model.observe(fake(C2B, "Queue.Declare")).violation
    assert model.phase is Phase.OPERATIONS


@pytest.mark.parametrize("direction", list(Direction), ids=[d.value for d in Direction])
def test_a_heartbeat_before_tuning_is_a_violation(direction: Direction) -> None:
    model = LifecycleModel(Phase.HEADER)
    transition = model.observe(fake(direction, "Heartbeat"))
    assert transition.violation
    assert "Heartbeat" in transition.violation
    assert "header" in transition.violation
    assert transition.after is Phase.HEADER
    assert model.phase is Phase.HEADER


def test_a_heartbeat_after_tuning_is_allowed() -> None:
    for phase in (Phase.TUNE, Phase.OPEN, Phase.OPERATIONS, Phase.CLOSE):
        model = LifecycleModel(phase)
        transition = model.observe(fake(B2C, "Heartbeat"))
        assert not transition.violation, (phase, transition.violation)
        assert transition.note
        assert model.phase is phase


def test_over_tls_the_clients_header_ends_the_tls_phase() -> None:
    model = LifecycleModel(Phase.TLS)
    transition = model.observe(fake(C2B, "ProtocolHeader"))
    assert not transition.violation, transition.violation
    assert (transition.before, transition.after) == (Phase.TLS, Phase.HEADER)
    assert model.observe(fake(B2C, "Connection.Start")).after is Phase.START


def filed(events: list[EngineEvent]) -> list[tuple[str, Phase]]:
    return [(e.frame.name, e.phase) for e in events if isinstance(e, FrameObserved)]


@pytest.mark.parametrize(
    ("name", "interrupted"),
    [("wrong-password", Phase.AUTH), ("unknown-vhost", Phase.OPEN)],
)
async def test_the_live_rule_and_a_bare_replay_file_the_brokers_close_alike(
    name: str, interrupted: Phase
) -> None:
    capture = load_capture(name)
    live: list[EngineEvent] = []
    engine = Engine(capture.url, live.append, live_handshake=True)
    engine.model.enter(Phase.RESOLVE)  # the steps below AMQP, no socket opened
    engine.model.enter(Phase.TCP)
    for event in capture.events:
        engine.tap.record(event)  # as the live tap tells the engine
    bare: list[EngineEvent] = []
    await ReplayEngine(replace(capture, log=[]), bare.append).run()
    assert ("Connection.Close", interrupted) in filed(live)
    assert filed(bare) == filed(live)
