"""The failure lab: every way a connection fails, provoked on the real broker.

Owns the failure experiments. Each one changes the plain lifecycle as little
as it can (a URL, a user, one step) and names what RabbitMQ should do; what the
broker really does is read from the wire by `experiment.conclude`. Where
aiormq cannot send what is needed (a wrong header, TuneOk values of our own,
malformed frames, silence instead of heartbeats) the raw client does.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Final

from aiormq.abc import AbstractChannel
from aiormq.exceptions import AMQPError
from pamqp import commands, frame
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

from explorer.engine import handshake, session
from explorer.engine.core import HANDSHAKE_TIMEOUT, Engine, Operation, Step
from explorer.lab import broker
from explorer.lab.experiment import Scenario, rewrite
from explorer.net.endpoint import parse
from explorer.net.raw import CAPABILITIES, Handshake
from explorer.protocol.fields import JSON
from explorer.protocol.frames import B2C, C2B
from explorer.protocol.lifecycle import Phase

#: RabbitMQ waits this long before it drops a connection it refused silently.
SILENT_CLOSE_DELAY: Final = 3.0
#: The heartbeat the heartbeat-timeout experiment negotiates, in seconds.
SHORT_HEARTBEAT: Final = 2
#: The smallest frame_max RabbitMQ 3.x and 4.0 accept (4.1 raised it to 8192).
FRAME_MIN_SIZE: Final = 4096
#: The frame_max the malformed-frame experiments negotiate: every version accepts it.
RAW_FRAME_MAX: Final = 8192
Facts = dict[str, JSON]
#: Raw writes up to this long are shown byte for byte in the report.
SHOWN_BYTES: Final = 64
#: Phases a raw-client experiment leaves out (aiormq would run them).
NO_SESSION: Final[dict[Phase, Step | None]] = {
    Phase.CHANNEL: None,
    Phase.OPERATIONS: None,
    Phase.HEARTBEAT: None,
}


# Setting up ---


async def _no_configure_permission(engine: Engine) -> None:
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


async def _silent_auth(engine: Engine) -> None:
    """Send StartOk and wait out the broker's delay before a silent close."""
    await engine.send_next()
    what = (
        f"the broker's {SILENT_CLOSE_DELAY:g} s delay before it drops a refused login"
    )
    await engine.wait_for(what, SILENT_CLOSE_DELAY + 2, lambda: engine.gone)
    handshake.judge_auth(engine)


async def _stall(engine: Engine) -> None:
    """Send nothing more: the broker's handshake_timeout runs out."""
    engine.trigger_at = engine.tcp_at
    left = engine.handshake_time_left() or 0.0
    what = f"the broker's handshake_timeout: {HANDSHAKE_TIMEOUT:g} s after TCP accept"
    await engine.wait_for(what, left + 2, lambda: engine.gone)
    handshake.judge_auth(engine)


async def _go_silent(engine: Engine) -> None:
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


async def _raw_channel(engine: Engine) -> None:
    """Open channel 1 by hand."""
    engine.need_raw().send(1, commands.Channel.Open())
    await engine.until(lambda: engine.seen(B2C, "Channel.OpenOk"))
    engine.report(
        Phase.CHANNEL, {"channel": 1}, ["Channel 1 opened by the raw client."]
    )


def _raw_send(what: str, data: Callable[[Engine], bytes]) -> Step:
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


def _too_large(engine: Engine) -> bytes:
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


def _bad_end(engine: Engine) -> bytes:
    """A Basic.Qos frame whose last byte is 0x00 instead of the frame end 0xCE."""
    good = frame.marshal(commands.Basic.Qos(prefetch_count=1), 1)
    return good[:-1] + b"\x00"


# Operations through aiormq ---


async def _open_three(engine: Engine, opened: AbstractChannel) -> Facts:
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


async def _qos_prefetch_size(engine: Engine, opened: AbstractChannel) -> Facts:
    await opened.basic_qos(prefetch_size=1000, prefetch_count=10)
    return {"prefetch_size": 1000}


