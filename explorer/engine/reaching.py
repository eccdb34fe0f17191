"""Phases before AMQP: the endpoint, name resolution, TCP and TLS.

Owns what the endpoint, resolve, tcp and tls steps do and report; the
endpoint's report as a dialect's client reads the URL (ClientView: aiormq's
here, Proton's in explorer.engine.amqp10steps).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from explorer.engine import diagnosis
from explorer.net import connect as net
from explorer.net.client import ExplorerConnection
from explorer.net.endpoint import Endpoint, EndpointError, Setting, parse
from explorer.net.raw import RawClient
from explorer.protocol.fields import JSON
from explorer.protocol.lifecycle import Phase

if TYPE_CHECKING:
    from explorer.engine.core import Engine

#: The client's handshake, started when TCP opens: it pauses at held writes.
Handshaking = Callable[[], Coroutine[Any, Any, object]]
#: Makes the client on the connected socket (`engine.connection`) and says
#: how its handshake starts.
ClientMaker = Callable[["Engine", Endpoint, socket.socket], Handshaking]

#: What the TCP report says of the pace, by whether the handshake is held;
#: `{client}` is the client library.
PACE_NOTES: Final = {
    False: "Your pace: RabbitMQ's 10 s handshake_timeout runs from this TCP "
    "accept, so the explorer lets {client} finish the handshake at wire speed "
    "now; each handshake step then shows what was exchanged, with its real "
    "timings.",
    True: "Race mode: the explorer holds each of {client}'s handshake frames "
    "until you step, while RabbitMQ's 10 s handshake_timeout runs from this TCP "
    "accept.",
}


@dataclass(frozen=True, slots=True)
class ClientView:
    """How a dialect's client library reads the endpoint, as its report says."""

    #: The url row: what the client is handed (the password only if revealed).
    url: Callable[[Endpoint, bool], str]
    #: A setting's row as this client reads it: its value and note.
    row: Callable[[Endpoint, Setting], Setting]
    #: The report's notes: who connects where, and how.
    notes: Callable[[Endpoint], list[str]]


def _aiormq_url(where: Endpoint, reveal: bool) -> str:
    return where.aiormq_url() if reveal else where.redacted


def _aiormq_notes(where: Endpoint) -> list[str]:
    return [
        f"The client library will connect to {where.host}:{where.port} and open "
        f"the virtual host {where.vhost!r} as {where.user!r}.",
    ]


#: aiormq's view: the URL it is handed, the settings' notes as parsed.
AIORMQ: Final = ClientView(_aiormq_url, lambda where, setting: setting, _aiormq_notes)


async def endpoint(engine: Engine, view: ClientView = AIORMQ) -> None:
    """Parse the URL and show every value and where it came from.

    Args:
        view: How the dialect's client reads the endpoint (aiormq's, by default).
    """
    try:
        parsed = parse(engine.url)
    except EndpointError as exc:
        engine.fail(Phase.ENDPOINT, str(exc), advice="fix the URL and try again")
        return
    engine.endpoint = parsed
    engine.plan[:] = [
        p for p in engine.plan if p in engine.dialect.plan_for(parsed.tls)
    ]
    rows = [view.row(parsed, s) for s in parsed.settings]
    settings: list[JSON] = [
        {
            "name": s.name,
            "value": parsed.password
            if s.name == "password" and engine.reveal
            else s.value,  # type: ignore[dict-item]
            "from": s.source,
            "note": s.note,
        }
        for s in rows
    ]
    facts: dict[str, JSON] = {
        "url": view.url(parsed, engine.reveal),
        "settings": settings,
    }
    if engine.experiment is not None:
        facts["experiment"] = engine.experiment.name  # a run the learner did not tune
    engine.report(Phase.ENDPOINT, facts, view.notes(parsed))
    if parsed.tls:  # loaded as aiormq will: a bad file fails here, before connecting
        options = dict(parsed.tls_options)
        problem = await asyncio.to_thread(diagnosis.tls_files_problem, options)
        if problem is not None:
            engine.fail(
                Phase.ENDPOINT,
                f"the URL's TLS files cannot be used: {problem}",
                advice="give the path of a PEM file this process can read: cafile= "
                "the certificates that signed the broker's, certfile= and keyfile= "
                "the client's own certificate and private key",
            )


async def resolve(engine: Engine) -> None:
    """Resolve the host name, every address in the order it will be tried."""
    engine.model.enter(Phase.RESOLVE)
    where = engine.need_endpoint()
    try:
        engine.addresses, took = await net.resolve(where.host, where.port)
    except socket.gaierror as exc:
        engine.fail(
            Phase.RESOLVE,
            f"the host name {where.host!r} does not resolve ({exc.strerror})",
            advice="check the host name for typos, and that DNS or /etc/hosts knows it",
        )
        return
    listed: JSON = [{"family": a.family, "address": a.host} for a in engine.addresses]
    facts: dict[str, JSON] = {
        "host": where.host,
        "addresses": listed,
        "ms": round(took, 2),
    }
    engine.report(
        Phase.RESOLVE,
        facts,
        [
            f"{where.host} resolved to {len(engine.addresses)} address(es) in "
            f"{took:.1f} ms; they are tried in this order.",
        ],
    )


