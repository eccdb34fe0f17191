"""What trace prints for a frame: its fields as the spec reads them, and the notes."""

from __future__ import annotations

import io
import json

from explorer.cli.trace import JsonPrinter, TextPrinter, replay_trace
from explorer.engine.events import FrameObserved
from explorer.protocol.lifecycle import Phase
from tests.conftest import entry, load_capture, longstr, start_with

START = start_with(
    longstr(
        entry("d", bytes.fromhex("44 01 ff ff ff f1"))
        + entry("k", b"S" + longstr(b"all"))
        + entry("k", b"S" + longstr(b"any"))
    )
)


def not_json(constant: str) -> None:
    """NaN and Infinity: Python's json writes them, strict parsers refuse them."""
    raise ValueError(f"{constant} is not JSON")


async def test_replayed_json_is_strict_and_has_only_flagged_properties() -> None:
    out = io.StringIO()
    await replay_trace(load_capture("happy-path"), as_json=True, out=out)
    records = [
        json.loads(line, parse_constant=not_json)
        for line in out.getvalue().splitlines()
    ]
    headers = [r["fields"] for r in records if r.get("name") == "ContentHeader"]
    assert headers
    assert all(
        list(h["properties"]) == ["delivery_mode", "message_id"] for h in headers
    )
    frames = [r for r in records if r["event"] == "frame"]
    assert not [r for r in frames if "notes" in r]  # nothing here needs one


def test_json_frames_carry_their_notes() -> None:
    out = io.StringIO()
    JsonPrinter(out)(FrameObserved(START, Phase.START))
    record = json.loads(out.getvalue())
    assert record["fields"]["server_properties"] == {"d": "429496728.1", "k": "all"}
    assert [(n["field"], n["kind"]) for n in record["notes"]] == [
        (["server_properties", "d"], "signed decimal"),
        (["server_properties", "k"], "repeated key"),
    ]
    assert record["notes"][0]["note"].endswith("write: -1.5")


def test_text_frames_show_each_note_under_the_fields() -> None:
    lines = TextPrinter(io.StringIO()).lines(FrameObserved(START, Phase.START))
    assert lines[3] == '        server_properties: {"d": "429496728.1", "k": "all"}'
    assert lines[6:] == [
        "          ↳ server_properties.d: as a signed mantissa, which pika, py-amqp "
        "and pamqp (aiormq) write: -1.5",
        '          ↳ server_properties.k: sent 2 times: "all", then "any"; the spec '
        "says a peer uses only the first, as RabbitMQ does; pika and pamqp (aiormq) "
        "keep the last",
    ]
