"""The child process of the socket-limit experiment.

Owns lowering this process's open-file limit (RLIMIT_NOFILE) to what it
holds now plus a few, then opening aiormq connections until the operating
system refuses one, and printing what happened as one JSON object. Run as
``python -m explorer.lab.nofile SPARE`` with the URL in $AMQP_EXPLORER_CHILD_URL.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Final

import aiormq
from aiormq.abc import AbstractConnection

#: Never open more than this many connections, whatever the limit.
CEILING: Final = 200


def held() -> int:
    """File descriptors this process holds now."""
    for where in ("/proc/self/fd", "/dev/fd"):
        if os.path.isdir(where):
            return len(os.listdir(where)) - 1  # the listing holds one itself
    return -1


async def open_until_refused(url: str, spare: int) -> dict[str, object]:
    """Lower the limit, open connections until one fails; say what happened."""
    try:
        import resource
    except ImportError:
        return {"summary": "this platform has no RLIMIT_NOFILE (Windows)"}
    before = held()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = before + spare
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    opened: list[AbstractConnection] = []
    error = ""
    while len(opened) < CEILING:
        try:
            opened.append(await aiormq.connect(url))
        except Exception as exc:  # what the client library raises is the lesson
            error = f"{type(exc).__name__}: {exc}"
            break
    for connection in opened:
        await connection.close()
    return {
        "open_files_limit": limit,
        "held_at_start": before,
        "connections_opened": len(opened),
        "error": error,
        "summary": f"With a limit of {limit} open files and {before} held, the child "
        f"opened {len(opened)} connections; the next one failed with {error}",
    }


def main() -> None:
    """Run the experiment and print its JSON report."""
    url = os.environ.get("AMQP_EXPLORER_CHILD_URL", "")
    spare = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    sys.stdout.write(json.dumps(asyncio.run(open_until_refused(url, spare))) + "\n")


if __name__ == "__main__":
    main()
