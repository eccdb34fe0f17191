"""Publishes as they crossed the wire: the method, its content header, its body frames.

Owns grouping a sender's frames into publishes, per channel: a Basic.Publish,
the ContentHeader after it (which says how long the body is) and the body
frames that carry that many bytes. Sans-I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from pamqp.body import ContentBody
from pamqp.header import ContentHeader

from explorer.protocol.frames import Direction, Frame


@dataclass(slots=True)
class Publish:
    """One Basic.Publish and the content frames seen after it so far."""

    method: Frame
    header: Frame | None = None
    bodies: list[Frame] = field(default_factory=list)

    @property
    def body_size(self) -> int | None:
        """The body's length, as the content header gives it."""
        header = self.header.payload if self.header is not None else None
        return header.body_size if isinstance(header, ContentHeader) else None

    @property
    def sent(self) -> int:
        """Body bytes carried so far."""
        return sum(body.size - 8 for body in self.bodies)  # header 7, end byte 1

    @property
    def complete(self) -> bool:
        """Whether the whole body has crossed the wire."""
        size = self.body_size
        return size is not None and self.sent >= size


def publishes(
    frames: Iterable[Frame], direction: Direction = Direction.CLIENT_TO_BROKER
) -> list[Publish]:
    """Every Basic.Publish `direction`'s sender sent, with its content, in order."""
    found: list[Publish] = []
    open_on: dict[int, Publish] = {}
    for frame in frames:
        if frame.direction is not direction:
            continue
        current = open_on.get(frame.channel)
        if frame.name == "Basic.Publish":
            open_on[frame.channel] = Publish(frame)
            found.append(open_on[frame.channel])
        elif current is None:
            continue
        elif isinstance(frame.payload, ContentHeader) and current.header is None:
            current.header = frame
        elif isinstance(frame.payload, ContentBody) and not current.complete:
            current.bodies.append(frame)
    return found
