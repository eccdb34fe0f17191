"""lab.sidebyside's counting, on the committed AMQP 1.0 capture: no broker."""

from __future__ import annotations

import itertools

from explorer.lab.sidebyside import IDLE, compared, round_trips, tally
from explorer.protocol.dialect import AMQP_1_0
from explorer.protocol.frames import B2C, C2B
from tests.unit.test_amqp10_support import committed


def test_the_tally_counts_the_captures_frames_and_bytes() -> None:
    capture = committed()
    frames = [f for d in (C2B, B2C) for f in capture.decode(d) if hasattr(f, "name")]
    counted = tally(capture.events, AMQP_1_0)
    steps = [f for f in frames if getattr(f, "name", "") not in IDLE]
    for d in (C2B, B2C):
        assert counted.frames[d] == sum(f.direction is d for f in steps)
        assert counted.octets[d] == len(capture.stream(d))
    assert counted.sequence[0] == "→ sasl-header"
    assert counted.sequence[-1] == "← close"
    assert counted.handshake_ms is not None


def test_a_round_trip_is_a_client_frame_the_broker_answers_next() -> None:
    capture = committed()
    counted = tally(capture.events, AMQP_1_0)
    arrows = [s[0] for s in counted.sequence]
    turns = sum(a == "→" and b == "←" for a, b in itertools.pairwise(arrows))
    assert counted.round_trips == turns
    assert round_trips([]) == 0


def test_a_refused_1_0_job_names_the_plugin() -> None:
    capture = committed()
    facts, notes = compared(capture.events, [], "no answer")
    assert facts["as_expected"] is False
    assert "rabbitmq_amqp1_0" in notes[-1]
