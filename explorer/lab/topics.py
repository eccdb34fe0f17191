"""Experiments of the topic lessons: what one connection does beyond the handshake.

Owns the topic experiments: channels interleaving on one socket, push versus
poll, the open-file limit hit in a child process, a body split across frames,
the broker's log for one connection, an AMQP 1.0 header sent to the broker,
and one job in AMQP 0-9-1 and in 1.0 side by side (explorer.lab.sidebyside).
Each one's summary is computed from the frames that crossed the wire.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Sequence
from typing import Final

from aiormq.abc import AbstractChannel
from pamqp import commands

from explorer.engine import reaching, session
from explorer.engine.core import Engine, Operation, Step
from explorer.lab import sidebyside
from explorer.lab.experiment import Facts, Scenario, rewrite
from explorer.protocol.amqp10.frames import Header
from explorer.protocol.amqp10.queries import mechanisms_of
from explorer.protocol.content import publishes
from explorer.protocol.dialect import AMQP_1_0
from explorer.protocol.fields import JSON
from explorer.protocol.frames import B2C, C2B, Frame
from explorer.protocol.lifecycle import ORDER, Phase
from explorer.protocol.queries import channel_turns, first_named, first_payload

#: Messages sent each way in the channel and push/poll experiments.
MESSAGES: Final = 5
#: File descriptors the child may open beyond those it holds at the start.
SPARE_FILES: Final = 8
#: Where the child process finds the URL (not on its command line, which
#: any user of the machine can read).
URL_VARIABLE: Final = "AMQP_EXPLORER_CHILD_URL"
#: Seconds the child process may take.
CHILD_TIME: Final = 30.0
#: RabbitMQ's default frame_max, for a TuneOk that set none.
DEFAULT_FRAME_MAX: Final = 131072
SASL_HEADER: Final = b"AMQP\x03\x01\x00\x00"


# Two channels, one socket ---


async def _interleave(engine: Engine, first: AbstractChannel) -> Facts:
    """Publish on channels 1 and 2 at once; their frames share the socket."""
    second = await engine.need_connection().channel()

    async def publish(channel: AbstractChannel) -> None:
        for n in range(MESSAGES):
            body = f"message {n} on channel {channel.number}".encode()
            await channel.basic_publish(body, routing_key=engine.queue)

    await asyncio.gather(publish(first), publish(second))
    await second.close()
    return {"channels": [first.number, second.number], "messages_each": MESSAGES}


def _interleaving(frames: Sequence[Frame]) -> tuple[Facts, list[str]]:
    counts, turns = channel_turns(frames)
    per_channel: Facts = {str(c): n for c, n in counts.items()}
    return (
        {"client_frames_per_channel": per_channel, "channel_turns": turns},
        [
            f"The client's frames of channels 1 and 2 took turns {turns} times on the "
            "one TCP connection: each frame carries its channel number in bytes 1-2, "
            "so the broker sorts them out.",
        ],
    )


# Push versus poll ---


async def _fill(engine: Engine, opened: AbstractChannel) -> None:
    for n in range(MESSAGES):
        await opened.basic_publish(f"message {n}".encode(), routing_key=engine.queue)


async def _push(engine: Engine, opened: AbstractChannel) -> Facts:
    """Publish the messages, then subscribe and let the broker push them."""
    await _fill(engine, opened)
    got: asyncio.Queue[int] = asyncio.Queue()

    async def on_message(message: object) -> None:
        got.put_nowait(1)

    consuming = await opened.basic_consume(engine.queue, on_message, no_ack=True)
    for _ in range(MESSAGES):
        await got.get()
    assert consuming.consumer_tag is not None
    await opened.basic_cancel(consuming.consumer_tag)
    return {"messages": MESSAGES, "way": "Basic.Consume, then pushed Basic.Deliver"}


async def _poll(engine: Engine, opened: AbstractChannel) -> Facts:
    """Publish the messages, then ask for each one with Basic.Get."""
    await _fill(engine, opened)
    polls = 0
    while True:
        polls += 1
        reply = await opened.basic_get(engine.queue, no_ack=True)
        if isinstance(reply.delivery, commands.Basic.GetEmpty):
            break
    return {"messages": MESSAGES, "polls": polls}


def _window(frames: Sequence[Frame], first: str, last: str) -> list[Frame]:
    """The frames from the client's first `first` to the broker's last `last`."""
    starts = [i for i, f in enumerate(frames) if f.direction is C2B and f.name == first]
    ends = [i for i, f in enumerate(frames) if f.name == last]
    if not starts or not ends:
        return []
    return list(frames[starts[0] : ends[-1] + 1])


def _counted(frames: list[Frame]) -> Facts:
    client = [f for f in frames if f.direction is C2B]
    waits = [f for f in client if getattr(f.payload, "synchronous", False)]
    return {
        "client_frames": len(client),
        "broker_frames": len(frames) - len(client),
        "round_trips": len(waits),
        "ms": round((frames[-1].t - frames[0].t) * 1000, 2) if frames else 0,
    }


def _push_and_poll(frames: Sequence[Frame]) -> tuple[Facts, list[str]]:
    push = _counted(_window(frames, "Basic.Consume", "Basic.CancelOk"))
    poll = _counted(_window(frames, "Basic.Get", "Basic.GetEmpty"))
    return (
        {"push": push, "poll": poll},
        [
            f"{MESSAGES} messages pushed: {push['round_trips']} round trips (subscribe "
            f"and cancel). {MESSAGES} messages polled: {poll['round_trips']} round "
            "trips, one per Basic.Get and one more to learn the queue was empty.",
        ],
    )


# The open-file limit ---


async def _socket_limit(engine: Engine) -> None:
    """TCP as usual, then a child process opens connections until its limit."""
    await reaching.tcp(engine)
    if engine.failed:
        return
    silent = "the child process reported nothing"
    env = {**os.environ, URL_VARIABLE: engine.need_endpoint().aiormq_url()}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "explorer.lab.nofile",
        str(SPARE_FILES),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    what = "a child process to open connections until it reaches its open-file limit"
    out, _ = await engine.during(what, CHILD_TIME, process.communicate())
    try:
        facts: Facts = json.loads(out)
    except ValueError:
        facts = {"error": silent}
    engine.report(Phase.TCP, facts, [str(facts.get("summary", silent))])


# A body larger than a frame ---


async def _big_publish(engine: Engine, opened: AbstractChannel) -> Facts:
    """Publish a body two and a half frames long."""
    tune_ok = first_payload(engine.frames, C2B, commands.Connection.TuneOk)
    frame_max = (tune_ok.frame_max if tune_ok else 0) or DEFAULT_FRAME_MAX
    size = (frame_max - 8) * 5 // 2
    await opened.basic_publish(b"x" * size, routing_key=engine.queue)
    return {"body_size": size, "frame_max": frame_max}


def _body_frames(frames: Sequence[Frame]) -> tuple[Facts, list[str]]:
    split = next((p for p in publishes(frames) if len(p.bodies) > 1), None)
    sizes: list[JSON] = [body.size for body in split.bodies] if split else []
    return (
        {"body_frames": len(sizes), "body_frame_sizes": sizes},
        [
            f"The body went out in {len(sizes)} body frames; none is larger than "
            "frame_max, headers and end byte included."
        ],
    )


# AMQP 1.0 ---


def _amqp10_answer(frames: Sequence[Frame]) -> tuple[Facts, list[str]]:
    """The broker's answer to the SASL header, read as AMQP 1.0."""
    answer = next((f for f in frames if f.direction is B2C), None)
    if answer is None or not isinstance(answer.payload, Header):
        return {"broker_answered": None}, ["The broker sent no protocol header back."]
    shown = answer.raw.hex(" ")
    facts: Facts = {
        "amqp_1_0_header_sent": SASL_HEADER.hex(" "),
        "broker_answered": shown,
    }
    if not answer.payload.is_amqp10:
        return facts, [
            f"The broker answered {shown}, its AMQP 0-9-1 header, and closed: this "
            "broker does not speak AMQP 1.0 here (RabbitMQ 3.x needs the "
            "rabbitmq_amqp1_0 plugin; 4.x speaks it natively)."
        ]
    mechanisms = mechanisms_of(first_named(frames, B2C, "sasl-mechanisms"))
    facts["sasl_mechanisms"] = list(mechanisms)
    return facts, [
        f"The broker echoed the SASL header and offered {', '.join(mechanisms)} in "
        "sasl-mechanisms, decoded as AMQP 1.0: it speaks AMQP 1.0 on this port. "
        "Step a whole 1.0 connection with --protocol 1.0, and count it against "
        "0-9-1 with the side-by-side experiment."
    ]


