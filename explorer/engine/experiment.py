"""What an experiment may change in the Engine's lifecycle, as types.

Owns Step (what one phase does), Operation (one step of the operations phase),
Cleanup and the Experiment protocol that explorer.lab's scenarios follow. The
Engine is named here for type checking only: this module is imported by the
phase modules, below `core`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, NamedTuple, Protocol

from aiormq.abc import AbstractChannel

from explorer.net.raw import Handshake
from explorer.protocol.fields import JSON
from explorer.protocol.lifecycle import Phase

if TYPE_CHECKING:
    from explorer.engine.core import Engine

Step = Callable[["Engine"], Awaitable[None]]
Cleanup = Callable[[], Awaitable[None]]


class Operation(NamedTuple):
    """One step of the operations phase: what it does on a channel, and why."""

    run: Callable[[Engine, AbstractChannel], Awaitable[dict[str, JSON]]]
    #: One sentence for the report: what the broker did and checked.
    note: str


class Experiment(Protocol):
    """What an experiment changes in the lifecycle (see explorer.lab)."""

    @property
    def name(self) -> str:
        """The experiment's name, e.g. "wrong-password"."""

    @property
    def steps(self) -> Mapping[Phase, Step | None]:
        """Phases whose step the experiment replaces (None: leaves out)."""

    @property
    def operations(self) -> Mapping[str, Operation]:
        """The operations to run, in order (the usual ones when empty)."""

    @property
    def handshake(self) -> Handshake | None:
        """When set, the raw client does the handshake instead of aiormq."""

    async def prepare(self, engine: Engine) -> None:
        """Before the endpoint step: change the URL, create what it needs."""

    async def conclude(self, engine: Engine) -> None:
        """After the close step: report what the broker did."""
