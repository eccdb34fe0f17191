"""Phases of the open connection: channel, operations, heartbeat, close.

Owns what aiormq is asked to do once the handshake is over (open channel 1,
declare, publish, consume, get, close) and what each step reports.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Final

import aiormq
from aiormq.abc import AbstractChannel, DeliveredMessage
from aiormq.exceptions import AMQPError
from pamqp import commands

from explorer.engine import diagnosis
from explorer.engine.experiment import Operation
from explorer.protocol import report
from explorer.protocol.fields import JSON
from explorer.protocol.frames import B2C, C2B, Direction
from explorer.protocol.lifecycle import PERMISSIONS, Phase
from explorer.protocol.queries import first_payload

if TYPE_CHECKING:
    from explorer.engine.core import Engine

Facts = dict[str, JSON]
#: Heartbeat intervals up to this many seconds are waited for and shown.
WATCHED_HEARTBEAT: Final = 10
#: The least time aiormq's close is given: it waits this long for the broker's
#: Connection.CloseOk before closing TCP itself, and a shorter wait would cut
#: the close short from outside.
CLOSE_WAIT: Final = aiormq.Connection.READER_CLOSE_TIMEOUT + 1.0


async def channel(engine: Engine) -> None:
    """Open channel 1; aiormq adds Confirm.Select by itself."""
    opening = engine.need_connection().channel()
    try:
        engine.channel = await diagnosis.in_time(engine, Phase.CHANNEL, opening)
    except diagnosis.StallError:
        return
    tune_ok = first_payload(engine.frames, C2B, commands.Connection.TuneOk)
    limit = tune_ok.channel_max if tune_ok is not None else None
    number = engine.channel.number
    facts: Facts = {
        "channel": number,
        "publisher_confirms": engine.seen(C2B, "Confirm.Select"),
        "channel_max": limit,
    }
    engine.report(
        Phase.CHANNEL,
        facts,
        [
            f"Channel {number} shares the one TCP connection; this connection may "
            f"number its channels 1 to {limit}.",
            "aiormq sends Confirm.Select by itself: from now on the broker "
            "acknowledges every publish on this channel with Basic.Ack.",
        ],
    )


async def operation(engine: Engine) -> None:
    """Run the next operation; each one is authorised by the broker."""
    name = engine.operations.pop(0)
    engine.model.enter(Phase.OPERATIONS)
    opened = engine.channel
    if opened is None or opened.is_closed:
        engine.operations.clear()
        return
    before = len(engine.frames)
    running = operation_named(engine, name).run(engine, opened)
    try:
        facts = await diagnosis.in_time(
            engine, Phase.OPERATIONS, running, doing=name, fatal=False
        )
    except diagnosis.StallError:
        engine.operations.clear()  # the broker is silent
        return
    except AMQPError as exc:
        engine.operations.clear()  # the channel is closed: its Close was told
        if not engine.failed:
            engine.fail(Phase.OPERATIONS, f"{name} failed: {exc}", fatal=False)
        return
    frames = engine.frames[before:]
    sent = [f.name for f in frames if f.direction is C2B]
    checked = sorted(
        {f"{right} on {what}" for n in sent for right, what in PERMISSIONS.get(n, ())}
    )
    facts = {
        "operation": name,
        **facts,
        "client_sent": list(sent),
        "broker_sent": [f.name for f in frames if f.direction is B2C],
        "permissions_checked": list(checked),
    }
    engine.report(Phase.OPERATIONS, facts, [operation_named(engine, name).note])


def operation_named(engine: Engine, name: str) -> Operation:
    """The operation `name` stands for in this run."""
    return engine.own_operations.get(name) or OPERATIONS[name]


async def _declare(engine: Engine, opened: AbstractChannel) -> Facts:
    declared = await opened.queue_declare(exclusive=True)
    engine.queue = str(declared.queue)
    return {"queue": engine.queue, "exclusive": True}


async def _publish(engine: Engine, opened: AbstractChannel) -> Facts:
    body = b"hello from amqp-explorer"
    await opened.basic_publish(body, routing_key=engine.queue)
    return {"exchange": "", "routing_key": engine.queue, "body_size": len(body)}


async def _consume(engine: Engine, opened: AbstractChannel) -> Facts:
    delivered: asyncio.Future[DeliveredMessage] = (
        asyncio.get_running_loop().create_future()
    )

    async def on_message(message: DeliveredMessage) -> None:
        if not delivered.done():
            delivered.set_result(message)

    consuming = await opened.basic_consume(engine.queue, on_message)
    message = await delivered
    assert message.delivery_tag is not None
    assert consuming.consumer_tag is not None
    await opened.basic_ack(message.delivery_tag)
    await opened.basic_cancel(consuming.consumer_tag)
    return {
        "consumer_tag": consuming.consumer_tag,
        "delivery_tag": message.delivery_tag,
    }


async def _get(engine: Engine, opened: AbstractChannel) -> Facts:
    await opened.basic_publish(b"waiting to be polled", routing_key=engine.queue)
    polled = await opened.basic_get(engine.queue)
    assert polled.delivery_tag is not None
    await opened.basic_ack(polled.delivery_tag)
    await opened.basic_get(engine.queue)
    return {"polls": 2, "messages": 1}


OPERATIONS: Final = {
    "declare": Operation(
        _declare,
        "Queue.Declare with an empty name: the broker names the queue. It checked "
        "the user's configure permission first.",
    ),
    "publish": Operation(
        _publish,
        "A publish is a method frame, a content header and body frames. The broker "
        "checked write permission on the exchange and confirmed with Basic.Ack.",
    ),
    "consume": Operation(
        _consume,
        "Basic.Consume subscribes: the broker pushes Basic.Deliver without being "
        "asked again. It checked read permission on the queue.",
    ),
    "get": Operation(
        _get,
        "Basic.Get polls: one round trip per message, and Basic.GetEmpty when none "
        "waits. The broker checked read permission on the queue each time.",
    ),
}


async def heartbeat(engine: Engine) -> None:
    """Heartbeats both ways while the connection stays open."""
    engine.model.enter(Phase.HEARTBEAT)
    tune_ok = first_payload(engine.frames, C2B, commands.Connection.TuneOk)
    interval = int(tune_ok.heartbeat) if tune_ok is not None else 0
    if 0 < interval <= WATCHED_HEARTBEAT:
        beats = engine.count(B2C, "Heartbeat")
        await engine.until(
            lambda: engine.count(B2C, "Heartbeat") > beats, interval / 2 + 1.5
        )
    now = engine.tap.now()
    # aiormq 7.2.4 (Connection.__heartbeat) sleeps max(1, heartbeat // 2) s
    # between its heartbeats from the end of the handshake on, traffic or not;
    # RabbitMQ sends one only after half the timeout in which it sent nothing.
    every = max(1, interval // 2) if interval > 0 else None
    facts: Facts = {
        "heartbeat": interval,
        "broker_sends_after_silence": interval / 2,
        "client_sends_every": every,
        "heartbeats_from_broker": engine.count(B2C, "Heartbeat"),
        "heartbeats_from_client": engine.count(C2B, "Heartbeat"),
        "since_last_from_broker": round(now - engine.last_time(B2C), 3),
        "since_last_from_client": round(now - engine.last_time(C2B), 3),
    }
    if not interval:
        notes = [
            "Heartbeats are off (TuneOk carried 0): a dead peer is noticed only by "
            "TCP, which can take a very long time."
        ]
    else:
        notes = [
            f"aiormq sends a Heartbeat every {every} s, whatever else it sends. "
            f"RabbitMQ checks every {interval / 2:g} s and sends one only when it "
            "sent nothing since its last check. Any frame is a sign of life: "
            f"RabbitMQ drops a client that is silent for 2 to 3 times {interval} s."
        ]
    if interval > WATCHED_HEARTBEAT:
        notes.append(
            f"At this heartbeat they are {every} s or more apart; connect with "
            "?heartbeat=2 to watch them arrive."
        )
    engine.report(Phase.HEARTBEAT, facts, notes)


async def close(engine: Engine) -> None:
    """Close the channel, then the connection, then watch TCP close."""
    engine.closing = True
    connection = engine.connection
    if engine.fatal and not engine.gone:
        engine.drop()  # the handshake failed: there is no AMQP connection to close
    elif not engine.gone and connection is not None:
        try:
            if engine.channel is not None and not engine.channel.is_closed:
                await diagnosis.in_time(engine, Phase.CLOSE, engine.channel.close())
            async with asyncio.timeout(max(engine.wait, CLOSE_WAIT)):
                await connection.close(exc=None)
        except (diagnosis.StallError, TimeoutError):
            engine.drop()  # told: the stall, or (below) the Close left unanswered
    await engine.until(
        lambda: len(engine.ended) == len(Direction), 3, even_if_gone=True
    )
    unfinished = diagnosis.unfinished_close(engine)
    if unfinished is not None:
        engine.fail(Phase.CLOSE, unfinished, advice=diagnosis.UNFINISHED_CLOSE_ADVICE)
    closing = engine.frame(C2B, "Connection.Close") or engine.frame(
        B2C, "Connection.Close"
    )
    facts: Facts = {}
    if closing is not None:
        facts.update(report.close_facts(closing)[0])
    facts["tcp"] = {d.sender: end.reason for d, end in engine.ended.items()}
    if unfinished is not None:
        note = "Connection.Close went out, and no Connection.CloseOk came back."
    elif closing is not None and not engine.failed:
        note = (
            "Channel.Close/CloseOk, then Connection.Close/CloseOk, then both sides "
            "close the TCP connection."
        )
    else:
        note = "The connection is gone: nothing is left to close."
    engine.report(Phase.CLOSE, facts, [note])
