"""The AMQP 1.0 lifecycle's steps: what each phase does, by phase.

Owns STEPS for a run with dialect AMQP_1_0, and the steps of 1.0's handshake:
the endpoint (plain amqp only, for now), the tcp step's client (Qpid Proton's
engine, explorer.net.amqp10, on the socket the tcp step connected), the SASL
header, the SASL exchange and the AMQP header with the two opens. The endpoint,
resolve and tcp steps are 0-9-1's (explorer.engine.reaching); the steps of the
open connection are in explorer.engine.amqp10ops. Each report is built from the
decoded wire by explorer.protocol.amqp10.report, as a replay's is.

The learner's pace is 0-9-1's: by default Proton runs the whole handshake at
wire speed when TCP opens and these steps then reveal it; in race mode each
of Proton's three handshake writes (the SASL header; sasl-init; the AMQP
header with open) is held until its step.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Final

from explorer.engine import amqp10ops, diagnosis, reaching
from explorer.engine.experiment import Step
from explorer.engine.reaching import Handshaking
from explorer.net.amqp10 import Amqp10Client
from explorer.net.endpoint import Endpoint
from explorer.protocol.amqp10 import report
from explorer.protocol.frames import B2C, C2B
from explorer.protocol.lifecycle import Phase

if TYPE_CHECKING:
    from explorer.engine.core import Engine

#: Proton's idle timeout (s) when the URL sets no ?heartbeat=: it announces
#: half, 1000 ms, so that the broker's empty frames show within a step.
IDLE_TIMEOUT: Final = 2
#: What the tcp report says of RabbitMQ's handshake clock for 1.0 (seen live).
HANDSHAKE_CLOCK: Final = (
    "RabbitMQ's handshake_timeout applies to AMQP 1.0 as well: on RabbitMQ 4.0.5 "
    "a connection held after the SASL header, after sasl-outcome, or after the "
    "AMQP header without an open, is reset 10.0 s after TCP accept."
)


async def endpoint(engine: Engine) -> None:
    """0-9-1's endpoint step; amqps is refused, as the 1.0 client has no TLS."""
    await reaching.endpoint(engine)
    where = engine.endpoint
    if where is not None and where.tls and not engine.failed:
        engine.fail(
            Phase.ENDPOINT,
            "amqps is not supported for AMQP 1.0 yet: the explorer's 1.0 client "
            "(Qpid Proton's engine through the tap) speaks plain TCP only",
            advice="use amqp:// (RabbitMQ 4.x speaks AMQP 1.0 on 5672), or AMQP "
            "0-9-1 for TLS",
        )


def idle_timeout(where: Endpoint) -> tuple[int, str]:
    """Proton's idle timeout (s): the URL's ?heartbeat=, else IDLE_TIMEOUT;
    and where it came from."""
    chosen = next(s for s in where.settings if s.name == "heartbeat").source
    if chosen == "url":
        return where.heartbeat, "the URL's ?heartbeat="
    return IDLE_TIMEOUT, "the explorer's default; ?heartbeat= sets it"


def proton_client(engine: Engine, where: Endpoint, sock: socket.socket) -> Handshaking:
    """Proton's connection on `sock`; its handshake connects the tap and opens."""
    client = Amqp10Client(
        engine.tap,
        where.user,
        where.password,
        vhost=where.vhost,
        idle_timeout=idle_timeout(where)[0],
        timeout=engine.wait,
    )
    engine.amqp10 = client

    async def handshake() -> None:
        await client.connect(where.host, where.port, sock)
        await client.open()

    return handshake


async def header(engine: Engine) -> None:
    """Send the SASL header and see what the broker answers."""
    engine.model.enter(Phase.HEADER)
    engine.start_connecting()
    await engine.send_next()
    answered = await engine.until(lambda: engine.first(B2C) is not None)
    sent, answer = engine.first(C2B), engine.first(B2C)
    if sent is not None and answer is not None:
        engine.report(Phase.HEADER, *report.header_facts(sent, answer))
    elif not answered and not engine.gone:
        diagnosis.stalled(engine, Phase.HEADER)
    elif not engine.failed:
        engine.fail(Phase.HEADER, "the peer closed the connection without answering")


async def auth(engine: Engine) -> None:
    """Send sasl-init and see the broker's sasl-outcome."""
    if engine.frame(B2C, "sasl-mechanisms") is None and not engine.gone:
        await engine.until(lambda: engine.seen(B2C, "sasl-mechanisms"))
    await engine.send_next()
    await engine.until(lambda: engine.seen(B2C, "sasl-outcome"))
    init = engine.frame(C2B, "sasl-init")
    if init is None:
        diagnosis.client_gave_up(engine, Phase.AUTH)
        return
    outcome = engine.frame(B2C, "sasl-outcome")
    mechanisms = engine.frame(B2C, "sasl-mechanisms")
    facts = report.auth_facts(mechanisms, init, outcome, engine.reveal)
    engine.report(Phase.AUTH, *facts)
    if outcome is None and not engine.gone:
        diagnosis.stalled(engine, Phase.AUTH)


async def open_connection(engine: Engine) -> None:
    """Send the AMQP header and open; the broker's open ends the handshake."""
    await engine.send_next()
    engine.tap.flow()  # the handshake is over: from now on Proton writes when asked
    answered = await engine.until(lambda: engine.opened() is not None)
    await engine.until(lambda: engine.start_connecting().done())
    client_open, broker_open = engine.frame(C2B, "open"), engine.opened()
    if client_open is None:
        diagnosis.client_gave_up(engine, Phase.OPEN)
    elif broker_open is not None:
        facts, notes = report.open_facts(client_open, broker_open)
        seconds, source = idle_timeout(engine.need_endpoint())
        notes.append(
            f"Proton's idle timeout is {seconds} s ({source}): its open announces "
            "half of it as idle-time-out, as the spec asks, so that the broker's "
            "empty frames come in time."
        )
        engine.report(Phase.OPEN, facts, notes)
    elif not answered and not engine.gone:
        diagnosis.stalled(engine, Phase.OPEN)


#: What each phase's step does, in lifecycle order (1.0 has no START or TUNE,
#: and no TLS yet).
STEPS: Final[Mapping[Phase, Step]] = {
    Phase.ENDPOINT: endpoint,
    Phase.RESOLVE: reaching.resolve,
    Phase.TCP: partial(
        reaching.tcp, client=proton_client, name="Proton", notes=(HANDSHAKE_CLOCK,)
    ),
    Phase.HEADER: header,
    Phase.AUTH: auth,
    Phase.OPEN: open_connection,
    Phase.CHANNEL: amqp10ops.begin,
    Phase.OPERATIONS: amqp10ops.operation,
    Phase.HEARTBEAT: amqp10ops.linger,
    Phase.CLOSE: amqp10ops.close,
}
