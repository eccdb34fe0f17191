"""The plain lifecycle's steps: what each phase does, by phase.

Owns STEPS, the table passed to the Engine (by default: an experiment
replaces some of its entries), and DEFAULTS, each dialect's steps and
operations (AMQP 1.0's are explorer.engine.amqp10steps'), and VIEWS, how
each dialect's client reads the URL. The phase
modules name the Engine for type checking only, so importing them never
imports `core`: no import cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from explorer.engine import amqp10ops, amqp10steps, handshake, reaching, session
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

#: Each dialect's steps and operation names, by its key ("0-9-1", "1.0").
DEFAULTS: Final[Mapping[str, tuple[Mapping[Phase, Step], tuple[str, ...]]]] = {
    "0-9-1": (STEPS, tuple(session.OPERATIONS)),
    "1.0": (amqp10steps.STEPS, tuple(amqp10ops.OPERATIONS)),
}
#: How each dialect's client reads the URL: the url its endpoint report shows,
#: and the source the app names (aiormq's spelling, or what Proton is handed).
VIEWS: Final[Mapping[str, reaching.ClientView]] = {
    "0-9-1": reaching.AIORMQ,
    "1.0": amqp10steps.PROTON,
}
