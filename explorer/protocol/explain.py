"""Plain-words explanations of what the frames carry.

Owns the meaning of each capability, of each reply code, of each SASL
mechanism, the rules RabbitMQ applies to Tune/TuneOk, and what a refusing
protocol header offers. Sans-I/O.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Final

from pamqp import exceptions

CAPABILITIES: Final[dict[str, str]] = {
    "publisher_confirms": "confirms publishes with Basic.Ack/Nack after Confirm.Select",
    "exchange_exchange_bindings": "binds exchanges to exchanges (Exchange.Bind)",
    "basic.nack": "Basic.Nack: negative acknowledgements, for many messages at once",
    "consumer_cancel_notify": (
        "sends Basic.Cancel when a consumer's queue goes away, if the client "
        "advertises it too"
    ),
    "connection.blocked": (
        "sends Connection.Blocked/Unblocked around resource alarms, if the client "
        "advertises it too"
    ),
    "consumer_priorities": "honours the x-priority argument of Basic.Consume",
    "authentication_failure_close": (
        "answers a failed login with Connection.Close 403 before dropping the "
        "socket, if the client advertises it too; otherwise it just drops it"
    ),
    "per_consumer_qos": "Basic.Qos with global=false limits each consumer",
    "direct_reply_to": "the amq.rabbitmq.reply-to pseudo-queue for RPC replies",
}

MECHANISMS: Final[dict[str, str]] = {
    "PLAIN": "response is NUL, user name, NUL, password (RFC 4616, empty authzid)",
    "AMQPLAIN": (
        "response is a field table with LOGIN and PASSWORD, without the table's "
        "length prefix; RabbitMQ keeps it for old clients"
    ),
    "EXTERNAL": "response is empty: the TLS client certificate is the credential",
    "ANONYMOUS": "logs in as a configured user without credentials (RabbitMQ 4.x)",
    "RABBIT-CR-DEMO": "a challenge/response demo: Secure and SecureOk go to and fro",
}

PROTOCOL_HEADERS: Final[dict[tuple[int, int, int, int], str]] = {
    (0, 0, 9, 1): "AMQP 0-9-1 (RabbitMQ 3.x answers every header it refuses with this)",
    (
        3,
        1,
        0,
        0,
    ): "AMQP 1.0 with a SASL layer (RabbitMQ 4.x's answer to a refused header)",
    (0, 1, 0, 0): "AMQP 1.0 without SASL",
    (1, 1, 0, 9): "AMQP 0-9",
}


@dataclass(frozen=True, slots=True)
class TuneRow:
    """One negotiated value: what each side said, and the rule."""

    name: str
    proposed: int
    asked: int | None
    carried: int
    rule: str


def reply_code(code: int) -> str:
    """The spec's name and meaning for a reply code, e.g. 403 ACCESS-REFUSED."""
    if code == 200:
        return "200 REPLY-SUCCESS: a normal close"
    error = exceptions.CLASS_MAPPING.get(code)
    if error is None:
        return f"{code}: not a reply code the AMQP 0-9-1 spec defines"
    doc = " ".join((inspect.getdoc(error) or "").split())
    return f"{code} {getattr(error, 'name', '')}: {doc}"


def protocol_header(values: tuple[int, int, int, int]) -> str:
    """Name the protocol a peer's header offers."""
    name = PROTOCOL_HEADERS.get(
        values, "a protocol version this explorer does not know"
    )
    return f"{name}, header AMQP {'-'.join(map(str, values))}"


def tune_rows(
    proposed: tuple[int, int, int],
    asked: tuple[int | None, int | None, int | None],
    carried: tuple[int, int, int],
) -> list[TuneRow]:
    """channel_max, frame_max and heartbeat, each with the rule that applied.

    Args:
        proposed: The broker's Tune (channel_max, frame_max, heartbeat).
        asked: What the learner's URL asked for (None: nothing).
        carried: What the client's TuneOk carried.
    """
    rules = (
        "0 means no limit. The client may lower it but not raise it: RabbitMQ "
        "refuses a TuneOk above its value (or 0 when it set one) by dropping the "
        "socket 3 s later, without a Close (seen on 3.10.8). Channels are "
        "numbered 1 to channel_max.",
        "Largest frame in bytes, header and frame-end included; 0 means no limit. "
        "The client may lower it (not below 4096 on RabbitMQ 3.x and 4.0, 8192 "
        "on 4.1+) but not raise it. A body longer than frame_max - 8 is split "
        "across body frames.",
        "Seconds. RabbitMQ takes the TuneOk value as it is, higher or lower than "
        "its proposal; 0 turns heartbeats off. RabbitMQ sends a heartbeat when it "
        "sent nothing for heartbeat/2 s; aiormq sends one every heartbeat // 2 s "
        "whatever the traffic. RabbitMQ drops a client silent for 2 to 3 "
        "heartbeat intervals.",
    )
    names = ("channel_max", "frame_max", "heartbeat")
    return [
        TuneRow(names[i], proposed[i], asked[i], carried[i], rules[i]) for i in range(3)
    ]


ADVICE: Final[dict[int, str]] = {
    403: "check the user name, password and permissions (rabbitmqctl list_permissions)",
    530: "check that the vhost exists (rabbitmqctl list_vhosts) and that the user "
    "may use it",
    320: "an operator or the broker itself closed the connection; reconnect",
    404: "the queue or exchange does not exist",
    406: "the declaration does not match what already exists",
    501: "the client sent a malformed or oversized frame",
    540: "the client asked for something RabbitMQ does not implement; leave it out",
    312: "bind a queue that matches the routing key, or use an alternate exchange",
}
#: Advice that depends on the broker's reply text, checked before ADVICE.
ADVICE_BY_TEXT: Final[tuple[tuple[int, str, str], ...]] = (
    (
        530,
        "channel_max",
        "open fewer channels, or reuse them: channel_max is a ceiling",
    ),
)


def advice_for(code: int, text: str = "") -> str:
    """What a learner can do about a reply code ("" when nothing specific)."""
    for known, words, advice in ADVICE_BY_TEXT:
        if code == known and words in text:
            return advice
    return ADVICE.get(code, "")
