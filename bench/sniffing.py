"""What the pcap benchmark times the explorer doing: a packet file read into captures.

Owns counting what a read found (its connections, or the method frames of
every connection, every frame decoded), and the command line that does it in a
fresh interpreter, ``python -m bench.sniffing FILE [methods]``, which prints
the count. It imports only what reading needs, as `replay` would.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from explorer.protocol.frames import Direction, Frame
from explorer.recording.model import Capture
from explorer.recording.sniffed import open_captures


def methods(captures: Sequence[Capture]) -> int:
    """The method frames of every capture, every frame decoded.

    Frames that are not methods are named in one word (ContentHeader,
    Heartbeat ...), methods in two (Basic.Deliver).
    """
    return sum(
        isinstance(item, Frame) and "." in item.name
        for capture in captures
        for direction in Direction
        for item in capture.decode(direction)
    )


def main(argv: Sequence[str]) -> None:
    """Read the file `argv[0]`; print its methods (with "methods") or connections."""
    captures = open_captures(Path(argv[0]))
    print(methods(captures) if list(argv[1:]) == ["methods"] else len(captures))


if __name__ == "__main__":
    main(sys.argv[1:])
