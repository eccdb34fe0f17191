"""The frames a connection has shown so far, and what the steps ask of them.

Owns FrameLog, the part of the Engine that keeps every frame the tap decoded
(unmasked, in the order they came) and answers the questions the steps and
diagnoses ask of them: the first frame of a name, how many, whether the broker
answered, whether the handshake is over.
"""

from __future__ import annotations

from explorer.protocol.dialect import ends_handshake
from explorer.protocol.frames import B2C, C2B, Direction, Frame
from explorer.protocol.queries import all_named, first_named, sent_since


class FrameLog:
    """Every frame seen so far, and lookups over them."""

    def __init__(self) -> None:
        """Nothing seen yet."""
        #: Every frame seen so far, unmasked (events carry masked copies).
        self.frames: list[Frame] = []

    def unmasked(self, frame: Frame) -> Frame:
        """The frame as it crossed the wire, secrets included."""
        for seen in self.frames:
            if (seen.direction, seen.offset) == (frame.direction, frame.offset):
                return seen
        return frame

    def opened(self) -> Frame | None:
        """The frame that ended the handshake (either protocol's), once it came."""
        return next((f for f in self.frames if ends_handshake(f)), None)

    def frame(self, direction: Direction, name: str) -> Frame | None:
        """The first frame called `name` sent in `direction`."""
        return first_named(self.frames, direction, name)

    def first(self, direction: Direction) -> Frame | None:
        """The first frame sent in `direction`."""
        return next((f for f in self.frames if f.direction is direction), None)

    def seen(self, direction: Direction, name: str) -> bool:
        """Whether a frame called `name` was sent in `direction`."""
        return self.frame(direction, name) is not None

    def count(self, direction: Direction, name: str) -> int:
        """How many frames called `name` were sent in `direction`."""
        return len(all_named(self.frames, direction, name))

    def last_time(self, direction: Direction) -> float:
        """When the last frame in `direction` arrived (0 if none)."""
        times = [f.t for f in self.frames if f.direction is direction]
        return times[-1] if times else 0.0

    def answered(self, name: str, replies: set[str]) -> bool:
        """Whether the broker answered the client's `name` with one of `replies`."""
        sent = self.frame(C2B, name)
        return sent is not None and any(
            f.name in replies for f in sent_since(self.frames, B2C, sent.t)
        )
