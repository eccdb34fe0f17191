"""The AMQP 1.0 reports, built from a real Proton lifecycle on RabbitMQ 4.0.5.

The frames are the committed capture's (tests/captures/amqp10/lifecycle.jsonl,
password masked there too), plus frames built with Proton's codec for the
failures the capture does not hold.
"""

from __future__ import annotations

from explorer.protocol.amqp10 import report
from explorer.protocol.amqp10.decoder import Amqp10Decoder
from explorer.protocol.frames import B2C, C2B, Direction, Frame
from explorer.protocol.lifecycle import Phase
from tests.unit.test_amqp10_support import (
    committed,
    described,
    frame,
    proton,
)

CAPTURE = committed()


def named(direction: Direction, name: str) -> Frame:
    found = [
        f for f in CAPTURE.decode(direction) if isinstance(f, Frame) and f.name == name
    ]
    assert found, name
    return found[0]


def built(direction: Direction, raw: bytes) -> Frame:
    (item,) = Amqp10Decoder(direction).feed(raw)
    assert isinstance(item, Frame)
    return item


def test_header_facts_say_the_broker_agreed_to_sasl() -> None:
    facts, notes = report.header_facts(
        named(C2B, "sasl-header"), named(B2C, "sasl-header")
    )
    assert facts["sent"] == "41 4d 51 50 03 01 00 00"
    assert facts["accepted"] is True
    assert "SASL next" in notes[-1]


def test_header_facts_name_a_0_9_1_answer() -> None:
    answer = built(B2C, b"AMQP\x00\x00\x09\x01")
    facts, notes = report.header_facts(named(C2B, "sasl-header"), answer)
    assert facts["accepted"] is False
    assert facts["offered"] == "0-9-1"
    assert "41 4d 51 50 00 00 09 01" in notes[-1]


def test_auth_facts_mask_the_password_and_say_the_verdict() -> None:
    init = named(C2B, "sasl-init")
    facts, _ = report.auth_facts(
        named(B2C, "sasl-mechanisms"), init, named(B2C, "sasl-outcome"), reveal=False
    )
    assert facts["mechanisms"] == ["PLAIN", "AMQPLAIN", "ANONYMOUS"]
    assert facts["mechanism"] == "PLAIN"
    assert facts["user"] == "explorer-a10-eeecbe94"
    assert facts["response"] == "\0explorer-a10-eeecbe94\0***"
    assert facts["outcome"] == 0
    assert facts["verdict"] == "accepted: sasl-outcome code 0 (ok)"


def test_auth_facts_reveal_on_request_and_a_refusal() -> None:
    init = built(
        C2B,
        frame(described(0x41, proton.symbol("PLAIN"), b"\0guest\0secret"), 1),
    )
    outcome = built(B2C, frame(described(0x44, proton.ubyte(1)), 1))
    facts, _ = report.auth_facts(None, init, outcome, reveal=True)
    assert facts["response"] == "\0guest\0secret"
    assert facts["outcome"] == 1
    assert facts["verdict"] == "refused: sasl-outcome code 1 (auth)"
    assert facts["mechanisms"] == []
    hidden, _ = report.auth_facts(None, init, outcome, reveal=False)
    assert "secret" not in str(hidden)
    failure = report.failure_of(outcome, Phase.AUTH)
    assert failure is not None
    assert (failure.condition, failure.fatal) == ("auth", True)
    assert "code 1 (auth)" in failure.message


def test_open_facts_are_the_open_frames_values() -> None:
    client, broker = named(C2B, "open"), named(B2C, "open")
    facts, notes = report.open_facts(client, broker)
    for name in ("max-frame-size", "channel-max", "idle-time-out"):
        row = facts[name]
        assert isinstance(row, dict)
        assert row["client"] == client.payload.fields[name]  # type: ignore[union-attr]
        assert row["broker"] == broker.payload.fields[name]  # type: ignore[union-attr]
        assert row["holds"]
        assert row["rule"]
    assert facts["max-frame-size"] == {
        "client": 32768,
        "broker": 131072,
        "holds": "client to broker frames must fit in 131072 bytes, broker to "
        "client in 32768",
        "rule": report.OPEN_RULES["max-frame-size"][1],
    }
    idle = facts["idle-time-out"]
    assert isinstance(idle, dict)
    assert idle["holds"] == (
        "the broker must send something within 1000 ms (the client's); the client "
        "must send something within 30000 ms (the broker's)"
    )
    channels = facts["channel-max"]
    assert isinstance(channels, dict)
    assert channels["holds"] == (
        "the client may begin sessions on channels 0-63, the broker on 0-32767 "
        "(each side numbers its own end of a session)"
    )
    assert facts["hostname"] == "vhost:/"
    assert (facts["product"], facts["version"]) == ("RabbitMQ", "4.0.5")
    assert facts["broker container-id"] == "rabbit4@vm"
    assert any("vhost:NAME" in n for n in notes)


def test_open_facts_name_the_spec_default_of_an_absent_field() -> None:
    bare = built(C2B, frame(described(0x10, "bare")))
    facts, _ = report.open_facts(bare, named(B2C, "open"))
    row = facts["max-frame-size"]
    assert isinstance(row, dict)
    assert row["client"] is None
    assert "broker to client in 4294967295" in str(row["holds"])
    assert "default 4294967295" in str(row["holds"])


def test_begin_facts() -> None:
    facts, notes = report.begin_facts(named(C2B, "begin"), named(B2C, "begin"))
    assert facts["client channel"] == 0
    broker = facts["broker"]
    assert isinstance(broker, dict)
    assert (
        broker["remote-channel"],
        broker["incoming-window"],
        broker["handle-max"],
    ) == (0, 400, 255)
    assert "handles up to 255" in notes[-1]


def test_clean_frames_are_no_failure() -> None:
    for name in ("sasl-outcome", "detach", "end", "close", "open"):
        assert report.failure_of(named(B2C, name), Phase.CLOSE) is None


def test_an_error_says_its_condition_and_what_lives_on() -> None:
    error = proton.Described(
        proton.ulong(0x1D), [proton.symbol("amqp:not-found"), "no queue 'x'"]
    )
    end = built(B2C, frame(described(0x17, error)))
    failure = report.failure_of(end, Phase.OPERATIONS)
    assert failure is not None
    assert failure.condition == "amqp:not-found"
    assert failure.description == "no queue 'x'"
    assert failure.fatal is False
    assert failure.message == (
        "in operations, the broker ended the session on channel 0: amqp:not-found "
        "(no queue 'x'); the connection lives on"
    )
    assert "/queues/NAME" in failure.advice
    close = built(B2C, frame(described(0x18, error)))
    closed = report.failure_of(close, Phase.OPERATIONS)
    assert closed is not None
    assert closed.fatal


def test_the_clock_s_idle_time_out_line() -> None:
    # RabbitMQ 4.0.5 announces 30000 ms; Proton half its idle_timeout of 2 s.
    opens = named(C2B, "open"), named(B2C, "open")
    assert report.idle_time_outs(*opens) == "idle-time-out: broker 30 s, client 1 s"
    # A side whose open has none (here a begin stands in: no such field).
    begin = named(C2B, "begin")
    assert report.idle_time_outs(begin, opens[1]) == (
        "idle-time-out: broker 30 s, client none"
    )
