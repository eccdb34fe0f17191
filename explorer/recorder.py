"""The recorder: one full lifecycle through aiormq and the tap, as a capture.

Owns `record_lifecycle`: connect, open a channel, declare a server-named
exclusive queue, publish, consume the message by subscription, publish again
and fetch it by polling (GetOk, then GetEmpty), close the channel and the
connection. Whatever fails, the capture keeps everything seen up to then,
with the password masked.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version

import aiormq
from aiormq.abc import DeliveredMessage
from pamqp import commands

from explorer.capture import Capture, redact_secrets
from explorer.endpoint import Endpoint
from explorer.net.tap import Tap, TapTransportFactory
from explorer.protocol.frames import DecodeFailure, Direction, Frame

#: How long the whole lifecycle may take before the recorder gives up.
DEFAULT_TIMEOUT = 15.0


@dataclass(slots=True)
class Recording:
    """A capture, and why the lifecycle stopped early if it did."""

    capture: Capture
    #: None when every step succeeded; otherwise what went wrong, in words.
    failure: str | None = None


async def record_lifecycle(
    endpoint: Endpoint, time_limit: float = DEFAULT_TIMEOUT
) -> Recording:
    """Run a full connection lifecycle against the broker at `endpoint`.

    Args:
        endpoint: Where to connect, parsed from the learner's URL.
        time_limit: Seconds the whole lifecycle may take.

    Returns:
        The capture (password masked) and the failure, if any.
    """
    tap = Tap()
    connection = aiormq.Connection(
        endpoint.aiormq_url(), transport_factory=TapTransportFactory(tap)
    )
    failure: str | None = None
    try:
        async with asyncio.timeout(time_limit):
            await _lifecycle(connection)
    except TimeoutError:
        failure = f"no progress within {time_limit:g} s: the peer stopped answering"
    except Exception as exc:  # every failure becomes a message
        failure = _describe(exc)
    finally:
        if not connection.is_closed:
            await _close_quietly(connection)
    capture = Capture(
        url=endpoint.redacted,
        recorded=datetime.now(UTC).isoformat(timespec="seconds"),
        client=f"aiormq {version('aiormq')}",
        client_address=tap.client_address,
        broker_address=tap.broker_address,
        events=list(tap.events),
    )
    capture.broker = _broker(capture)
    redact_secrets(capture)
    if failure is not None:
        failure = _reason_on_the_wire(capture) or failure
    return Recording(capture, failure)


async def _lifecycle(connection: aiormq.Connection) -> None:
    await connection.connect()
    channel = await connection.channel()
    # Exclusive: only this connection may use it, and it goes when the connection
    # closes. Not auto-delete, which would drop it when the consumer is cancelled.
    declared = await channel.queue_declare(exclusive=True)
    queue = declared.queue
    assert queue is not None
    delivered: asyncio.Future[DeliveredMessage] = (
        asyncio.get_running_loop().create_future()
    )

    async def on_message(message: DeliveredMessage) -> None:
        if not delivered.done():
            delivered.set_result(message)

    await channel.basic_publish(b"pushed to a subscriber", routing_key=queue)
    consuming = await channel.basic_consume(queue, on_message)
    message = await delivered
    await channel.basic_ack(_tag(message))
    assert consuming.consumer_tag is not None
    await channel.basic_cancel(consuming.consumer_tag)
    await channel.basic_publish(b"fetched by polling", routing_key=queue)
    polled = await channel.basic_get(queue)
    await channel.basic_ack(_tag(polled))
    await channel.basic_get(queue)  # the queue is empty now: Basic.GetEmpty
    await channel.close()
    await connection.close(exc=None)


def _tag(message: DeliveredMessage) -> int:
    tag = message.delivery_tag
    assert tag is not None
    return tag


async def _close_quietly(connection: aiormq.Connection) -> None:
    with contextlib.suppress(Exception, asyncio.CancelledError):  # already failing
        await asyncio.wait_for(connection.close(exc=None), timeout=3)


def _broker(capture: Capture) -> str:
    """``product version`` from the broker's Connection.Start, if one came."""
    for item in capture.decode(Direction.BROKER_TO_CLIENT):
        if isinstance(item, Frame) and isinstance(
            item.payload, commands.Connection.Start
        ):
            props = item.payload.server_properties or {}
            words = (props.get(key) for key in ("product", "version"))
            return " ".join(w for w in words if isinstance(w, str) and w)
    return ""


def _reason_on_the_wire(capture: Capture) -> str | None:
    """Why the lifecycle stopped, as the broker's own bytes tell it, if they do.

    The reply code and text of a Close the broker sent (aiormq loses the text of
    a 530), or the reason the broker's bytes could not be decoded at all.
    """
    for item in reversed(capture.decode(Direction.BROKER_TO_CLIENT)):
        if isinstance(item, DecodeFailure):
            return f"the peer does not speak AMQP 0-9-1: {item.reason}"
        if isinstance(item.payload, commands.Connection.Close | commands.Channel.Close):
            p = item.payload
            return f"the broker sent {item.name} {p.reply_code}: {p.reply_text}"
    return None


def _describe(exc: BaseException) -> str:
    """A sentence for a failure that left no Close frame on the wire."""
    cause = exc.__cause__ or exc
    if isinstance(cause, socket.gaierror):
        return f"the host name does not resolve ({cause.strerror})"
    if isinstance(cause, ConnectionRefusedError):
        return "nothing is listening at that address (connection refused)"
    if isinstance(cause, OSError) and cause.strerror:
        return f"the connection failed: {cause.strerror}"
    text = str(exc) or type(exc).__name__
    return f"the connection failed: {text}"
