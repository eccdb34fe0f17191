"""The registry of experiments by name, and making an Engine that runs one."""

from __future__ import annotations

from typing import Final

from explorer.engine.core import Engine
from explorer.engine.events import Listener
from explorer.lab import failures, lazy, topics
from explorer.lab.experiment import Scenario

EXPERIMENTS: Final[dict[str, Scenario]] = {
    s.name: s for s in (*failures.EXPERIMENTS, *topics.EXPERIMENTS, *lazy.EXPERIMENTS)
}


def lab_engine(
    url: str,
    name: str,
    listener: Listener,
    *,
    live_handshake: bool = False,
    reveal_secrets: bool = False,
    wait: float = 5.0,
) -> Engine:
    """An Engine that runs the experiment called `name` against `url`.

    The handshake is held step by step when `live_handshake` is set, and
    always for an experiment that needs it held.

    Raises:
        KeyError: no experiment has that name.
    """
    scenario = EXPERIMENTS[name]
    return Engine(
        url,
        listener,
        live_handshake=live_handshake or scenario.held,
        reveal_secrets=reveal_secrets,
        wait=wait,
        experiment=scenario,
        dialect=scenario.dialect,
    )