async def _forced(engine: Engine, opened: AbstractChannel) -> Facts:
    port = int(engine.tap.client_address.rsplit(":", 1)[1])
    reason = "closed by amqp-explorer's failure lab"
    engine.trigger_at = engine.tap.now()
    what = "rabbitmqctl close_connection (it starts an Erlang VM first)"
    await engine.during(what, broker.CTL_TIMEOUT, broker.close_connection(port, reason))
    closed = await engine.until(lambda: engine.gone)
    return {"rabbitmqctl": f"close_connection <pid> {reason!r}", "closed": closed}


async def _publish_unroutable(engine: Engine, opened: AbstractChannel) -> Facts:
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


WRONG_PASSWORD: Final = rewrite(password="not-the-password-" + secrets.token_hex(2))
DROPPED_AFTER_DELAY: Final = (SILENT_CLOSE_DELAY - 0.5, SILENT_CLOSE_DELAY + 1.5)
TUNE_REFUSED: Final = (
    "no Close frame; the broker drops the socket about 3 s after TuneOk"
)


def _refused_tune(name: str, title: str, plan: Handshake) -> Scenario:
    """TuneOk carries a value the broker refuses: it waits 3 s and drops us."""
    what = f"the broker's {SILENT_CLOSE_DELAY:g} s delay before it drops the connection"
    return Scenario(
        name,
        title,
        "failure",
        Phase.TUNE,
        TUNE_REFUSED,
        trigger="Connection.TuneOk",
        drop_within=DROPPED_AFTER_DELAY,
        handshake=plan,
        steps={
            Phase.TUNE: then_wait(handshake.tune, what, SILENT_CLOSE_DELAY + 2),
            **NO_SESSION,
        },
    )


def _raw_frame(
    name: str, title: str, what: str, data: Callable[[Engine], bytes]
) -> Scenario:
    """After a raw handshake and channel 1, one frame the broker must refuse."""
    return Scenario(
        name,
        title,
        "failure",
        Phase.OPERATIONS,
        "Connection.Close 501 FRAME_ERROR",
        trigger=what,
        reply=("Connection.Close", 501),
        handshake=Handshake(frame_max=RAW_FRAME_MAX),
        steps={
            Phase.CHANNEL: _raw_channel,
            Phase.OPERATIONS: _raw_send(what, data),
            Phase.HEARTBEAT: None,
        },
    )


def _operation(
    name: str, run: Callable[[Engine, AbstractChannel], Awaitable[Facts]], note: str
) -> dict[str, Operation]:
    return {name: Operation(run, note)}


