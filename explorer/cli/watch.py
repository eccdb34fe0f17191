"""`amqp-explorer watch`: any application's connection relayed to the broker, shown.

Owns the watch command: its options, the explorer opened on the proxy, or
(--print, --json) every relayed connection printed as `trace` prints one,
each line or record naming its connection (the client's address as the proxy
saw it), with the broker's own record of it once it is open and at each
change (explorer.lab.brokerview); the stop (ctrl+c, SIGTERM, or after
--connections N have ended: open connections are kept as cut captures, then
closed; exit 0); and the captures kept with -o (explorer.recording.relayed).
The proxy itself is explorer.engine.watched. Like main.py, this module loads
nothing heavy when imported: `--version` never builds this parser.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TextIO

if TYPE_CHECKING:
    from explorer.engine.events import EngineEvent, Listener
    from explorer.engine.watched import WatchedConnection
    from explorer.net.proxy import Relay, Upstream
    from explorer.recording.relayed import Keeper

EXIT_OK, EXIT_FAILED = 0, 1
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
        from explorer.ui.watching import watch_app

        return watch_app(url, host, port, args.output).run() or EXIT_OK
    from explorer.net.proxy import upstream_for

    upstream = upstream_for(url)
    keeper = None
    if args.output is not None:
        from explorer.recording.relayed import Keeper

        keeper = Keeper(args.output, url)
    watching = Watching(
        url, upstream, args.json, keeper, args.connections, args.broker_view
    )
    return asyncio.run(watching.run(host, port))


class Watching:
    """The proxy printing each connection as it goes, until it is stopped."""

    def __init__(
        self,
        url: str,
        upstream: Upstream,
        as_json: bool,
        keeper: Keeper | None,
        connections: int | None,
        broker_view: bool = True,
        out: TextIO = sys.stdout,
    ) -> None:
        """Relay to `upstream` (named by `url`), printing to `out`.

        With `connections`, stop once that many have ended; with
        `broker_view`, print the broker's record of each open connection.
        """
        from explorer.engine.watched import Watch

        self.url = url
        self.upstream = upstream
        self.as_json = as_json
        self.keeper = keeper
        self.limit = connections
        self.out = out
        self.ended = 0
        self.stopping = False
        #: The reader of `out` went away: nothing more is printed.
        self.gone = False
        self.broker_view = broker_view
        #: Each connection's follower of the broker's view, and its stop.
        self._following: dict[Relay, tuple[asyncio.Task[None], asyncio.Event]] = {}
        self.watch = Watch(
            upstream, lambda connection: None, self._listener_for, follow=True
        )
        self._stop = asyncio.Event()

    async def run(self, host: str, port: int) -> int:
        """Listen on `host`:`port` and relay until stopped; the exit status."""
        import signal

        from explorer.net.endpoint import redact

        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._stop.set)
        watch = self.watch
        try:
            await watch.start(host, port)
        except OSError as exc:
            _error(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
            return EXIT_FAILED
        tls = self.upstream.tls is not None
        self._print_record(
            {"event": "listening", "address": watch.address,
             "upstream": redact(self.url), "broker": self.upstream.address,
             "tls": tls},
        )  # fmt: skip
        _error(
            f"watching: listening on {watch.address}, relaying to "
            f"{self.upstream.address} ({'TLS' if tls else 'plain AMQP'}); point "
            f"your application at amqp://{watch.address}/ (ctrl+c stops)"
        )
        try:
            await self._stop.wait()
            self.stopping = True
            if self.keeper is not None:
                for connection in self.keeper.unkept(watch.connections):
                    self._keep(connection)
        finally:
            await self._unfollow()
            await watch.aclose()
        if self.gone:
            raise BrokenPipeError  # main says nothing more and exits 1
        count = len(watch.connections)
        self._print_record({"event": "stopped", "connections": count})
        _error(
            f"stopped: {count} connection(s) relayed"
            if count
            else f"stopped: no client connected to {watch.address}"
        )
        return EXIT_OK

    def _listener_for(self, relay: Relay) -> Listener:
        """What prints one connection's events, each naming it."""
        from explorer.cli.several import connection_printer
        from explorer.engine.events import FrameObserved, LifecycleEnded
        from explorer.protocol.lifecycle import ends_handshake

        render = connection_printer(relay.name, self.as_json, self.out)

        def tell(event: EngineEvent) -> None:
            if self.stopping:
                return
            self._printed(lambda: render(event))
            if isinstance(event, FrameObserved) and ends_handshake(event.frame):
                self._follow(relay)
            elif isinstance(event, LifecycleEnded):
                self._ended(relay)

        return tell

    def _follow(self, relay: Relay) -> None:
        """Start following the broker's view of `relay`'s connection."""
        if self.broker_view and relay not in self._following:
            ended = asyncio.Event()
            task = asyncio.get_running_loop().create_task(self._views(relay, ended))
            self._following[relay] = task, ended

    async def _views(self, relay: Relay, ended: asyncio.Event) -> None:
        """Print the broker's view of `relay`'s connection once it lists it,
        and again at each change, until `ended` (or the broker lists it no more).

        The broker sees the proxy's own socket as the client: its port picks
        the connection out of the broker's list. Not brokerview.follow, which
        is stopped by cancelling it: a rabbitmqctl cancelled mid-look is
        killed, but its Erlang child (Debian's rabbitmqctl is a shell script)
        keeps the pipes open, so their transport outlives asyncio.run and its
        finaliser prints an 'Event loop is closed' traceback. This one is never
        cancelled: it stops between looks.
        """
        from explorer.cli.several import view_printer
        from explorer.lab.brokerview import FOLLOW_EVERY, BrokerView, broker_view

        port = int(relay.upstream_address.rpartition(":")[2])
        show = view_printer(relay.name, self.as_json, self.out)
        told: BrokerView | None = None
        while not ended.is_set():
            view = await broker_view(port, self.url)
            worth = view.listed or view.source is None or told is not None
            new = told is None or not view.same_as(told)
            if worth and new and not ended.is_set():
                self._printed(functools.partial(show, view))
                told = view
                if not view.listed and view.source is not None:
                    return  # listed before, gone now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ended.wait(), FOLLOW_EVERY)

    async def _unfollow(self) -> None:
        """Stop every follower of the broker's view, each after its look."""
        for _, ended in self._following.values():
            ended.set()
        tasks = [task for task, _ in self._following.values()]
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        for relay, outcome in zip(self._following, outcomes, strict=True):
            if isinstance(outcome, Exception):  # a bug: say so, stop cleanly
                _error(f"{relay.name}: the broker's view failed: {outcome!r}")

    def _ended(self, relay: Relay) -> None:
        """A connection ended: keep it, and stop once enough have."""
        self.ended += 1
        if relay in self._following:
            self._following[relay][1].set()
        if self.keeper is not None:
            self._keep(next(c for c in self.watch.connections if c.relay is relay))
        if self.limit is not None and self.ended >= self.limit:
            self._stop.set()

    def _keep(self, connection: WatchedConnection) -> None:
        assert self.keeper is not None
        try:
            path = self.keeper.keep(connection)
        except OSError as exc:
            _error(
                f"{connection.name}: cannot write its capture: {exc.strerror or exc}"
            )
            return
        cut = not connection.relay.closed
        self._print_record(
            {"event": "saved", "connection": connection.name, "path": str(path),
             "cut": cut},
            f"{connection.name}  capture written to {path}" + " (cut)" * cut,
        )  # fmt: skip

    def _print_record(self, record: dict[str, Any], text: str | None = None) -> None:
        """A record of the watch itself: JSON, or its text (if any) with --print."""
        line = json.dumps(record) if self.as_json else text
        if line is not None:
            self._printed(lambda: print(line, file=self.out, flush=True))

    def _printed(self, show: Callable[[], None]) -> None:
        """Run `show`, unless the reader has gone (`| head`): then stop watching."""
        if self.gone:
            return
        try:
            show()
        except BrokenPipeError:
            self.gone = True
            self.stopping = True
            self._stop.set()


def _error(message: str) -> None:
    sys.stderr.write(f"amqp-explorer: {message}\n")
    sys.stderr.flush()
