"""value_at: one value of a frame's fields, as frame_values reads it, read only
as far into the byte map as it lies."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from pamqp import commands, header
from pamqp import frame as pamqp_frame

import explorer
from explorer.protocol import ByteField, Direction, Frame, FrameDecoder
from explorer.protocol.fields import JSON
from explorer.protocol.values import frame_values, value_at
from explorer.protocol.walker import Walker
from explorer.recording.capture import load
from tests.conftest import (
    CAPTURE_FILES,
    MUTATED_STREAMS,
    entry,
    longstr,
    start_with,
)

B2C = Direction.BROKER_TO_CLIENT
RECORDINGS = sorted((Path(explorer.__file__).parent / "recordings").glob("*.jsonl"))
ALL_CAPTURES = [*CAPTURE_FILES, *RECORDINGS]
TABLES = {
    "repeated key": entry("k", b"S" + longstr(b"all")) + entry("k", b"S" + longstr(b"any")),  # noqa: E501
    "nested": entry("caps", b"F" + longstr(entry("deep", b"F" + longstr(entry("n", b"b\x07"))))),  # noqa: E501
    "void then more": entry("v", b"V") + entry("a", b"A" + longstr(b"b\x01V")),
    "decimal": entry("d", bytes.fromhex("44 01 ff ff ff f1")),
    "string past the table": entry("k", b"S" + struct.pack(">I", 9) + b"abc"),
}  # fmt: skip


def lookups(fields: dict[str, JSON]) -> list[tuple[tuple[str, ...], JSON | KeyError]]:
    """Every path into `fields` by keys (and some that miss), with its value."""
    found: list[tuple[tuple[str, ...], JSON | KeyError]] = [(("absent",), KeyError())]
    stack: list[tuple[tuple[str, ...], JSON]] = [((k,), v) for k, v in fields.items()]
    while stack:
        path, value = stack.pop()
        found += [(path, value), ((*path, "absent"), KeyError())]
        if isinstance(value, dict):
            stack += [((*path, key), v) for key, v in value.items()]
    return found


def assert_value_at_agrees(frame: Frame) -> None:
    for path, expected in lookups(frame_values(frame).fields):
        try:
            got: JSON | KeyError = value_at(frame, path)
        except KeyError:
            got = KeyError()
        if isinstance(expected, KeyError):
            assert isinstance(got, KeyError), path
        else:
            assert got == expected, path


@pytest.mark.parametrize("path", ALL_CAPTURES, ids=[p.stem for p in ALL_CAPTURES])
def test_value_at_agrees_with_frame_values_on_captures(path: Path) -> None:
    for direction in Direction:
        for item in load(path).decode(direction):
            assert isinstance(item, Frame)
            assert_value_at_agrees(item)


@pytest.mark.parametrize("table", TABLES.values(), ids=TABLES.keys())
def test_value_at_agrees_with_frame_values_on_tables(table: bytes) -> None:
    assert_value_at_agrees(start_with(longstr(table)))


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(MUTATED_STREAMS)
def test_value_at_agrees_on_mutated_captures(data: bytes) -> None:
    for item in FrameDecoder(B2C).feed(data):
        if isinstance(item, Frame):
            assert_value_at_agrees(item)


def test_value_at_reads_a_large_table_only_up_to_its_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    headers = {f"h{i:06d}": i % 100 for i in range(13_100)}
    sent = commands.Basic.Properties(headers=headers, delivery_mode=2)  # type: ignore[arg-type]
    (frame,) = FrameDecoder(B2C).feed(
        pamqp_frame.marshal(header.ContentHeader(0, 9, sent), 1)
    )
    assert isinstance(frame, Frame)
    read: list[int] = []
    entry_of = Walker._table_entry

    def counted(walker: Walker, pos: int, index: int) -> ByteField:
        read.append(index)
        return entry_of(walker, pos, index)

    monkeypatch.setattr(Walker, "_table_entry", counted)
    assert value_at(frame, ["properties", "delivery_mode"]) == 2
    assert value_at(frame, ["body_size"]) == 9
    assert read == []
    assert value_at(frame, ["properties", "headers", "h000005"]) == 5
    assert read == list(range(6))