def aiormq_client(engine: Engine, where: Endpoint, sock: socket.socket) -> Handshaking:
    """aiormq's connection (or, for an experiment's own handshake, the raw
    client's) on `sock`."""
    plan = engine.experiment.handshake if engine.experiment else None
    connection = (
        ExplorerConnection(
            where.aiormq_url(),
            engine.tap,
            sock=sock,
            channel_max=where.channel_max,
            frame_max=where.frame_max,
        )
        if plan is None
        else RawClient(where.aiormq_url(), engine.tap, sock=sock, plan=plan)
    )
    engine.connection = connection
    return connection.connect


async def tcp(
    engine: Engine,
    client: ClientMaker = aiormq_client,
    *,
    name: str = "aiormq",
    notes: tuple[str, ...] = (),
) -> None:
    """Connect to each address in turn; one long-lived TCP connection.

    Args:
        client: Makes the client library's connection on the socket.
        name: The client library, as the pace note names it.
        notes: What the report says besides, of this protocol's handshake.
    """
    engine.model.enter(Phase.TCP)
    where = engine.need_endpoint()
    sock, attempts = await net.connect_first(engine.addresses, where.connect_timeout)
    tried: JSON = [
        {"address": str(a.address), "outcome": a.outcome, "ms": round(a.ms, 2)}
        for a in attempts
    ]
    if sock is None:
        summary = "; ".join(f"{a.address} {a.outcome}" for a in attempts)
        engine.fail(
            Phase.TCP,
            f"no address accepted a TCP connection ({summary})",
            advice="is RabbitMQ running and listening on this port? "
            "(rabbitmq-diagnostics listeners shows its ports)",
        )
        return
    engine.sock, engine.tcp_at = sock, engine.tap.now()
    local, remote = sock.getsockname(), sock.getpeername()
    limits = net.descriptors()
    facts: dict[str, JSON] = {
        "attempts": tried,
        "local": f"{local[0]}:{local[1]}",
        "remote": f"{remote[0]}:{remote[1]}",
        "connect_ms": round(attempts[-1].ms, 2),
        **limits,
    }
    facts["pace"] = "race" if engine.live_handshake else "learner"
    engine.report(
        Phase.TCP,
        facts,
        [
            f"One TCP connection from {facts['local']} to {facts['remote']}; it stays "
            "open for the whole life of the AMQP connection.",
            f"This process may hold {limits['open_files_soft_limit']} open files "
            f"(its soft limit) and holds {limits['open_files_held']} now: each "
            "connection costs one.",
            PACE_NOTES[engine.live_handshake].format(client=name),
            *notes,
        ],
    )
    engine.handshaking = client(engine, where, sock)
    if engine.live_handshake:
        engine.tap.hold()
    # From TCP accept on, the broker's handshake_timeout runs: the client starts
    # at once (held writes wait for their steps), so a drop is seen when it happens.
    engine.start_connecting()


async def tls(engine: Engine) -> None:
    """TLS on the TCP connection: version, cipher, the broker's certificate."""
    engine.model.enter(Phase.TLS)
    connecting = engine.start_connecting()
    await engine.until(lambda: engine.tap.transport is not None or connecting.done())
    transport = engine.tap.transport
    if transport is None:
        error = engine.tap.connect_error
        if isinstance(error, ssl.SSLCertVerificationError):
            reason = (
                f"certificate verify failed: {error.verify_message or error.reason}; "
                "the client could not verify the broker's certificate"
            )
        else:
            reason = str(error or f"no answer within {engine.wait:g} s")
        engine.fail(
            Phase.TLS,
            f"the TLS handshake failed: {reason}",
            advice="check the broker's certificate, ?cafile=..., and that the port "
            "speaks TLS (5671 by default)",
        )
        return
    facts = net.tls_facts(transport.get_extra_info("ssl_object"))
    verified = dict(engine.need_endpoint().tls_options).get("no_verify_ssl", "0") == "0"
    facts["verified"] = verified
    certificate = (
        f"the broker's certificate names {facts.get('subject')!r}, issued by "
        f"{facts.get('issuer')!r}."
        if verified
        else "the broker's certificate was not verified (no_verify_ssl), so Python "
        "does not read its names and any peer could be answering."
    )
    engine.report(
        Phase.TLS,
        facts,
        [f"{facts.get('tls_version')} with {facts.get('cipher')}; {certificate}"],
    )
