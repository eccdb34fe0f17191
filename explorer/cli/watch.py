"""`amqp-explorer watch`: any application's connection relayed to the broker, shown.

Owns the watch command's options and what it runs: the explorer on the proxy
(explorer.ui.watching), or with --print or --json the proxy printing each
connection (explorer.cli.watching). It is imported whenever a command's parser
is built, so it loads nothing heavy itself (not even asyncio).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Final

EXIT_USAGE: Final = 2
#: Where the proxy listens unless told: beside the broker's own 5672.
DEFAULT_LISTEN: Final = ("127.0.0.1", 5670)
_URL_HELP = (
    "the broker to relay to (default: $AMQP_URL, else amqp://guest:guest@"
    "localhost:5672/); only its scheme, host, port and TLS options are used: each "
    "application logs in with its own user and vhost"
)


def add_parser(commands: argparse._SubParsersAction[Any], what: str) -> None:
    """Add `watch` (described as `what`) to the command line's subcommands."""
    watch = commands.add_parser(
        "watch",
        help=what,
        description=f"{what[0].upper()}{what[1:]}. Point the application at the "
        "--listen address instead of the broker's: the proxy relays every byte "
        "both ways unchanged and shows each connection's frames and phases.",
    )
    watch.add_argument("url", nargs="?", metavar="UPSTREAM_URL", help=_URL_HELP)
    watch.add_argument(
        "--listen",
        type=listen_address,
        default=DEFAULT_LISTEN,
        metavar="HOST:PORT",
        help="where the application connects (default 127.0.0.1:5670; port 0: any "
        "free port, which --json's first record names)",
    )
    watch.add_argument(
        "--print", action="store_true", help="print as `trace` does, no screen"
    )
    watch.add_argument(
        "--json",
        action="store_true",
        help="print JSON lines (trace --json's records, each with its connection)",
    )
    watch.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="DIR",
        help="keep each connection as a capture file in DIR (replay opens it)",
    )
    watch.add_argument(
        "--no-broker-view",
        dest="broker_view",
        action="store_false",
        help="with --print or --json: do not ask the broker (rabbitmqctl, else its "
        "management API) for its record of each connection once it is open",
    )
    watch.add_argument(
        "--connections",
        type=_positive,
        metavar="N",
        help="with --print or --json: stop once N connections have ended",
    )
    watch.set_defaults(command=run)


def listen_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[IPv6]:PORT``) for argparse: where the proxy listens."""
    host, colon, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not (colon and host and port.isdigit() and int(port) <= 65535):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:5670; port 0 for any free "
            "port, [::1]:5670 for IPv6)"
        )
    return host, int(port)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def run(args: argparse.Namespace) -> int:
    """Run `watch`: the explorer on the proxy, or the proxy printing (--print/--json).

    Raises:
        EndpointError: UPSTREAM_URL names no AMQP endpoint, or its TLS files
            cannot be read (main exits 2).
        CaptureError: -o names no directory that can hold captures (exit 2).
    """
    from explorer.net.endpoint import chosen_url

    url = chosen_url(args.url)
    host, port = args.listen
    if not (args.print or args.json):
        if args.connections is not None:  # the app runs until the learner quits
            sys.stderr.write("amqp-explorer: --connections N needs --print or --json\n")
            return EXIT_USAGE
        from explorer.ui.watching import watch_app

        return watch_app(url, host, port, args.output).run() or 0
    from explorer.net.proxy import upstream_for

    upstream = upstream_for(url)
    keeper = None
    if args.output is not None:
        from explorer.recording.relayed import Keeper

        keeper = Keeper(args.output, url)
    import asyncio

    from explorer.cli.watching import Watching

    watching = Watching(
        url, upstream, args.json, keeper, args.connections, args.broker_view
    )
    return asyncio.run(watching.run(host, port))
