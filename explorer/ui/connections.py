"""Which connection the app explores: live, recorded, or the same again.

Owns the factories of the app's steppers (the live engine, a recording) and
the learner's ways to a new connection (ctrl+r, c and the palette's
recordings and plain lifecycle), each through ExplorerApp.replace and in the
protocol explored (AMQP 0-9-1 or 1.0), and what they say about the pace
chosen, and `live_source`, the name of a live connection. An experiment's
connection is experiments.py's.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from explorer.engine.core import Engine
from explorer.engine.events import Listener, Stepper
from explorer.engine.steps import VIEWS
from explorer.net.endpoint import parse
from explorer.protocol.dialect import AMQP_0_9_1, Dialect
from explorer.recording.capture import CaptureError, load
from explorer.recording.replay import ReplayEngine

if TYPE_CHECKING:
    from explorer.ui.app import ExplorerApp

StepperFactory = Callable[[Listener], Stepper]


def live(
    url: str, *, race: bool = False, dialect: Dialect = AMQP_0_9_1
) -> StepperFactory:
    """A factory for the live engine, speaking `dialect` (AMQP 0-9-1 or 1.0).

    At the learner's pace (the default) the handshake runs at wire speed when
    TCP opens and each step reveals it; `race` holds it step by step against
    the broker's handshake_timeout.
    """
    return lambda listener: Engine(url, listener, live_handshake=race, dialect=dialect)


def live_source(url: str, dialect: Dialect) -> str:
    """What the app names a live connection to `url` by: the URL as `dialect`'s
    client is handed it (aiormq's spelling, or Proton's), password masked.

    Raises:
        EndpointError: the URL is bad (the command line checked it first).
    """
    return VIEWS[dialect.key].url(parse(url), False)


def replay(path: Path) -> StepperFactory:
    """A factory for a recording (raises CaptureError for a bad file)."""
    capture = load(path)
    return lambda listener: ReplayEngine(capture, listener)


class Connections:
    """Opens `app`'s next connection in place of the one explored."""

    def __init__(self, app: ExplorerApp) -> None:
        """Open connections for `app`."""
        self.app = app

    async def restart(self) -> None:
        """Close this connection and start a new one, without leaving the app."""
        await self.app.replace(self.app.factory, self.app.source)

    async def switch_pace(self) -> None:
        """Switch between the learner's pace and racing the broker's clock.

        Either way a new connection starts: the pace is chosen at TCP accept.
        """
        app = self.app
        if app.stepper.recording:
            app.notify("A recording has no broker clock to race: ctrl+r is live.")
            return
        app.race = not app.race
        await self.plain_lifecycle()
        if app.race:
            app.notify(
                "Each handshake frame is held until you step, and RabbitMQ's 10 s "
                "handshake_timeout runs from TCP accept: step fast, or let it run "
                "out. c goes back to your own pace.",
                title="Race mode: the broker's clock runs",
                timeout=10,
            )
        else:
            app.notify(
                "The handshake runs at wire speed when TCP opens; each step then "
                "shows what was exchanged, with its real timings. c races the clock.",
                title="Your own pace",
                timeout=10,
            )

    async def open_recording(self, path: Path) -> None:
        """Explore a recording instead of the live connection."""
        try:
            factory = replay(path)
        except CaptureError as exc:
            self.app.notify(
                str(exc), title="Cannot open the recording", severity="error"
            )
            return
        await self.app.replace(factory, str(path))

    async def plain_lifecycle(self) -> None:
        """Back from an experiment: the plain lifecycle on the learner's URL."""
        app = self.app
        dialect = app.dialect  # the protocol the learner explores
        await app.replace(
            live(app.url, race=app.race, dialect=dialect),
            live_source(app.url, dialect),
        )
