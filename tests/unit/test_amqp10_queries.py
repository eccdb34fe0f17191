"""The readings of one 1.0 performative, on the committed Proton lifecycle
(tests/captures/amqp10/lifecycle.jsonl, RabbitMQ 4.0.5) and on frames built
to carry what that capture does not (an error, a single mechanism)."""

from __future__ import annotations

from explorer.protocol.amqp10 import queries
from explorer.protocol.dialect import AMQP_0_9_1, AMQP_1_0, dialect_of, dialect_of_frame
from explorer.protocol.frames import B2C, C2B, Direction, Frame
from explorer.protocol.queries import all_named, first_named
from tests.unit.test_amqp10_support import committed, described, frame, only, proton

QUEUE = "/queues/explorer-a10-2cff4424"


def lifecycle() -> list[Frame]:
    capture = committed()
    frames = [f for d in Direction for f in capture.decode(d) if isinstance(f, Frame)]
    return sorted(frames, key=lambda f: (f.t, f.offset))


def test_fields_of_a_performative_and_of_anything_else() -> None:
    frames = lifecycle()
    assert queries.fields_of(first_named(frames, B2C, "open"))["channel-max"] == 63
    assert queries.fields_of(first_named(frames, B2C, "sasl-header")) == {}
    assert queries.fields_of(None) == {}


def test_the_address_each_attach_names() -> None:
    frames = lifecycle()
    attaches = [f for f in frames if f.name == "attach"]
    # client sender (target), broker receiver (target only), client receiver
    # (source), broker sender (source)
    assert [f.direction for f in attaches] == [C2B, B2C, C2B, B2C]
    assert [queries.address_of(f) for f in attaches] == [QUEUE] * 4
    assert queries.address_of(first_named(frames, C2B, "open")) is None


def test_the_mechanisms_offered() -> None:
    offer = first_named(lifecycle(), B2C, "sasl-mechanisms")
    assert queries.mechanisms_of(offer) == ["PLAIN", "AMQPLAIN", "ANONYMOUS"]
    single = only(frame(described(0x40, proton.symbol("PLAIN")), 1), B2C)
    assert single.name == "sasl-mechanisms"
    assert queries.mechanisms_of(single) == ["PLAIN"]
    assert queries.mechanisms_of(None) == []


def test_the_delivery_state_of_each_disposition() -> None:
    frames = lifecycle()
    states = [queries.state_of(f) for f in all_named(frames, B2C, "disposition")]
    assert [(s.name, s.descriptor) for s in states if s is not None] == [
        ("accepted", 0x24)
    ]
    assert queries.last_state(frames, C2B) == "accepted"
    assert queries.last_state(frames, B2C) == "accepted"
    assert queries.last_state(frames[:5], B2C) is None


def test_an_error_s_condition_and_description() -> None:
    assert all(
        queries.error_of(f) is None
        for f in lifecycle()
        if f.name in ("detach", "end", "close")
    )
    error = proton.Described(
        proton.ulong(0x1D), [proton.symbol("amqp:not-found"), "no queue 'q'"]
    )
    end = only(frame(described(0x17, error)), B2C)
    assert end.name == "end"
    assert queries.error_of(end) == ("amqp:not-found", "no queue 'q'")
    internal = proton.Described(
        proton.ulong(0x1D), [proton.symbol("amqp:internal-error")]
    )
    bare = only(frame(described(0x18, internal)), B2C)
    assert queries.error_of(bare) == ("amqp:internal-error", "")


def test_the_dialect_of_any_frame() -> None:
    frames = lifecycle()
    assert {dialect_of_frame(f) for f in frames} == {AMQP_1_0}
    assert dialect_of_frame(frames[0]) is dialect_of(frames[0].raw)
    # Mid-stream, where dialect_of sees no header: an open is 1.0's.
    opened = first_named(frames, C2B, "open")
    assert opened is not None
    assert dialect_of(opened.raw) is AMQP_0_9_1
    assert dialect_of_frame(opened) is AMQP_1_0
    header = only_0_9_1()
    assert dialect_of_frame(header) is AMQP_0_9_1


def only_0_9_1() -> Frame:
    """0-9-1's protocol header, as its decoder reads it."""
    (header,) = AMQP_0_9_1.decoder(C2B).feed(b"AMQP\x00\x00\x09\x01")
    assert isinstance(header, Frame)
    return header
