"""The one builder of synthetic streams: a plan of frames, marshalled with pamqp.

Owns turning a plan (each item a direction, a channel and what goes there) into
the frames on the wire: a delivery is Basic.Deliver, its ContentHeader and one
ContentBody; an ack acknowledges the channel's latest delivery; any other item
is a pamqp frame, marshalled as it is. bench.decode plans a busy consumer
connection's mix, shuffled; bench.flood plans a consume flood in order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Final, Protocol

from pamqp import body, commands, header
from pamqp import frame as pamqp_frame

from explorer.protocol.frames import Direction

#: Plan items that stand for more than one fixed frame.
DELIVER: Final = "deliver"
ACK: Final = "ack"
#: The server-named queue every synthetic delivery comes from.
QUEUE: Final = "amq.gen-JzTY20BRgKO-HjmUJj0wLg"

#: One item of a plan: who sends it, on which channel, and what.
Item = tuple[Direction, int, str | pamqp_frame.FrameTypes]


class Deliveries(Protocol):
    """What a stream's deliveries carry, the n-th delivery asked for in order."""

    def consumer_tag(self, channel: int) -> str:
        """The consumer the deliveries on `channel` are for."""

    def body(self, index: int) -> bytes:
        """The body of delivery `index`."""

    def properties(self, index: int) -> commands.Basic.Properties:
        """The content properties of delivery `index`."""


def marshalled(
    plan: Iterable[Item], deliveries: Deliveries
) -> Iterator[tuple[Direction, list[bytes]]]:
    """Each item of `plan` in order: its sender and its frames as marshalled."""
    tags: defaultdict[int, int] = defaultdict(int)
    delivered = 0
    for direction, channel, item in plan:
        frames: list[pamqp_frame.FrameTypes]
        if not isinstance(item, str):
            frames = [item]
        elif item == DELIVER:
            tags[channel] += 1
            payload = deliveries.body(delivered)
            frames = [
                commands.Basic.Deliver(
                    consumer_tag=deliveries.consumer_tag(channel),
                    delivery_tag=tags[channel],
                    exchange="",
                    routing_key=QUEUE,
                ),
                header.ContentHeader(0, len(payload), deliveries.properties(delivered)),
                body.ContentBody(payload),
            ]
            delivered += 1
        elif item == ACK:
            frames = [commands.Basic.Ack(delivery_tag=max(tags[channel], 1))]
        else:
            raise ValueError(f"no such plan item: {item!r}")
        yield direction, [pamqp_frame.marshal(frame, channel) for frame in frames]
