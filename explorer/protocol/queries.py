"""Questions asked of a list of decoded frames, by everyone who reads them.

Owns the frame queries that the engine, the try-it checks, the questions and
the lab share: which channels the client used, and how often they took turns.
Sans-I/O: frames in, facts out.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from explorer.protocol.frames import C2B, Frame


def channel_turns(frames: Sequence[Frame]) -> tuple[dict[int, int], int]:
    """The client's frames per channel (1 and up), and how often they took turns."""
    channels = client_channels(frames)
    turns = sum(1 for a, b in itertools.pairwise(channels) if a != b)
    return {c: channels.count(c) for c in sorted(set(channels))}, turns


def client_channels(frames: Sequence[Frame]) -> list[int]:
    """The channel of each of the client's frames on a channel, in order."""
    return [f.channel for f in frames if f.direction is C2B and f.channel]
