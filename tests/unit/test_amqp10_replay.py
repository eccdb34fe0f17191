"""Replaying an AMQP 1.0 capture: phases inferred by the 1.0 rules, its reports,
its failures, trace's JSON of its performatives, and the password masked.

The capture is tests/captures/amqp10/lifecycle.jsonl (Proton 0.40.0 against
RabbitMQ 4.0.5, chunks only); failures are made from it by changing the bytes
the broker sent, so each test says exactly what crossed the wire.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from explorer.cli.trace import replay_trace
from explorer.engine.events import (
    EngineEvent,
    FrameObserved,
    LifecycleEnded,
    PhaseFailed,
    PhaseReport,
    PhaseStarted,
)
from explorer.engine.inference import Inference
from explorer.net.tap import Tap
from explorer.protocol.amqp10.decoder import Amqp10Decoder
from explorer.protocol.amqp10.frames import Body
from explorer.protocol.amqp10.tojson import value_json
from explorer.protocol.amqp10.values import Array, Described, Symbol
from explorer.protocol.dialect import AMQP_1_0
from explorer.protocol.fields import values_of
from explorer.protocol.frames import B2C, C2B, Direction, Frame
from explorer.protocol.lifecycle import Phase
from explorer.protocol.stream import Chunk, WireEvent
from explorer.recording.capture import Capture, load
from explorer.recording.capture import loads as load_text
from explorer.recording.journal import Journal
from explorer.recording.pcap import write_pcap
from explorer.recording.replay import ReplayEngine
from tests.conftest import run_cli

FIXTURE = Path(__file__).parent.parent / "captures" / "amqp10" / "lifecycle.jsonl"
#: A password as long as the fixture's masked one (27 bytes), to put it back.
PASSWORD = b"correct-horse-battery-st4pl"

#: Every frame of the fixture, in order, and the phase the 1.0 table files it
#: under: the broker's empty frames while the session is begun stay there.
EXPECTED = [
    (C2B, "sasl-header", Phase.HEADER),
    (B2C, "sasl-header", Phase.HEADER),
    (B2C, "sasl-mechanisms", Phase.AUTH),
    (C2B, "sasl-init", Phase.AUTH),
    (B2C, "sasl-outcome", Phase.AUTH),
    (C2B, "amqp-header", Phase.OPEN),
    (C2B, "open", Phase.OPEN),
    (B2C, "amqp-header", Phase.OPEN),
    (B2C, "open", Phase.OPEN),
    (C2B, "begin", Phase.CHANNEL),
    (B2C, "begin", Phase.CHANNEL),
    (B2C, "heartbeat", Phase.CHANNEL),
    (B2C, "heartbeat", Phase.CHANNEL),
    (C2B, "attach", Phase.OPERATIONS),
    (B2C, "heartbeat", Phase.OPERATIONS),
    (B2C, "attach", Phase.OPERATIONS),
    (B2C, "flow", Phase.OPERATIONS),
    (C2B, "transfer", Phase.OPERATIONS),
    (B2C, "disposition", Phase.OPERATIONS),
    (C2B, "attach", Phase.OPERATIONS),
    (B2C, "attach", Phase.OPERATIONS),
    (C2B, "flow", Phase.OPERATIONS),
    (B2C, "transfer", Phase.OPERATIONS),
    (C2B, "disposition", Phase.OPERATIONS),
    (C2B, "detach", Phase.OPERATIONS),
    (C2B, "detach", Phase.CLOSE),
    (B2C, "detach", Phase.CLOSE),
    (B2C, "detach", Phase.CLOSE),
    (C2B, "end", Phase.CLOSE),
    (B2C, "end", Phase.CLOSE),
    (C2B, "close", Phase.CLOSE),
    (B2C, "close", Phase.CLOSE),
]


def fixture() -> Capture:
    return load(FIXTURE)


def unmasked() -> Capture:
    """The fixture with a password where the recorder masked it, as a capture
    made by another tool would hold it."""
    capture = fixture()
    events: list[WireEvent] = []
    for event in capture.events:
        if isinstance(event, Chunk) and b"*" * len(PASSWORD) in event.data:
            data = event.data.replace(b"*" * len(PASSWORD), PASSWORD)
            event = Chunk(event.t, event.direction, data)
        events.append(event)
    return dataclasses.replace(capture, events=events, redactions=[])


def replaced(capture: Capture, direction: Direction, old: str, new: str) -> Capture:
    """`capture` with the first chunk of `direction` holding `old` (hex) changed,
    and nothing after that chunk: the broker closed the socket there."""
    events: list[WireEvent] = []
    for event in capture.events:
        mine = isinstance(event, Chunk) and event.direction is direction
        if mine and isinstance(event, Chunk) and old in event.data.hex():
            data = bytes.fromhex(event.data.hex().replace(old, new, 1))
            events.append(Chunk(event.t, direction, data))
            break
        events.append(event)
    return dataclasses.replace(capture, events=events)


async def replayed(capture: Capture) -> list[EngineEvent]:
    events: list[EngineEvent] = []
    await ReplayEngine(capture, events.append).run()
    return events


def frames_of(events: list[EngineEvent]) -> list[tuple[Direction, str, Phase]]:
    return [
        (e.frame.direction, e.frame.name, e.phase)
        for e in events
        if isinstance(e, FrameObserved)
    ]


def reports(events: list[EngineEvent]) -> dict[Phase, PhaseReport]:
    return {e.phase: e for e in events if isinstance(e, PhaseReport)}


async def test_the_bare_capture_replays_in_the_1_0_plan_without_violations() -> None:
    events = await replayed(fixture())
    assert frames_of(events) == EXPECTED
    assert [e.violation for e in events if isinstance(e, FrameObserved)] == [""] * 32
    started = [e.phase for e in events if isinstance(e, PhaseStarted)]
    assert started == [
        Phase.HEADER,
        Phase.AUTH,
        Phase.OPEN,
        Phase.CHANNEL,
        Phase.OPERATIONS,
        Phase.CLOSE,
    ]
    engine = ReplayEngine(fixture(), lambda _: None)
    assert engine.plan == started
    assert engine.dialect is AMQP_1_0
    assert not [e for e in events if isinstance(e, PhaseFailed)]
    assert events[-1] == LifecycleEnded(clean=True)


async def test_the_reports_of_header_auth_open_and_channel() -> None:
    found = reports(await replayed(fixture()))
    assert set(found) == {Phase.HEADER, Phase.AUTH, Phase.OPEN, Phase.CHANNEL}
    header = found[Phase.HEADER].facts
    assert header["sent"] == header["answer_bytes"] == "41 4d 51 50 03 01 00 00"
    assert header["accepted"] is True
    auth = found[Phase.AUTH].facts
    assert auth["mechanisms"] == ["PLAIN", "AMQPLAIN", "ANONYMOUS"]
    assert auth["mechanism"] == "PLAIN"
    assert auth["outcome"] == 0
    assert auth["response"] == "\0explorer-a10-eeecbe94\0***"
    opened = found[Phase.OPEN].facts
    # The values of the two opens of the fixture (Proton's, then RabbitMQ's).
    for name, client, broker in (
        ("max-frame-size", 32768, 131072),
        ("channel-max", 32767, 63),
        ("idle-time-out", 1000, 30000),
    ):
        field = opened[name]
        assert isinstance(field, dict)
        assert (field["client"], field["broker"]) == (client, broker)
    assert found[Phase.CHANNEL].facts["broker channel"] == 0


async def test_the_rules_chosen_by_the_first_frame_or_given_are_the_same() -> None:
    frames = sorted(
        (f for d in Direction for f in fixture().decode(d) if isinstance(f, Frame)),
        key=lambda f: (f.t, f.offset),
    )
    told = []
    for inference in (Inference(), Inference(dialect=AMQP_1_0)):
        told.append([e for f in frames for e in inference.frame(f)])
        assert inference.dialect is AMQP_1_0
        assert inference.closed
        assert inference.clean
    assert told[0] == told[1]


async def test_a_password_is_masked_in_every_frame_a_replay_tells() -> None:
    capture = unmasked()
    assert PASSWORD in capture.stream(C2B)
    events = await replayed(capture)
    told = [e.frame for e in events if isinstance(e, FrameObserved)]
    (init,) = [frame for frame in told if frame.name == "sasl-init"]
    assert PASSWORD not in init.raw
    assert init.raw.endswith(b"*" * len(PASSWORD))
    assert all(
        PASSWORD not in e.frame.raw for e in events if isinstance(e, FrameObserved)
    )
    assert PASSWORD.decode() not in repr(reports(events)[Phase.AUTH])


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "text"])
async def test_replay_print_names_performatives_and_hides_the_password(
    as_json: bool,
) -> None:
    out = io.StringIO()
    assert await replay_trace(unmasked(), as_json=as_json, out=out) == 0
    text = out.getvalue()
    for form in (
        PASSWORD.decode(),
        PASSWORD.hex(),
        base64.b64encode(PASSWORD).decode(),
    ):
        assert form not in text
    if not as_json:
        return
    records = [json.loads(line) for line in text.splitlines()]
    frames = [r for r in records if r["event"] == "frame"]
    assert [(r["dir"], r["name"]) for r in frames] == [
        (d.value, name) for d, name, _ in EXPECTED
    ]
    by_name: dict[tuple[str, str], dict[str, Any]] = {}
    for r in frames:  # the first of each name and sender
        by_name.setdefault((r["dir"], r["name"]), r["fields"])
    assert by_name["c2b", "sasl-init"]["mechanism"] == "PLAIN"
    assert by_name["b2c", "sasl-mechanisms"] == {
        "sasl-server-mechanisms": ["PLAIN", "AMQPLAIN", "ANONYMOUS"]
    }
    assert by_name["b2c", "open"]["properties"]["version"] == "4.0.5"
    assert by_name["b2c", "open"]["offered-capabilities"] == [
        "LINK_PAIR_V1_0",
        "ANONYMOUS-RELAY",
    ]
    target = by_name["c2b", "attach"]["target"]
    assert target["descriptor"] == "target"
    assert target["fields"]["address"].startswith("/queues/")
    assert by_name["b2c", "disposition"]["state"] == {
        "descriptor": "accepted",
        "fields": {},
    }
    sections = by_name["c2b", "transfer"]["message"]
    assert sections[-1] == {"descriptor": "amqp-value", "value": "hello from proton"}
    assert by_name["c2b", "sasl-header"] == {
        "protocol_id": 3,
        "major": 1,
        "minor": 0,
        "revision": 0,
    }


async def test_a_failed_sasl_outcome_fails_auth() -> None:
    # sasl-outcome's code 0 (smallubyte 0x50 0x00) becomes 1, auth.
    capture = replaced(fixture(), B2C, "5344c00402500040", "5344c00402500140")
    events = await replayed(capture)
    (failure,) = [e for e in events if isinstance(e, PhaseFailed)]
    assert failure.phase is Phase.AUTH
    assert failure.fatal
    assert failure.reply_code == 1
    assert "sasl-outcome code 1 (auth)" in failure.message
    verdict = reports(events)[Phase.AUTH].facts["verdict"]
    assert verdict == "refused: sasl-outcome code 1 (auth)"
    assert events[-1] == LifecycleEnded(clean=False)


async def test_a_broker_that_answers_with_0_9_1_s_header_fails_header() -> None:
    # RabbitMQ 3.10.8 without its plugin answers AMQP 0 0 9 1, and closes.
    capture = replaced(fixture(), B2C, "414d515003010000", "414d515000000901")
    events = await replayed(capture)
    (failure,) = [e for e in events if isinstance(e, PhaseFailed)]
    assert failure.phase is Phase.HEADER
    assert "rabbitmq_amqp1_0 plugin" in failure.advice
    assert "41 4d 51 50 00 00 09 01" in failure.message
    assert events[-1] == LifecycleEnded(clean=False)


async def test_a_session_ended_with_an_error_is_a_failure_the_connection_outlives(
) -> None:  # fmt: skip
    # The broker's end (0x17) with error amqp:not-found, as RabbitMQ 4.0.5 ends a
    # session that attached to a missing /queues/NAME.
    error = bytes.fromhex("0053") + b"\x1d\xc0" + bytes([2 + 15, 1]) + b"\xa3\x0e"
    error += b"amqp:not-found"
    body = bytes.fromhex("005317c0") + bytes([len(error) + 1, 1]) + error
    end = (8 + len(body)).to_bytes(4, "big") + bytes.fromhex("02000000") + body
    capture = fixture()
    index = next(
        i for i, e in enumerate(capture.events)
        if isinstance(e, Chunk) and e.direction is B2C and "005312c0" in e.data.hex()
    )  # fmt: skip
    t = capture.events[index].t
    events = [*capture.events[:index], Chunk(t, B2C, end)]
    frames = [
        f for f in dataclasses.replace(capture, events=events).decode(B2C)
        if isinstance(f, Frame)
    ]  # fmt: skip
    assert isinstance(frames[-1].payload, Body)
    assert frames[-1].name == "end"
    told = await replayed(dataclasses.replace(capture, events=events))
    (failure,) = [e for e in told if isinstance(e, PhaseFailed)]
    assert failure.phase is Phase.OPERATIONS
    assert not failure.fatal
    assert failure.reply_text == "amqp:not-found"
    assert "the connection lives on" in failure.message


def test_export_pcap_of_a_1_0_capture_replays_the_same_frames(tmp_path: Path) -> None:
    pcap = tmp_path / "amqp10.pcap"
    write_pcap(fixture(), pcap)
    done = run_cli("replay", str(pcap), "--print", "--json")
    assert done.returncode == 0, done.stderr
    names = [
        (r["dir"], r["name"])
        for r in map(json.loads, done.stdout.splitlines())
        if r.get("event") == "frame"
    ]
    assert names == [(d.value, name) for d, name, _ in EXPECTED]


def transfer_of(message: bytes) -> Frame:
    """A transfer on handle 0 carrying `message`'s sections, decoded."""
    fields = bytes.fromhex("4343") + b"\xa0\x01x" + bytes.fromhex("43")
    body = bytes.fromhex("005314c0") + bytes([len(fields) + 1, 4]) + fields + message
    raw = (8 + len(body)).to_bytes(4, "big") + bytes.fromhex("02000000") + body
    (frame,) = Amqp10Decoder(C2B).feed(raw)
    assert isinstance(frame, Frame)
    return frame