async def _nothing_open(engine: Engine) -> None:
    """The explorer opened no connection of its own: nothing to close."""


async def _side_by_side(engine: Engine) -> tuple[Facts, list[str]]:
    return await sidebyside.measure(engine.need_endpoint())


#: Only the header is stepped (Proton may go on at wire speed), then the close.
HEADER_ONLY: Final[dict[Phase, Step | None]] = dict.fromkeys(
    (Phase.AUTH, Phase.OPEN, Phase.CHANNEL, Phase.OPERATIONS, Phase.HEARTBEAT)
)
#: Only the endpoint is stepped: the jobs run on connections of their own.
MEASURED_ONLY: Final[dict[Phase, Step | None]] = {
    **dict.fromkeys(p for p in ORDER if p is not Phase.ENDPOINT),
    Phase.CLOSE: _nothing_open,
}


def _ops(**runs: Operation) -> dict[str, Operation]:
    return {"declare": session.OPERATIONS["declare"], **runs}


EXPERIMENTS: Final = (
    Scenario(
        "two-channels",
        "Two channels publishing at once over one TCP connection",
        "topic",
        Phase.OPERATIONS,
        "the frames of channels 1 and 2 interleave on the one socket",
        lives_on=True,
        operations=_ops(
            interleave=Operation(
                _interleave,
                "Channel 2 opened beside channel 1; both published at the same time.",
            )
        ),
        summary=_interleaving,
    ),
    Scenario(
        "push-vs-poll",
        f"{MESSAGES} messages consumed by subscription, then {MESSAGES} by Basic.Get",
        "topic",
        Phase.OPERATIONS,
        "push: two round trips for all messages; poll: one per message, plus one",
        lives_on=True,
        operations=_ops(
            push=Operation(
                _push, "Basic.Consume once; the broker pushed every message."
            ),
            poll=Operation(
                _poll, "Basic.Get for every message, and once more to find none."
            ),
        ),
        summary=_push_and_poll,
    ),
    Scenario(
        "socket-limit",
        "A child process with a lowered open-file limit opens connections until "
        "it cannot",
        "topic",
        Phase.TCP,
        "the child's connections fail with 'Too many open files' at its limit",
        lives_on=True,
        steps={Phase.TCP: _socket_limit},
    ),
    Scenario(
        "body-split",
        "A publish whose body is two and a half times frame_max",
        "topic",
        Phase.OPERATIONS,
        "the body goes out in three body frames, each at most frame_max",
        lives_on=True,
        operations=_ops(
            **{
                "big-publish": Operation(
                    _big_publish,
                    "One Basic.Publish, one content header, then the body in pieces.",
                )
            }
        ),
        summary=_body_frames,
    ),
    Scenario(
        "broker-log",
        "A named connection, and the broker's log lines about it",
        "topic",
        Phase.CLOSE,
        "the log says accepting, the client-provided name, authenticated, closing",
        lives_on=True,
        setup=rewrite(connection_name="amqp-explorer-log-demo"),
    ),
    Scenario(
        "amqp-1.0",
        "An AMQP 1.0 SASL header sent to the AMQP port",
        "topic",
        Phase.HEADER,
        "RabbitMQ 3.x answers with its 0-9-1 header and closes; 4.x speaks AMQP 1.0",
        summary=_amqp10_answer,
        steps=HEADER_ONLY,
        dialect=AMQP_1_0,
    ),
    Scenario(
        "side-by-side",
        "One job (connect, authenticate, open, send one message, receive it, "
        "close) in AMQP 0-9-1 and in AMQP 1.0, counted on the wire",
        "topic",
        Phase.CLOSE,
        "both jobs complete (on 3.x the 1.0 one is refused without its plugin); "
        "frames, bytes and round trips of each, side by side",
        steps=MEASURED_ONLY,
        measure=_side_by_side,
    ),
)
