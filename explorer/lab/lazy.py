"""The lazy-client experiment: a connection made only when it is first needed.

Owns the steps of a client that connects as Spring AMQP's
CachingConnectionFactory does (the connection is made at the first send, or
when a listener container starts), held at four stages, and at each stage
what the broker records of that connection: the rows `rabbitmqctl
list_connections` prints for its client port, the `Sockets` line of
`rabbitmqctl status` (RabbitMQ 3.x has one; 4.0.5 has none) and the broker's
log lines about it.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Final

from explorer.engine import handshake, reaching, session
from explorer.engine.core import Engine
from explorer.lab import broker
from explorer.lab.experiment import CLOCK_SLACK, Facts, Scenario
from explorer.net.tap import address_of
from explorer.protocol.fields import JSON
from explorer.protocol.lifecycle import Phase

#: The columns asked of `rabbitmqctl list_connections`, the client port first.
COLUMNS: Final = ("peer_port", "name", "user", "state", "vhost", "channels")
#: The command a learner types to see the same rows.
LISTING: Final = f"rabbitmqctl list_connections {' '.join(COLUMNS)}"
_SOCKETS: Final = re.compile(r"^Sockets: (\d+), limit: (\d+)", re.MULTILINE)
_VERSION: Final = re.compile(r"^RabbitMQ version: (\S+)", re.MULTILINE)
#: What the client has done at each stage, by stage number.
STAGES: Final = {
    1: "the application runs, and nothing has needed the broker yet",
    2: "the client opened TCP and sent nothing",
    3: "the client sent the 8-byte protocol header, and nothing more",
    4: "the client published for the first time: the whole handshake, channel 1 "
    "and one Basic.Publish",
}


async def _listed(port: int | None) -> tuple[list[JSON], int]:
    """The broker's rows for the connection from `port`, and how many others."""
    out = await broker.rabbitmqctl(
        "list_connections", *COLUMNS, "--quiet", "--no-table-headers"
    )
    rows = [line.split("\t") for line in out.splitlines() if line.strip()]
    mine: list[JSON] = [
        dict(zip(COLUMNS[1:], (cell.strip() for cell in row[1:]), strict=False))
        for row in rows
        if row[0].strip() == str(port)
    ]
    return mine, len(rows) - len(mine)


def _status(out: str) -> Facts:
    """What `rabbitmqctl status` says of the broker's version and its sockets."""
    version = _VERSION.search(out)
    sockets = _SOCKETS.search(out)
    return {
        "broker_version": version.group(1) if version else "not shown",
        "sockets": {"used": int(sockets[1]), "limit": int(sockets[2])}
        if sockets
        else None,
    }


def _since_tcp(engine: Engine) -> datetime:
    """When TCP connected, by the wall clock (less the broker's log-clock slack)."""
    ago = engine.tap.now() - (engine.tcp_at or engine.tap.now())
    return datetime.now(UTC) - timedelta(seconds=ago) - CLOCK_SLACK


async def records(engine: Engine, stage: int) -> tuple[Facts, list[str]]:
    """What the broker records of the client's connection now, and a note.

    Raises:
        LabError: rabbitmqctl cannot be run, or failed.
    """
    client = address_of(engine.sock.getsockname()) if engine.sock else ""
    port = int(client.rsplit(":", 1)[1]) if client else None
    (mine, others), status = await asyncio.gather(
        _listed(port), broker.rabbitmqctl("status")
    )
    facts: Facts = {
        "stage": stage,
        "client": STAGES[stage],
        "client_port": port,
        "list_connections": mine,
        "other_connections_listed": others,
        "asked": f"{LISTING}; rabbitmqctl status",
        **_status(status),
    }
    log = broker.log_file()
    if log is None:
        facts["broker_log"] = "not readable here (sudo rabbitmq-diagnostics log_tail)"
    else:
        lines = broker.log_lines(log, client, _since_tcp(engine)) if client else []
        facts["broker_log"] = list(lines)
    return facts, [_note(facts)]


def _note(facts: Facts) -> str:
    """One sentence: what the client did, and what the broker recorded of it."""
    rows, port = facts["list_connections"], facts["client_port"]
    assert isinstance(rows, list)
    listed = "; ".join(
        f"state {row['state']}, user {row['user'] or '(empty)'}"
        for row in rows
        if isinstance(row, dict)
    )
    if not listed:
        listed = f"nothing from port {port}" if port else "nothing (no port yet)"
    sockets = facts["sockets"]
    counted = (
        f"status counts {sockets['used']} sockets (limit {sockets['limit']})"
        if isinstance(sockets, dict)
        else f"status (RabbitMQ {facts['broker_version']}) has no Sockets line"
    )
    log = facts["broker_log"]
    logged = (
        f"{len(log) or 'no'} log line(s) about it"
        if isinstance(log, list)
        else "the log is not readable here"
    )
    return (
        f"Stage {facts['stage']}: {facts['client']}. The broker: "
        f"list_connections {listed}; {counted}; {logged}."
    )


async def _record(engine: Engine, phase: Phase, stage: int) -> None:
    """Report the broker's records at `stage`; rabbitmqctl failing is told."""
    try:
        facts, notes = await records(engine, stage)
    except broker.LabError as exc:
        engine.fail(
            phase, f"the broker's records could not be read: {exc}", fatal=False
        )
        return
    engine.report(phase, facts, notes)


async def _no_connection(engine: Engine) -> None:
    """Stage 1, before the endpoint step: what the broker lists, unconnected.

    Run as the experiment's setup, so a rabbitmqctl that cannot run stops the
    experiment before anything connects.
    """
    facts, notes = await records(engine, 1)
    engine.report(Phase.ENDPOINT, facts, notes)


async def _tcp_only(engine: Engine) -> None:
    """Stage 2: TCP opened, and the client's first write held back."""
    await reaching.tcp(engine)
    if not engine.failed:
        await _record(engine, Phase.TCP, 2)


async def _header_only(engine: Engine) -> None:
    """Stage 3: the protocol header sent; StartOk is held back."""
    await handshake.header(engine)
    if not engine.failed:
        await _record(engine, Phase.HEADER, 3)


async def _first_publish(engine: Engine) -> None:
    """Stage 4: the first use: the rest of the handshake, a channel, a publish."""
    steps = (
        handshake.start,
        handshake.auth,
        handshake.tune,
        handshake.open_vhost,
        session.channel,
    )
    for step in steps:
        await step(engine)
        if engine.failed:
            return
    if engine.channel is not None:
        await session.OPERATIONS["publish"].run(engine, engine.channel)
    await _record(engine, Phase.OPERATIONS, 4)


EXPERIMENTS: Final = (
    Scenario(
        "lazy-client",
        "A client that connects only when it first publishes, held at each stage, "
        "with what the broker records at each",
        "topic",
        Phase.OPERATIONS,
        "the first publish opens one connection, which lives until the client "
        "closes it",
        lives_on=True,
        held=True,
        setup=_no_connection,
        steps={
            Phase.TCP: _tcp_only,
            Phase.HEADER: _header_only,
            Phase.START: None,
            Phase.AUTH: None,
            Phase.TUNE: None,
            Phase.OPEN: None,
            Phase.CHANNEL: None,
            Phase.OPERATIONS: _first_publish,
            Phase.HEARTBEAT: None,
        },
    ),
)
