"""The AMQP 1.0 connection's open phases: begin, operations, linger, close.

Owns what Proton (explorer.net.amqp10) is asked to do once the 1.0 handshake
is over: begin a session (CHANNEL); attach a sender to ``/queues/NAME``, send
one message, attach a receiver, receive it (one OPERATIONS step each); keep
the connection open while the idle-time-out's empty frames pass (HEARTBEAT);
detach both links, end the session and close (CLOSE). Every report is built
from the frames the tap decoded. The queue is declared, and deleted once the
run ends, over a separate AMQP 0-9-1 connection (aiormq, not through the tap):
RabbitMQ 4.0's ``/queues/NAME`` address names a queue that must exist.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Final, TypeVar

import aiormq
from aiormq.abc import AbstractChannel as Channel

from explorer.engine import diagnosis
from explorer.net.amqp10 import Amqp10Client, Amqp10Error, Amqp10TimeoutError
from explorer.protocol.amqp10 import queries, report
from explorer.protocol.amqp10.frames import HEARTBEAT
from explorer.protocol.fields import JSON
from explorer.protocol.frames import B2C, C2B, Direction, Frame
from explorer.protocol.lifecycle import Phase

if TYPE_CHECKING:
    from explorer.engine.core import Engine

Facts = dict[str, JSON]
T = TypeVar("T")
#: The body of the one message sent and received.
BODY: Final = "hello from amqp-explorer"
#: What to check when the side connection that declares the queue fails.
SIDE_ADVICE: Final = (
    "RabbitMQ 4.x's /queues/NAME address names a queue that must exist, so the "
    "explorer declares one over AMQP 0-9-1 on the same port, as the URL's user: "
    "that user needs configure permission on the vhost (rabbitmqctl "
    "list_permissions -p VHOST); the broker's log says why "
    "(rabbitmq-diagnostics log_tail)"
)
#: The most seconds the heartbeat step lingers for the broker's empty frames.
LINGER_MAX: Final = 5.0


async def begin(engine: Engine) -> None:
    """Begin a session: the client's begin, the broker's answering begin."""
    try:
        await engine.need_amqp10().begin()
    except Amqp10Error as exc:
        _failed(engine, Phase.CHANNEL, "begin", exc)
        return
    ours, theirs = engine.frame(C2B, "begin"), engine.frame(B2C, "begin")
    if ours is not None and theirs is not None:
        engine.report(Phase.CHANNEL, *report.begin_facts(ours, theirs))


def _failed(engine: Engine, phase: Phase, step: str, exc: Amqp10Error) -> None:
    """A step the broker refused (its frame told why) or did not answer."""
    if engine.failed:
        return  # the broker's frame (or the lost connection) was told as it came
    if isinstance(exc, Amqp10TimeoutError) and not engine.gone:
        diagnosis.stalled(engine, phase, doing=step, fatal=False)
    else:
        engine.fail(phase, f"{step} failed: {exc}", fatal=False)


async def operation(engine: Engine) -> None:
    """Run the next operation; the broker answers each with frames of its own."""
    name = engine.operations.pop(0)
    engine.model.enter(Phase.OPERATIONS)
    client = engine.need_amqp10()
    if engine.gone or client.session is None:
        engine.operations.clear()
        return
    before = len(engine.frames)
    try:
        facts = await OPERATIONS[name](engine, client)
    except Amqp10Error as exc:
        engine.operations.clear()  # the session (or link) is gone
        _failed(engine, Phase.OPERATIONS, name, exc)
        return
    except SideError as exc:
        engine.operations.clear()  # no queue: nothing can be sent or received
        engine.fail(
            Phase.OPERATIONS, f"{name} failed: {exc}", advice=SIDE_ADVICE, fatal=False
        )
        return
    frames = engine.frames[before:]
    facts = {
        "operation": name,
        **facts,
        "client_sent": [f.name for f in frames if f.direction is C2B],
        "broker_sent": [f.name for f in frames if f.direction is B2C],
    }
    engine.report(Phase.OPERATIONS, facts, [NOTES[name]])


class SideError(Exception):
    """The separate AMQP 0-9-1 connection that declares (or deletes) the run's
    queue failed; the message says what it was doing, and why."""


async def _aside(
    engine: Engine, doing: str, work: Callable[[Channel], Awaitable[T]]
) -> T:
    """Run `work` on a channel of a separate AMQP 0-9-1 connection (aiormq,
    the URL's user and vhost, PLAIN, not through the tap), within engine.wait.

    Raises:
        SideError: anything went wrong there, saying what (`doing`).
    """
    try:
        async with asyncio.timeout(engine.wait):
            side = await aiormq.connect(engine.need_endpoint().aiormq_url())
            try:
                return await work(await side.channel())
            finally:
                await side.close()
    except Exception as exc:  # whatever fails there is the side connection's
        reason = (
            f"no answer within {engine.wait:g} s"
            if isinstance(exc, TimeoutError)
            else f"{type(exc).__name__}: {exc}"
        )
        raise SideError(
            f"the explorer's separate AMQP 0-9-1 connection (aiormq, not "
            f"recorded), {doing}, failed: {reason}"
        ) from exc


async def _declare(engine: Engine) -> str:
    """Declare the run's queue over 0-9-1 (once); it is deleted when the run ends."""
    if engine.queue:
        return engine.queue  # declared already, or named by an experiment

    async def declare(channel: Channel) -> str:
        return str((await channel.queue_declare("")).queue)

    engine.queue = await _aside(engine, "declaring the run's queue", declare)

    async def delete(channel: Channel) -> None:
        await channel.queue_delete(engine.queue)

    engine.cleanups.append(partial(_aside, engine, "deleting the run's queue", delete))
    return engine.queue


async def _attach_sender(engine: Engine, client: Amqp10Client) -> Facts:
    address = f"/queues/{await _declare(engine)}"
    await client.attach_sender(address)
    assert client.sender is not None
    return {"address": address, "credit": client.sender.credit}


async def _send(engine: Engine, client: Amqp10Client) -> Facts:
    await client.send(BODY)
    return {"body": BODY, "outcome": _outcome(engine, B2C)}


async def _attach_receiver(engine: Engine, client: Amqp10Client) -> Facts:
    address = f"/queues/{await _declare(engine)}"
    await client.attach_receiver(address)
    return {"address": address}


async def _receive(engine: Engine, client: Amqp10Client) -> Facts:
    body = await client.receive()
    return {"body": str(body), "outcome": _outcome(engine, C2B)}


def _outcome(engine: Engine, direction: Direction) -> JSON:
    """The delivery state of the last disposition sent in `direction`."""
    return queries.last_state(engine.frames, direction)


OPERATIONS: Final[Mapping[str, Callable[[Engine, Amqp10Client], Awaitable[Facts]]]] = {
    "attach-sender": _attach_sender,
    "send": _send,
    "attach-receiver": _attach_receiver,
    "receive": _receive,
}
#: One sentence per operation for its report: what the broker did.
NOTES: Final = {
    "attach-sender": "attach names a link and its target, /queues/NAME (RabbitMQ "
    "4.x's address of a queue, which must exist: the explorer declared it over a "
    "separate AMQP 0-9-1 connection); RabbitMQ answers with its attach and a flow "
    "granting link-credit: the messages the client may send.",
    "send": "One transfer carries the message; RabbitMQ settles it with a "
    "disposition whose state is accepted, once the queue has it.",
    "attach-receiver": "A second link on the same session, its source the same "
    "queue; nothing flows until the client grants credit.",
    "receive": "The client's flow grants one credit; RabbitMQ transfers the "
    "message, and the client's disposition accepts and settles it.",
}


async def linger(engine: Engine) -> None:
    """Keep the connection open while the empty frames of idle-time-out pass."""
    engine.model.enter(Phase.HEARTBEAT)
    client = engine.need_amqp10()
    facts, _ = report.open_facts(*_opens(engine))
    idle = facts["idle-time-out"]
    assert isinstance(idle, dict)
    ours, theirs = idle["client"], idle["broker"]
    assert isinstance(ours, int | None)
    assert isinstance(theirs, int | None)
    seconds = min(LINGER_MAX, (ours or 0) / 1000 + 0.5) if ours else 0.0
    beats = {d: engine.count(d, HEARTBEAT) for d in Direction}
    began = engine.tap.now()
    if seconds and not engine.gone:
        try:
            what = "the broker's empty frames (the idle-time-out the client announced)"
            await engine.during(what, round(seconds + 2), client.linger(seconds))
        except Amqp10Error as exc:
            _failed(engine, Phase.HEARTBEAT, "linger", exc)
    seconds = engine.tap.now() - began
    got = {d: engine.count(d, HEARTBEAT) - beats[d] for d in Direction}
    engine.report(
        Phase.HEARTBEAT,
        {
            "idle-time-out": {"client": ours, "broker": theirs},
            "lingered_s": round(seconds, 1),
            "empty_frames_from_broker": got[B2C],
            "empty_frames_from_client": got[C2B],
        },
        [
            f"For {seconds:.1f} s nothing else was sent: the broker sent "
            f"{got[B2C]} empty frames, the client {got[C2B]}.",
            "An empty frame (8 bytes, no performative) is AMQP 1.0's heartbeat: "
            "each side must send something within the idle-time-out the other "
            f"announced (client {ours} ms, broker {theirs} ms). RabbitMQ 4.0.5 "
            "sends one every half of the client's; Proton every half of the "
            "broker's.",
        ],
    )


def _opens(engine: Engine) -> tuple[Frame, Frame]:
    ours, theirs = engine.frame(C2B, "open"), engine.opened()
    assert ours is not None, "the connection is open"
    assert theirs is not None, "the connection is open"
    return ours, theirs


async def close(engine: Engine) -> None:
    """Detach both links, end the session, close; then watch TCP close."""
    engine.closing = True
    await engine.stop_connecting()  # a handshake cut short (an experiment's)
    client = engine.amqp10
    if engine.fatal and C2B not in engine.ended:
        # The handshake failed (or the broker closed): there is no AMQP
        # connection to close, and RabbitMQ 4.0.5 waits 3 s after a failed
        # sasl-outcome before it resets TCP itself.
        engine.drop()
    elif not engine.gone and client is not None:
        try:
            await client.close()
        except Amqp10Error as exc:
            if not engine.failed:
                engine.fail(Phase.CLOSE, f"close failed: {exc}")
            engine.drop()
    await engine.until(
        lambda: len(engine.ended) == len(Direction), 3, even_if_gone=True
    )
    closes = [f for f in engine.frames if f.name == "close"]
    facts: Facts = {
        "closed_first_by": closes[0].direction.sender if closes else None,
        "tcp": {d.sender: end.reason for d, end in engine.ended.items()},
    }
    if [f.direction for f in closes] == [C2B, B2C] and not engine.failed:
        note = (
            "detach for each link, end for the session, then close: each answered "
            "by the broker's own; then the client closes TCP and RabbitMQ 4.0.5 "
            "resets its side."
        )
    elif closes:
        note = f"{closes[0].direction.sender} sent close first."
    else:
        note = "The connection is gone: nothing is left to close."
    engine.report(Phase.CLOSE, facts, [note])
