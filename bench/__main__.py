"""``python -m bench [decode|tap|app|cli|watch|pcap]``: run them, print the goals.

Owns the command line: which benchmarks run, the summary with the machine, and
the exit status (1 when the broker cannot be used, 2 for a bad argument).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Final

from bench import app, cli, decode, pcap, tap, watch
from bench.report import Check, heading, machine, summary

BENCHMARKS: dict[str, Callable[[], list[Check]]] = {
    "decode": decode.run,
    "tap": tap.run,
    "app": app.run,
    "cli": cli.run,
    "watch": watch.run,
    "pcap": pcap.run,
}
#: The benchmarks that cannot run without the broker at $AMQP_URL.
NEED_BROKER: Final = ("tap", "cli", "watch")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen benchmarks (all by default) and print the summary."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Decoder, byte-map, tap, app, command-line, watch-proxy and "
        "pcap-reading benchmarks. "
        "Never run by pytest.",
    )
    parser.add_argument(
        "which",
        nargs="?",
        choices=[*BENCHMARKS, "all"],
        default="all",
        help="decode (no broker needed), tap (needs $AMQP_URL), app (records "
        "its flood from $AMQP_URL if it answers, else builds it), cli (needs "
        "$AMQP_URL), watch (needs $AMQP_URL), pcap (needs tshark) or all",
    )
    args = parser.parse_args(argv)
    names = list(BENCHMARKS) if args.which == "all" else [args.which]
    try:
        if set(names) & set(NEED_BROKER):  # before anything, to fail at once
            tap.check_broker()
        checks: list[Check] = []
        print(f"machine: {machine()}")
        for name in names:
            checks += BENCHMARKS[name]()
    except tap.BrokerUnreachableError as exc:
        print(f"{exc} (`python -m bench decode` needs no broker)", file=sys.stderr)
        return 1
    print(heading("summary"))
    print(f"machine: {machine()}")
    print(summary(checks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
