"""The failure lab: every way a connection fails, provoked on the real broker.

Owns the catalogue of failure experiments: each one's title, the phase it
fails in, what RabbitMQ should do, and which steps it replaces (they are in
explorer.lab.faults). Each changes the plain lifecycle as little as it can (a
URL, a user, one step); what the broker really does is read from the wire by
`experiment.conclude`. Where aiormq cannot send what is needed (a wrong header,
TuneOk values of our own, malformed frames, silence instead of heartbeats) the
raw client does. The amqp10-* experiments speak AMQP 1.0 (Scenario.dialect).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Final

from aiormq.abc import AbstractChannel

from explorer.engine import handshake, session
from explorer.engine.core import HANDSHAKE_TIMEOUT, Engine, Operation, Step
from explorer.lab import amqp10faults, faults
from explorer.lab.experiment import Scenario, rewrite
from explorer.lab.faults import (
    RAW_FRAME_MAX,
    SHORT_HEARTBEAT,
    SILENT_CLOSE_DELAY,
    Facts,
)
from explorer.net.raw import CAPABILITIES, Handshake
from explorer.protocol.dialect import AMQP_1_0
from explorer.protocol.lifecycle import OPERATING, Phase

#: The smallest frame_max RabbitMQ 3.x and 4.0 accept (4.1 raised it to 8192).
FRAME_MIN_SIZE: Final = 4096
#: Phases a raw-client experiment leaves out (aiormq would run them).
NO_SESSION: Final[dict[Phase, Step | None]] = dict.fromkeys(OPERATING)
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
            Phase.TUNE: faults.then_wait(handshake.tune, what, SILENT_CLOSE_DELAY + 2),
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
            **NO_SESSION,
            Phase.CHANNEL: faults.raw_channel,
            Phase.OPERATIONS: faults.raw_send(what, data),
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
        steps={Phase.AUTH: faults.silent_auth, **NO_SESSION},
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
        setup=faults.no_configure_permission,
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
        steps={Phase.AUTH: faults.stall},
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
            **NO_SESSION,
            Phase.HEARTBEAT: faults.go_silent,
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
            faults.open_three,
            "The client opened channel 2, then asked for channel 3; channel_max is 2.",
        ),
    ),
    _raw_frame(
        "frame-too-large",
        "A body frame 100 bytes larger than the negotiated frame_max",
        "a body frame larger than frame_max",
        faults.too_large,
    ),
    _raw_frame(
        "bad-frame-end",
        "A method frame whose end byte is 0x00 instead of 0xCE",
        "a frame ending in 0x00",
        faults.bad_end,
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
            "qos", faults.qos_prefetch_size, "Basic.Qos asked for prefetch_size=1000."
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
            faults.forced,
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
            faults.publish_unroutable,
            "A mandatory publish to amq.direct with a routing key nothing is bound to.",
        ),
    ),
    Scenario(
        "amqp10-wrong-password",
        "AMQP 1.0: sasl-init carries a wrong password",
        "failure",
        Phase.AUTH,
        "sasl-outcome code 1 (auth), about 3 s after sasl-init; no open, no close",
        trigger="sasl-init",
        reply=("sasl-outcome", 1),
        setup=WRONG_PASSWORD,
        dialect=AMQP_1_0,
    ),
    Scenario(
        "amqp10-unknown-vhost",
        "AMQP 1.0: open's hostname names a vhost that does not exist",
        "failure",
        Phase.OPEN,
        "the broker's AMQP header, then no open and no close: a TCP reset about "
        "3 s after the client's open",
        trigger="open",
        drop_within=DROPPED_AFTER_DELAY,
        setup=rewrite(vhost="amqp-explorer-no-such-vhost"),
        dialect=AMQP_1_0,
    ),
    Scenario(
        "amqp10-missing-queue",
        "AMQP 1.0: a sender attaches to /queues/NAME for a queue that does not exist",
        "failure",
        Phase.OPERATIONS,
        "no attach back: end with amqp:not-found; the connection lives on",
        trigger="attach",
        reply=("end", "amqp:not-found"),
        lives_on=True,
        steps={Phase.OPERATIONS: amqp10faults.attach_missing},
        dialect=AMQP_1_0,
    ),
)
