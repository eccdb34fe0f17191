"""The AMQP 1.0 lifecycle's steps: what each phase does, by phase.

Owns STEPS for a run with dialect AMQP_1_0, and the steps of 1.0's handshake:
the endpoint (0-9-1's step, its report as Proton reads the URL; plain amqp
and PLAIN only, for now), the tcp step's client (Qpid Proton's engine,
explorer.net.amqp10, on the socket the tcp step connected), the SASL
exchange and the AMQP header with the two opens. The resolve, tcp and header
steps are 0-9-1's (explorer.engine.reaching, handshake), with 1.0's words;
the steps of the open connection are in explorer.engine.amqp10ops. Each
report is built from the decoded wire by explorer.protocol.amqp10.report, as
a replay's is.

The learner's pace is 0-9-1's: by default Proton runs the whole handshake at
wire speed when TCP opens and these steps then reveal it; in race mode each
of Proton's three handshake writes (the SASL header; sasl-init; the AMQP
header with open) is held until its step.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Final

import proton

from explorer.engine import amqp10ops, diagnosis, handshake, reaching
from explorer.engine.experiment import Step
from explorer.engine.reaching import Handshaking
from explorer.net.amqp10 import CONTAINER, Amqp10Client
from explorer.net.endpoint import TLS_OPTIONS, Endpoint, Setting
from explorer.protocol.amqp10 import report
from explorer.protocol.frames import B2C, C2B
from explorer.protocol.lifecycle import Phase

if TYPE_CHECKING:
    from explorer.engine.core import Engine

#: Proton's idle timeout (s) when the URL sets no ?heartbeat=: it announces
#: half, 1000 ms, so that the broker's empty frames show within a step.
IDLE_TIMEOUT: Final = 2
#: Proton's open proposes these whatever the URL says (its defaults, unchanged).
MAX_FRAME_SIZE: Final = proton.Transport().max_frame_size
CHANNEL_MAX: Final = proton.Transport().channel_max
#: Why TLS settings do nothing in a 1.0 run.
PLAIN_TCP: Final = (
    "the explorer's 1.0 client (Qpid Proton's engine through the tap) speaks "
    "plain TCP only"
)
#: The endpoint report's note of each setting Proton reads otherwise than
#: aiormq (the rest keep 0-9-1's note).
PROTON_NOTES: Final = {
    "user": "sasl-init's PLAIN response carries it",
    "password": "hidden; --reveal-secrets shows it; sasl-init's PLAIN response "
    "carries it in clear text",
    "frame_max": f"not used: Proton's open proposes max-frame-size {MAX_FRAME_SIZE}",
    "channel_max": f"not used: Proton's open proposes channel-max {CHANNEL_MAX}",
    "connection_name": f"not used: Proton's open names its container-id {CONTAINER}",
    "auth": "Proton logs in with SASL PLAIN only: sasl-init's mechanism",
}
HEARTBEAT_NOTE: Final = (
    f"seconds: Proton's idle timeout ({IDLE_TIMEOUT} s, the explorer's default, "
    "unless ?heartbeat= sets it); its open announces half as idle-time-out "
    "(none for 0)"
)
#: What the tcp report says of RabbitMQ's handshake clock for 1.0 (seen live).
HANDSHAKE_CLOCK: Final = (
    "RabbitMQ's handshake_timeout applies to AMQP 1.0 as well: on RabbitMQ 4.0.5 "
    "a connection held after the SASL header, after sasl-outcome, or after the "
    "AMQP header without an open, is reset 10.0 s after TCP accept."
)


def idle_timeout(where: Endpoint) -> tuple[int, str]:
    """Proton's idle timeout (s): the URL's ?heartbeat=, else IDLE_TIMEOUT;
    and where it came from."""
    chosen = next(s for s in where.settings if s.name == "heartbeat").source
    if chosen == "url":
        return where.heartbeat, "the URL's ?heartbeat="
    return IDLE_TIMEOUT, "the explorer's default; ?heartbeat= sets it"


def _url(where: Endpoint, reveal: bool) -> str:
    """What Proton is handed, in RabbitMQ's URI spelling."""
    return where.spelled([f"heartbeat={idle_timeout(where)[0]}"], reveal=reveal)


def _row(where: Endpoint, setting: Setting) -> Setting:
    """A setting's row as Proton reads it (0-9-1's, where they agree)."""
    name = setting.name
    if name == "heartbeat":
        return replace(setting, value=idle_timeout(where)[0], note=HEARTBEAT_NOTE)
    if name == "vhost":
        hostname = f"open's hostname names it as vhost:{where.vhost}"
        return replace(setting, note=f"{setting.note}; {hostname}")
    if name in TLS_OPTIONS:
        return replace(setting, note=f"not used: {PLAIN_TCP}")
    return replace(setting, note=PROTON_NOTES.get(name, setting.note))


def _notes(where: Endpoint) -> list[str]:
    return [
        f"The explorer will connect to {where.host}:{where.port}; Proton logs in "
        f"as {where.user!r} with SASL PLAIN and opens the virtual host "
        f"{where.vhost!r} (open's hostname vhost:{where.vhost}).",
        "Proton is handed no URL: the url row spells what it is handed, in "
        "RabbitMQ's URI syntax. The run's queue is declared, and deleted at the "
        "end, over a separate AMQP 0-9-1 connection (aiormq, PLAIN, the same "
        "user and vhost) that the tap does not record.",
    ]


#: Proton's view of the endpoint, for the endpoint report.
PROTON: Final = reaching.ClientView(_url, _row, _notes)


def _refused(where: Endpoint) -> tuple[str, str] | None:
    """Why a 1.0 run cannot use this endpoint, and the advice; None if it can."""
    if where.tls:
        return (
            f"amqps is not supported for AMQP 1.0 yet: {PLAIN_TCP}",
            "use amqp:// (RabbitMQ 4.x speaks AMQP 1.0 on 5672), or AMQP 0-9-1 for TLS",
        )
    if where.auth != "PLAIN":
        return (
            f"auth={where.auth.lower()} is not available for AMQP 1.0 here: the "
            "explorer's 1.0 client (Qpid Proton) logs in with SASL PLAIN only",
            "leave out ?auth= (or write ?auth=plain), or use AMQP 0-9-1 for "
            f"{where.auth}",
        )
    return None


async def endpoint(engine: Engine) -> None:
    """0-9-1's endpoint step, as Proton reads the URL; amqps, and auth= other
    than plain, are refused."""
    await reaching.endpoint(engine, PROTON)
    where = engine.endpoint
    refused = _refused(where) if where is not None and not engine.failed else None
    if refused is not None:
        engine.fail(Phase.ENDPOINT, refused[0], advice=refused[1])


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


async def auth(engine: Engine) -> None:
    """Send sasl-init and see the broker's sasl-outcome."""
    offered = engine.frame(B2C, "sasl-mechanisms") is not None or engine.gone
    if not offered and not await engine.until(
        lambda: engine.seen(B2C, "sasl-mechanisms")
    ):
        diagnosis.stalled(engine, Phase.AUTH)  # Proton waits for them
        return
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
    Phase.HEADER: partial(handshake.header, facts=report.header_facts),
    Phase.AUTH: auth,
    Phase.OPEN: open_connection,
    Phase.CHANNEL: amqp10ops.begin,
    Phase.OPERATIONS: amqp10ops.operation,
    Phase.HEARTBEAT: amqp10ops.linger,
    Phase.CLOSE: amqp10ops.close,
}