def test_a_message_s_timestamps_get_their_date() -> None:
    # Proton 0.40.0's encoding of Message(body="hi", id=7,
    # creation_time=1700000000.5): header, properties (message-id smallulong
    # 7, creation-time timestamp 0x0000018bcfe569f4 ms), amqp-value "hi".
    message = bytes.fromhex(
        "00537045005373c0140a53074040404040404040830000018bcfe569f4005377a1026869"
    )
    values = values_of(transfer_of(message))
    sections = values.fields["message"]
    assert isinstance(sections, list)
    properties = sections[1]
    assert isinstance(properties, dict)
    assert properties["descriptor"] == "properties"
    fields = properties["fields"]
    assert isinstance(fields, dict)
    assert fields["creation-time"] == 1700000000500
    assert fields["message-id"] == 7
    (note,) = values.notes
    assert note.path == ("message", 1, "fields", "creation-time")
    assert note.text.startswith("2023-11-14T22:13:20.500Z")


def test_values_the_decoder_reads_as_json() -> None:
    assert value_json(Symbol("PLAIN")) == "PLAIN"
    assert type(value_json(Symbol("PLAIN"))) is str
    assert value_json(b"\xff\x00") == "0xff00"
    assert value_json(b"tag-1") == "tag-1"
    some = uuid.UUID(int=1)
    assert value_json(some) == str(some)
    assert value_json(Array("symbol", (Symbol("a"), Symbol("b")))) == ["a", "b"]
    assert value_json({Symbol("x"): 1, 2: "two", None: [b"\x01"]}) == {
        "x": 1,
        "2": "two",
        "null": ["\x01"],
    }
    error = Described(0x1D, [Symbol("amqp:not-found"), "no queue"])
    assert value_json(error) == {
        "descriptor": "error",
        "fields": {
            "condition": "amqp:not-found",
            "description": "no queue",
            "info": None,
        },
    }
    assert value_json(Described(0x77, "hi")) == {
        "descriptor": "amqp-value",
        "value": "hi",
    }
    assert value_json(Described(Symbol("com.example:x"), 5)) == {
        "descriptor": "com.example:x",
        "value": 5,
    }


@pytest.mark.parametrize("split", [1, 7, 30, None], ids=lambda n: f"split-{n}")
def test_the_journal_masks_a_1_0_password_before_writing_it(split: int | None) -> None:
    # The recorder's journal writes a capture as it happens; a 1.0 client's
    # chunks must be framed as 1.0 to find sasl-init's password in them.
    capture = unmasked()
    out = io.StringIO()
    journal = Journal(out, fixture(), Tap(), AMQP_1_0)
    for event in capture.events:
        if isinstance(event, Chunk) and split is not None:
            for at in range(0, len(event.data), split):
                journal.wire(
                    Chunk(event.t, event.direction, event.data[at : at + split])
                )
        else:
            journal.wire(event)
    text = out.getvalue()
    for form in (PASSWORD.hex(), PASSWORD.decode()):
        assert form not in text
    assert load_text(text).stream(C2B) == fixture().stream(C2B)