EXPERIMENTS: Final = (
    Scenario(
        "wrong-password",
        "Connection.StartOk carries a wrong password",
        "failure",
        Phase.AUTH,
        "Connection.Close 403 ACCESS_REFUSED right after StartOk",
        trigger="Connection.StartOk",
        reply=("Connection.Close", 403),
        setup=WRONG_PASSWORD,
    ),
    Scenario(
        "wrong-password-silent",
        "A wrong password from a client without authentication_failure_close",
        "failure",
        Phase.AUTH,
        "no frame at all; the broker drops the socket about 3 s after StartOk",
        trigger="Connection.StartOk",
        drop_within=DROPPED_AFTER_DELAY,
        setup=WRONG_PASSWORD,
        handshake=Handshake(
            capabilities={
                k: v
                for k, v in CAPABILITIES.items()
                if k != "authentication_failure_close"
            }
        ),
        steps={Phase.AUTH: _silent_auth, **NO_SESSION},
    ),
    Scenario(
        "unknown-vhost",
        "Connection.Open names a vhost that does not exist",
        "failure",
        Phase.OPEN,
        "Connection.Close 530 NOT_ALLOWED in answer to Connection.Open",
        trigger="Connection.Open",
        reply=("Connection.Close", 530),
        setup=rewrite(vhost="amqp-explorer-no-such-vhost"),
    ),
    Scenario(
        "no-permission",
        "A user who may not configure anything declares a queue",
        "failure",
        Phase.OPERATIONS,
        "Channel.Close 403 ACCESS_REFUSED on Queue.Declare; the connection lives on",
        trigger="Queue.Declare",
        reply=("Channel.Close", 403),
        lives_on=True,
        setup=_no_configure_permission,
        operations={"declare": session.OPERATIONS["declare"]},
    ),
    Scenario(
        "wrong-protocol",
        "The protocol header asks for AMQP 0-10 instead of 0-9-1",
        "failure",
        Phase.HEADER,
        "the broker's own header (AMQP 0-9-1 on 3.x, AMQP 3-1-0-0 on 4.x), then it "
        "drops the socket at once",
        trigger="ProtocolHeader",
        drop_within=(0.0, 1.0),
        handshake=Handshake(header=b"AMQP\x01\x01\x00\x0a"),
    ),
    Scenario(
        "handshake-timeout",
        "The client stops after Connection.Start and says nothing more",
        "failure",
        Phase.AUTH,
        "no frame; the broker drops the socket 10 s after it accepted TCP",
        trigger="TCP accept",
        drop_within=(HANDSHAKE_TIMEOUT - 0.5, HANDSHAKE_TIMEOUT + 1.5),
        steps={Phase.AUTH: _stall},
        held=True,
    ),
    Scenario(
        "heartbeat-timeout",
        f"A {SHORT_HEARTBEAT} s heartbeat, then no frame at all from the client",
        "failure",
        Phase.HEARTBEAT,
        f"no Close frame; the broker drops the socket 2 to 3 intervals after the "
        f"client's last frame: by {3 * SHORT_HEARTBEAT} s, give or take a little",
        trigger="the client's last frame",
        drop_within=(2 * SHORT_HEARTBEAT - 0.5, 3 * SHORT_HEARTBEAT + 1),
        handshake=Handshake(heartbeat=SHORT_HEARTBEAT),
        steps={
            Phase.CHANNEL: None,
            Phase.OPERATIONS: None,
            Phase.HEARTBEAT: _go_silent,
        },
    ),
    Scenario(
        "channel-max",
        "channel_max=2, then a third channel",
        "failure",
        Phase.CHANNEL,
        "Connection.Close 530 NOT_ALLOWED when channel 3 is opened",
        trigger="Channel.Open",
        reply=("Connection.Close", 530),
        setup=rewrite(channel_max="2"),
        operations=_operation(
            "open-three",
            _open_three,
            "The client opened channel 2, then asked for channel 3; channel_max is 2.",
        ),
    ),
    _raw_frame(
        "frame-too-large",
        "A body frame 100 bytes larger than the negotiated frame_max",
        "a body frame larger than frame_max",
        _too_large,
    ),
    _raw_frame(
        "bad-frame-end",
        "A method frame whose end byte is 0x00 instead of 0xCE",
        "a frame ending in 0x00",
        _bad_end,
    ),
    _refused_tune(
        "tune-below-minimum",
        f"TuneOk asks for frame_max=1024, below RabbitMQ's minimum "
        f"({FRAME_MIN_SIZE}; 8192 since 4.1)",
        Handshake(frame_max=1024, open=False),
    ),
    _refused_tune(
        "channel-max-above",
        "TuneOk asks for channel_max=4000, above the broker's proposal",
        Handshake(channel_max=4000, open=False),
    ),
    Scenario(
        "prefetch-size",
        "Basic.Qos asks for a prefetch_size: a limit in bytes, not messages",
        "failure",
        Phase.OPERATIONS,
        "Connection.Close 540 NOT_IMPLEMENTED: the whole connection closes",
        trigger="Basic.Qos",
        reply=("Connection.Close", 540),
        operations=_operation(
            "qos", _qos_prefetch_size, "Basic.Qos asked for prefetch_size=1000."
        ),
    ),
    Scenario(
        "forced-close",
        "An operator closes the connection with rabbitmqctl close_connection",
        "failure",
        Phase.OPERATIONS,
        "Connection.Close 320 CONNECTION_FORCED with the operator's reason",
        trigger="rabbitmqctl close_connection",
        reply=("Connection.Close", 320),
        operations=_operation(
            "forced-close",
            _forced,
            "rabbitmqctl close_connection asked the broker to close this connection.",
        ),
    ),
    Scenario(
        "unroutable",
        "A mandatory publish that no queue is bound to receive",
        "failure",
        Phase.OPERATIONS,
        "Basic.Return 312 NO_ROUTE with the message; the connection lives on",
        trigger="Basic.Publish",
        reply=("Basic.Return", 312),
        lives_on=True,
        operations=_operation(
            "publish-mandatory",
            _publish_unroutable,
            "A mandatory publish to amq.direct with a routing key nothing is bound to.",
        ),
    ),
)
