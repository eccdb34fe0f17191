"""The failure lab's steps: what each failure experiment does to provoke it.

Owns the async steps the failure experiments run in place of the plain ones:
setting up a user without permissions, waiting out the broker's own timers,
raw frames aiormq would never write, and operations through aiormq that the
broker refuses. The catalogue of experiments is explorer.lab.failures.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Final

from aiormq.abc import AbstractChannel
from aiormq.exceptions import AMQPError
from pamqp import commands, frame
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

from explorer.engine import handshake
from explorer.engine.core import HANDSHAKE_TIMEOUT, Engine, Step
from explorer.lab import broker
from explorer.lab.experiment import rewrite
from explorer.net.endpoint import parse
from explorer.protocol.fields import JSON
from explorer.protocol.frames import B2C, C2B
from explorer.protocol.lifecycle import Phase

#: RabbitMQ waits this long before it drops a connection it refused silently.
SILENT_CLOSE_DELAY: Final = 3.0
#: The heartbeat the heartbeat-timeout experiment negotiates, in seconds.
SHORT_HEARTBEAT: Final = 2
#: The frame_max the malformed-frame experiments negotiate: every version accepts it.
RAW_FRAME_MAX: Final = 8192
Facts = dict[str, JSON]
#: Raw writes up to this long are shown byte for byte in the report.
SHOWN_BYTES: Final = 64


# Setting up ---


async def no_configure_permission(engine: Engine) -> None:
    """A throwaway user who may use the vhost but configure nothing in it."""
    vhost = parse(engine.url).vhost
    user, password, remove = await broker.temporary_user(vhost, ("^$", ".*", ".*"))
    engine.cleanups.append(remove)
    await rewrite(user=user, password=password)(engine)


# Waiting for the broker's own timers ---


def then_wait(step: Step, what: str, seconds: float) -> Step:
    """Run `step` (it sends), then wait for the broker to drop the connection."""

    async def waited(engine: Engine) -> None:
        await step(engine)
        await engine.wait_for(what, seconds, lambda: engine.gone)

    return waited


async def silent_auth(engine: Engine) -> None:
    """Send StartOk and wait out the broker's delay before a silent close."""
    await engine.send_next()
    what = (
        f"the broker's {SILENT_CLOSE_DELAY:g} s delay before it drops a refused login"
    )
    await engine.wait_for(what, SILENT_CLOSE_DELAY + 2, lambda: engine.gone)
    handshake.judge_auth(engine)


async def stall(engine: Engine) -> None:
    """Send nothing more: the broker's handshake_timeout runs out."""
    engine.trigger_at = engine.tcp_at
    left = engine.handshake_time_left() or 0.0
    what = f"the broker's handshake_timeout: {HANDSHAKE_TIMEOUT:g} s after TCP accept"
    await engine.wait_for(what, left + 2, lambda: engine.gone)
    handshake.judge_auth(engine)


async def go_silent(engine: Engine) -> None:
    """Send no frame at all, heartbeats included, until the broker gives up."""
    engine.model.enter(Phase.HEARTBEAT)
    engine.trigger_at = engine.last_time(C2B) or None
    what = (
        f"2 to 3 heartbeat intervals ({SHORT_HEARTBEAT} s each) without a frame from "
        "the client"
    )
    await engine.wait_for(what, SHORT_HEARTBEAT * 3 + 2, lambda: engine.gone)
    facts: Facts = {"heartbeat": SHORT_HEARTBEAT, "client_heartbeats_sent": 0}
    engine.report(
        Phase.HEARTBEAT,
        facts,
        ["The client stayed silent on purpose: no heartbeat, no other frame."],
    )


# Raw frames after the handshake ---


async def raw_channel(engine: Engine) -> None:
    """Open channel 1 by hand."""
    engine.need_raw().send(1, commands.Channel.Open())
    await engine.until(lambda: engine.seen(B2C, "Channel.OpenOk"))
    engine.report(
        Phase.CHANNEL, {"channel": 1}, ["Channel 1 opened by the raw client."]
    )


def raw_send(what: str, data: Callable[[Engine], bytes]) -> Step:
    """An operations step that writes `data` as it is and waits for the broker."""

    async def send(engine: Engine) -> None:
        engine.model.enter(Phase.OPERATIONS)
        payload = data(engine)
        engine.trigger_at = engine.tap.now()
        engine.need_raw().write(payload)
        await engine.until(lambda: engine.gone, SILENT_CLOSE_DELAY)
        shown = payload.hex(" ") if len(payload) <= SHOWN_BYTES else ""
        facts: Facts = {"sent": what, "bytes": len(payload)}
        if shown:
            facts["hex"] = shown
        engine.report(Phase.OPERATIONS, facts, [f"The raw client sent {what}."])

    return send


def too_large(engine: Engine) -> bytes:
    """A publish whose body frame is 100 bytes over the negotiated frame_max."""
    tuned = engine.need_raw().tuned
    limit = tuned.frame_max if tuned is not None else RAW_FRAME_MAX
    body = b"x" * (limit - 8 + 100)
    return b"".join(
        (
            frame.marshal(commands.Basic.Publish(routing_key="amqp-explorer"), 1),
            frame.marshal(ContentHeader(body_size=len(body)), 1),
            frame.marshal(ContentBody(body), 1),
        )
    )


def bad_end(engine: Engine) -> bytes:
    """A Basic.Qos frame whose last byte is 0x00 instead of the frame end 0xCE."""
    good = frame.marshal(commands.Basic.Qos(prefetch_count=1), 1)
    return good[:-1] + b"\x00"


# Operations through aiormq ---


async def open_three(engine: Engine, opened: AbstractChannel) -> Facts:
    """Open channel 2, then channel 3 (channel_max is 2)."""
    numbers: list[JSON] = [opened.number]
    connection = engine.need_connection()
    try:
        numbers.append((await connection.channel()).number)
        engine.trigger_at = engine.tap.now()
        numbers.append((await connection.channel()).number)
    except (AMQPError, RuntimeError) as exc:
        return {"channels_opened": numbers, "error": str(exc) or type(exc).__name__}
    return {"channels_opened": numbers}


async def qos_prefetch_size(engine: Engine, opened: AbstractChannel) -> Facts:
    """Ask for a prefetch limit in bytes, which RabbitMQ does not implement."""
    await opened.basic_qos(prefetch_size=1000, prefetch_count=10)
    return {"prefetch_size": 1000}


async def forced(engine: Engine, opened: AbstractChannel) -> Facts:
    """Have rabbitmqctl close this connection, as an operator would."""
    port = int(engine.tap.client_address.rsplit(":", 1)[1])
    reason = "closed by amqp-explorer's failure lab"
    engine.trigger_at = engine.tap.now()
    what = "rabbitmqctl close_connection (it starts an Erlang VM first)"
    await engine.during(what, broker.CTL_TIMEOUT, broker.close_connection(port, reason))
    closed = await engine.until(lambda: engine.gone)
    return {"rabbitmqctl": f"close_connection <pid> {reason!r}", "closed": closed}


async def publish_unroutable(engine: Engine, opened: AbstractChannel) -> Facts:
    """Publish, mandatory, with a routing key no queue is bound to."""
    key = f"amqp-explorer.no-route.{secrets.token_hex(3)}"
    try:
        await opened.basic_publish(
            b"nobody is listening",
            exchange="amq.direct",
            routing_key=key,
            mandatory=True,
        )
    except AMQPError as exc:
        return {"routing_key": key, "client_said": type(exc).__name__}
    return {"routing_key": key}
