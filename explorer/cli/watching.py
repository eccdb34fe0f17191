"""The watch proxy printing: `amqp-explorer watch --print` and `--json` at work.

Owns Watching: the proxy (explorer.engine.watched) relaying until it is
stopped (ctrl+c, SIGTERM, --connections N ended, or its reader gone), every
relayed connection printed as `trace` prints one, each line or record naming
it (explorer.cli.several), the broker's own record of each once it is open and
at each change (explorer.lab.brokerview), and each kept as a capture when it
ends (explorer.recording.relayed; those still open at the stop, cut). Its own
records: "listening" first (where, to which broker, TLS or not), "saved" for
each capture, "stopped" last.
"""

from __future__ import annotations

import asyncio
import functools
import json
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from explorer.cli.several import connection_printer, view_printer
from explorer.engine.events import EngineEvent, FrameObserved, LifecycleEnded, Listener
from explorer.engine.watched import Watch
from explorer.lab.brokerview import BrokerView, follow
from explorer.net.endpoint import redact
from explorer.protocol.dialect import ends_handshake

if TYPE_CHECKING:
    from explorer.engine.watched import WatchedConnection
    from explorer.net.proxy import Relay, Upstream
    from explorer.recording.relayed import Keeper

EXIT_OK, EXIT_FAILED = 0, 1


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
        self._following: dict[Relay, asyncio.Task[None]] = {}
        self.watch = Watch(
            upstream, lambda connection: None, self._listener_for, follow=True
        )
        self._stop = asyncio.Event()

    async def run(self, host: str, port: int) -> int:
        """Listen on `host`:`port` and relay until stopped; the exit status."""
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
        """Print the broker's view of `relay`'s connection, and each change of it.

        The broker sees the proxy's own socket as the client: its port picks
        the connection out of the broker's list.
        """
        if self.broker_view and relay not in self._following:
            port = int(relay.upstream_address.rpartition(":")[2])
            show = view_printer(relay.name, self.as_json, self.out)

            def told(view: BrokerView) -> None:
                self._printed(functools.partial(show, view))

            follower = follow(port, self.url, told)
            self._following[relay] = asyncio.get_running_loop().create_task(follower)

    async def _unfollow(self) -> None:
        """Stop every follower of the broker's view."""
        for task in self._following.values():
            task.cancel()
        tasks = list(self._following.values())
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        for relay, outcome in zip(self._following, outcomes, strict=True):
            if isinstance(outcome, Exception):  # a bug: say so, stop cleanly
                _error(f"{relay.name}: the broker's view failed: {outcome!r}")

    def _ended(self, relay: Relay) -> None:
        """A connection ended: keep it, and stop once enough have."""
        self.ended += 1
        if relay in self._following:
            self._following[relay].cancel()
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
