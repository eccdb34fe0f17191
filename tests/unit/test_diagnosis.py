"""What a stall says of the broker's bytes that stopped mid-frame, per dialect.

`cut_short` names the frame (or header) that unframed bytes begin, and how
much of it came: AMQP 0-9-1's 7-byte header (type, channel, size) and method,
or AMQP 1.0's 8-byte header (size, doff, type, channel) and performative,
cut from the recorded frames of tests/captures.
"""

from __future__ import annotations

import pytest

from explorer.engine.diagnosis import cut_short
from explorer.protocol.dialect import AMQP_0_9_1, AMQP_1_0
from explorer.protocol.frames import B2C, Frame
from tests.conftest import capture_frames


def broker_frame(capture: str, name: str) -> Frame:
    return next(
        f for f in capture_frames(capture) if (f.direction, f.name) == (B2C, name)
    )


@pytest.mark.parametrize(
    ("name", "cut", "first", "said"),
    [
        ("sasl-header", 3, True, "the first 3 of the 8 bytes of a protocol header"),
        ("amqp-header", 5, False, "the first 5 of the 8 bytes of a protocol header"),
        (
            "sasl-mechanisms",
            6,
            False,
            "not yet a whole frame header (8 bytes: size, doff, type, channel)",
        ),
        (
            "sasl-mechanisms",
            8,
            False,
            "the first 8 of the 52 bytes of a SASL frame",
        ),
        (
            "sasl-mechanisms",
            20,
            False,
            "the first 20 of the 52 bytes of a SASL frame (sasl-mechanisms)",
        ),
        ("open", 11, False, "the first 11 of the {size} bytes of an AMQP frame on "
         "channel 0 (open)"),
        ("begin", 12, False, "the first 12 of the {size} bytes of an AMQP frame on "
         "channel 0 (begin)"),
    ],
)  # fmt: skip
def test_a_1_0_frame_cut_short_is_named_by_its_header_and_performative(
    name: str, cut: int, first: bool, said: str
) -> None:
    raw = broker_frame("amqp10/lifecycle", name).raw
    assert cut_short(raw[:cut], AMQP_1_0, first) == said.format(size=len(raw))


def test_a_1_0_empty_frame_cut_short_is_a_heartbeat() -> None:
    assert cut_short(bytes.fromhex("00 00 00 08 02 00"), AMQP_1_0, False) == (
        "not yet a whole frame header (8 bytes: size, doff, type, channel)"
    )
    assert cut_short(bytes.fromhex("00 00 00 0c 03 00 00 00"), AMQP_1_0, False) == (
        "the first 8 of the 12 bytes of an AMQP frame on channel 0 (an empty "
        "frame: heartbeat)"
    )


def test_bytes_no_1_0_frame_starts_with_say_so() -> None:
    assert cut_short(bytes.fromhex("00 00 00 10 02 07 00 00 00"), AMQP_1_0, False) == (
        "which no AMQP 1.0 frame starts with (there is no frame type 0x07)"
    )


def test_a_0_9_1_frame_cut_short_is_named_by_its_method() -> None:
    raw = broker_frame("happy-path", "Connection.Start").raw
    assert cut_short(raw[:100], AMQP_0_9_1, False) == (
        f"the first 100 of the {len(raw)} bytes of a method frame on channel 0 "
        "(Connection.Start)"
    )
    assert cut_short(b"AMQ", AMQP_0_9_1, True) == (
        "the first 3 of the 8 bytes of a protocol header"
    )
    assert cut_short(raw[:5], AMQP_0_9_1, False) == (
        "not yet a whole frame header (7 bytes)"
    )
