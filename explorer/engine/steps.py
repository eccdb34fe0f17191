"""The plain lifecycle's steps: what each phase does, by phase.

Owns STEPS, the table passed to the Engine (by default: an experiment
replaces some of its entries). The phase modules name the Engine for type
checking only, so importing them never imports `core`: no import cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from explorer.engine import handshake, reaching, session
from explorer.engine.experiment import Step
from explorer.protocol.lifecycle import Phase

#: What each phase's step does, in lifecycle order.
STEPS: Final[Mapping[Phase, Step]] = {
    Phase.ENDPOINT: reaching.endpoint,
    Phase.RESOLVE: reaching.resolve,
    Phase.TCP: reaching.tcp,
    Phase.TLS: reaching.tls,
    Phase.HEADER: handshake.header,
    Phase.START: handshake.start,
    Phase.AUTH: handshake.auth,
    Phase.TUNE: handshake.tune,
    Phase.OPEN: handshake.open_vhost,
    Phase.CHANNEL: session.channel,
    Phase.OPERATIONS: session.operation,
    Phase.HEARTBEAT: session.heartbeat,
    Phase.CLOSE: session.close,
}
