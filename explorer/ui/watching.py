"""`watch` and packet files in the app: an application's connections, live, or
a tcpdump's, listed and explored one at a time (explorer.ui.several).

Owns `watch_app` and WatchApp: the watch proxy started with the app, saying
before anything connects where it listens, to which broker it relays (plain
or TLS) and that nothing has come, with the lesson on applications that
connect late at hand; each client's connection listed as it arrives (the
first explored, the later ones announced), stepped as the client goes (the
client sets the pace; the broker's clock runs on its connection, and the
status line says so), kept as a capture in an output directory when it ends.
Owns too `replay_app`, the connections of a packet file, each replayed.

What of the explorer applies to a client that is not the explorer's own:

- the predictions before the tcp step are asked: they are about what the
  broker proposes (its mechanisms, frame_max and heartbeat), RabbitMQ's
  choices whichever client connects; the quizzes are asked too, answered
  from the connection's own frames;
- the try-it checks are not judged (stepping.py): a task is done with the
  explorer's own connection, which the learner's URL shapes, while an
  application's connection shows what the application chose; experiments,
  the pace and restart are refused with the reason (several.py);
- a phase lesson says, under its title, that it was written with aiormq and
  that this connection is another client's (lessons.py).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import ClassVar, Final

from explorer.engine.events import Clock, EngineEvent, Listener
from explorer.engine.watched import Watch, WatchedConnection, watched_plan
from explorer.net.endpoint import redact
from explorer.net.proxy import Relay, Upstream, upstream_for
from explorer.protocol.dialect import AMQP_0_9_1
from explorer.protocol.frames import Frame
from explorer.protocol.lifecycle import Phase
from explorer.recording.capture import Capture, CaptureError
from explorer.recording.relayed import Keeper
from explorer.recording.replay import ReplayEngine
from explorer.ui.app import ExplorerApp, StepperFactory
from explorer.ui.several import Explorable, SeveralApp, ignored

#: The topic lesson at hand while no client has connected.
NOT_CONNECTED_LESSON: Final = "lazy-connection"


class WatchApp(SeveralApp):
    """The explorer on the watch proxy: each client that connects, listed."""

    DESCRIBED: ClassVar[dict[str, str]] = {
        "step": "Step: show the next phase the client went through (waiting for "
        "it, when it has not got there yet)",
        "run_all": "Follow: show what the client did so far, then each phase as "
        "it comes; g again stops following",
    }

    def __init__(
        self,
        upstream_url: str,
        upstream: Upstream,
        listen: tuple[str, int],
        keeper: Keeper | None,
    ) -> None:
        """Relay what connects to `listen` to `upstream` (named by
        `upstream_url`); `keeper` keeps each connection once it ends."""
        self.upstream_url = upstream_url
        self.upstream = upstream
        self.listen = listen
        self.keeper = keeper
        self.relaying = Watch(upstream, self.arrived, _listener_for)
        host, port = listen
        self.where = f"{host}:{port}" if port else f"{host}, any free port"
        #: The stepper until a client connects: it says where the proxy listens.
        self.waiting = Unexplored(f"listening on {self.where}")
        super().__init__(
            [], lambda listener: self.waiting, source=self._source(),
            empty=self._empty(), predict=True, url=upstream_url,
        )  # fmt: skip

    def _source(self) -> str:
        tls = "TLS" if self.upstream.tls is not None else "plain"
        return f"watch {self.where} → {self.upstream.address} ({tls})"

    def _empty(self) -> str:
        """What the list says before any client connected."""
        tls = "over TLS (amqps)" if self.upstream.tls is not None else "plain AMQP"
        return (
            f"Listening on {self.where}; relaying {tls} to the broker at "
            f"{self.upstream.address} ({redact(self.upstream_url)}). Nothing has "
            f"connected yet: point your application at amqp://USER:PASSWORD@"
            f"{self.where}/ instead of the broker. An application that never "
            "connects tells you something too: the lesson beside says what."
        )

    def on_mount(self) -> None:
        """Start listening (Textual calls each class's on_mount, this one first)."""
        self.run_worker(self._listen(), group="watch")

    async def _listen(self) -> None:
        """Listen, then say where (the port chosen, for port 0); exit if it cannot."""
        host, port = self.listen
        try:
            await self.relaying.start(host, port)
        except OSError as exc:
            self.exit(
                1, 1, f"amqp-explorer: cannot listen on {host}:{port}: "
                f"{exc.strerror or exc}",
            )  # fmt: skip
            return
        self.where = self.relaying.address
        self.source = self._source()
        self.waiting.state = f"listening on {self.where}; nothing has connected yet"
        self.connection_list.border_title = f"Connections · {self.source}"
        self.connection_list.say(self._empty())

    def arrived(self, connection: WatchedConnection) -> None:
        """A client connected (the Watch's callback): list it, then announce it."""
        self.listed.append(connection)
        self.run_worker(self._announce(len(self.listed) - 1))

    async def _announce(self, index: int) -> None:
        """Once the panes are there: the first connection is explored; a later
        one announced, the learner left on the one they read."""
        await self.ready.wait()
        connection = self.listed[index]
        if self.explored is None:
            self.explore_connection(index)
            self.notify(
                f"{connection.name} connected: space shows what it did, phase by "
                "phase; g follows it.",
                title="Connection 1",
            )
            return
        self.upkeep()
        self.notify(
            f"{connection.name}: ] or the list explores it; you stay on "
            f"connection {self.explored + 1}.",
            title=f"Connection {index + 1} arrived",
        )

    def upkeep(self) -> None:
        """The list's rows up to date, each connection kept once it ended, and
        the one explored shown again once its first bytes told its protocol."""
        super().upkeep()
        self._keep(stopping=False)
        if self.explored is not None and self.stepper.dialect is not self.dialect:
            # Explored at TCP accept, as 0-9-1: its plan, numbers and lessons
            # are 1.0's. Only its tcp step can have been shown yet.
            self.dialect = self.stepper.dialect
            self.explore_connection(self.explored)

    def _keep(self, *, stopping: bool) -> None:
        """Keep each connection that ended (each one left, when stopping)."""
        if self.keeper is None:
            return
        for connection in self.keeper.unkept(self.relaying.connections):
            if not (stopping or connection.relay.closed):
                continue
            try:
                path = self.keeper.keep(connection)
            except OSError as exc:
                self.notify(
                    f"{connection.name}: {exc.strerror or exc}",
                    title="Cannot keep its capture",
                    severity="error",
                )
                continue
            self.notify(f"{connection.name}: {path}", title="Capture kept")

    def explore(self, factory: StepperFactory, source: str) -> None:
        """Show what `factory` makes, in the protocol it speaks so far."""
        super().explore(factory, source)
        self.dialect = self.stepper.dialect

    def show_first_lesson(self) -> None:
        """Before any connection: the lesson on an application that has not
        connected yet (Spring's connects at first use)."""
        if self.explored is not None:
            super().show_first_lesson()
            return
        topics = self.lessons.course.topics
        lesson = next((t for t in topics if t.slug == NOT_CONNECTED_LESSON), None)
        if lesson is not None:
            self.lessons.show(lesson)

    def action_step(self) -> None:
        """Show the next phase the client went through, once it has."""
        if self.explored is None:
            self.nothing_yet()
            return
        stepper = self.stepper
        if stepper.next_phase is None and not stepper.finished and not self.stepping:
            self.notify(
                "The client has not gone further yet: its next phase shows the "
                "moment it happens.",
                title="Waiting for the client",
            )
        super().action_step()

    def action_run_all(self) -> None:
        """Show what the client did so far, then follow it; again: stop."""
        if self.explored is None:
            self.nothing_yet()
        elif self.stepping:
            self.steps.cancel()
            self.notify("Stopped following: space steps on.")
        else:
            if not self.stepper.finished:
                self.notify(
                    "What the client did so far, then each phase as it comes. "
                    "g again stops following.",
                    title=f"Following connection {self.explored + 1}",
                )
            super().action_run_all()

    async def action_quit(self) -> None:
        """Keep what is still open (cut), stop the proxy, then leave."""
        self._keep(stopping=True)
        with contextlib.suppress(Exception):
            await self.relaying.aclose()
        await super().action_quit()


class Unexplored:
    """The stepper before any client connected: nothing to step, a state to say."""

    recording = False
    watched = True
    dialect = AMQP_0_9_1

    def __init__(self, state: str) -> None:
        """Say `state` on the status line."""
        self.state = state
        self.plan: list[Phase] = watched_plan(AMQP_0_9_1)
        self.finished = False

    @property
    def next_phase(self) -> Phase | None:
        """Nothing to step."""
        return None

    def handshake_time_left(self) -> float | None:
        """No connection, no handshake."""
        return None

    def clock(self) -> Clock:
        """The client will set the pace; no broker clock runs yet."""
        return Clock("watched", None, self.state)

    def unmasked(self, frame: Frame) -> Frame:
        """No frame is this stepper's."""
        return frame

    async def step(self) -> bool:
        """Nothing to step (the app says so instead of stepping)."""
        return False

    async def aclose(self) -> None:
        """Nothing is open."""


def _listener_for(relay: Relay) -> Listener:
    """A new connection tells nobody until it is explored."""
    return ignored


def watch_app(
    upstream_url: str, host: str, port: int, output: Path | None
) -> ExplorerApp:
    """The explorer on a watch proxy at `host`:`port`, relaying to `upstream_url`.

    Each connection is kept as a capture in `output`, when given.

    Raises:
        EndpointError: the URL names no AMQP endpoint, or its TLS options
            cannot be used.
        CaptureError: `output` cannot hold captures.
    """
    upstream = upstream_for(upstream_url)
    keeper = Keeper(output, upstream_url) if output is not None else None
    return WatchApp(upstream_url, upstream, (host, port), keeper)


class Recorded:
    """One connection of a packet file: a ReplayEngine, its steps shown kept."""

    def __init__(self, capture: Capture) -> None:
        """Replay `capture` (raises CaptureError for one that does not replay)."""
        self.capture = capture
        self._told: list[EngineEvent] = []
        self._listener: Listener = ignored
        self.engine = ReplayEngine(capture, self._tell)

    @property
    def name(self) -> str:
        """The client's address, as the packets showed it."""
        return self.capture.client_address or "unknown address"

    @property
    def client(self) -> str:
        """The client library its StartOk named."""
        return self.capture.client

    @property
    def state(self) -> str:
        """A recording (cut: the file ends before the connection did)."""
        return "recorded, cut" if self.capture.cut else "recorded"

    def _tell(self, event: EngineEvent) -> None:
        self._told.append(event)
        self._listener(event)

    def attach(self, listener: Listener) -> ReplayEngine:
        """Tell `listener` from now on, starting with every step shown so far."""
        self._listener = listener
        for event in self._told:
            listener(event)
        return self.engine


def replay_app(captures: list[Capture], source: str) -> ExplorerApp:
    """The explorer over the connections of a packet file, a capture each.

    Raises:
        CaptureError: a capture does not replay, or there is none.
    """
    if not captures:
        raise CaptureError(f"{source} holds no AMQP 0-9-1 connection")
    listed: list[Explorable] = [Recorded(capture) for capture in captures]
    return SeveralApp(
        listed, listed[0].attach, source=f"{source}: {len(listed)} connections"
    )
