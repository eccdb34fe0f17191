"""Grouping a publish's frames: method, content header, body frames."""

from __future__ import annotations

from pamqp import commands
from pamqp.body import ContentBody
from pamqp.frame import FrameTypes
from pamqp.header import ContentHeader

from explorer.protocol.content import publishes
from explorer.protocol.frames import Direction, Frame
from tests.conftest import wire

C2B = Direction.CLIENT_TO_BROKER


def decoded(*parts: tuple[int, FrameTypes]) -> list[Frame]:
    """Client frames, marshalled with pamqp and decoded again."""
    return wire(*((C2B, obj, channel) for channel, obj in parts))


def publish(channel: int, body: bytes, pieces: int) -> list[tuple[int, FrameTypes]]:
    step = -(-len(body) // pieces)
    chunks = [body[i : i + step] for i in range(0, len(body), step)]
    return [
        (channel, commands.Basic.Publish(routing_key="q")),
        (channel, ContentHeader(body_size=len(body))),
        *[(channel, ContentBody(chunk)) for chunk in chunks],
    ]


def test_the_happy_path_publishes_each_fit_one_body_frame(
    happy_frames: list[Frame],
) -> None:
    found = publishes(happy_frames)
    assert len(found) == 2
    assert all(p.complete and len(p.bodies) == 1 for p in found)
    assert [p.body_size for p in found] == [p.sent for p in found]


def test_a_body_split_across_frames_and_interleaved_channels() -> None:
    one, two = publish(1, b"a" * 30, 3), publish(2, b"b" * 10, 1)
    interleaved = [one[0], two[0], one[1], two[1], one[2], two[2], one[3], one[4]]
    found = publishes(decoded(*interleaved))
    assert [(p.method.channel, len(p.bodies), p.complete) for p in found] == [
        (1, 3, True),
        (2, 1, True),
    ]


def test_a_body_still_on_its_way_is_not_complete() -> None:
    first_half = publish(1, b"x" * 20, 2)[:3]
    (only,) = publishes(decoded(*first_half))
    assert (only.body_size, only.sent, only.complete) == (20, 10, False)


def test_the_broker_side_is_kept_apart() -> None:
    assert publishes(decoded(*publish(1, b"x", 1)), Direction.BROKER_TO_CLIENT) == []
