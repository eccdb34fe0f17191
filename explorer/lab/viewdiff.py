"""Where the broker's view of a connection and its wire differ, and why.

Owns setting a BrokerView (brokerview.py) beside an AMQP 0-9-1 connection's
decoded frames (viewdiff10.py does it for 1.0), field by field: the value the
broker recorded, the value the frames carried, whether they agree, and the
rule that explains them with where it is written and the broker versions on
which it was seen live. Every rule here was checked on RabbitMQ 3.10.8 and
4.0.5.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from pamqp import commands, decode

from explorer.lab.brokerview import BrokerView
from explorer.protocol.fields import JSON, shown, table_of
from explorer.protocol.frames import B2C, C2B, Direction, Frame
from explorer.protocol.queries import first_named, first_payload

#: The broker versions each rule was seen on.
SEEN: Final = ("3.10.8", "4.0.5")
READER: Final = "RabbitMQ deps/rabbit/src/rabbit_reader.erl"


@dataclass(frozen=True, slots=True)
class Rule:
    """Why a field of the broker's view reads as it does."""

    why: str
    #: Where the rule is written.
    source: str
    seen_on: tuple[str, ...] = SEEN


@dataclass(frozen=True, slots=True)
class Difference:
    """One field, as the broker recorded it and as the wire carried it."""

    field: str
    broker: JSON
    wire: JSON
    #: Whether the two say the same (a "same" row).
    agrees: bool
    #: The rule, with what it means for this connection.
    why: str
    source: str
    seen_on: tuple[str, ...]

    def to_json(self) -> dict[str, JSON]:
        """The row as JSON (e.g. beside a `broker` record)."""
        return {
            "field": self.field,
            "broker": self.broker,
            "wire": self.wire,
            "agrees": self.agrees,
            "why": self.why,
            "source": self.source,
            "seen_on": list(self.seen_on),
        }


RULES: Final = {
    "name": Rule(
        "RabbitMQ names a connection by its TCP endpoints, 'client address:port "
        "-> broker address:port', when it accepts the socket, before any frame. "
        "A name the client gives travels in Connection.StartOk's "
        "client_properties as connection_name and stays there (the management "
        "API repeats it as user_provided_name; the log adds ' - NAME').",
        f"{READER} (start_connection, augment_connection_log_name); RabbitMQ "
        "docs, Connections: client-provided connection name",
    ),
    "peer": Rule(
        "The broker's peer is the socket that connected to it. Through a proxy "
        "(the explorer's watch) that is the proxy's own socket to the broker, "
        "not the application's: only the proxy knows the application's address "
        "(RabbitMQ's proxy_protocol setting, off by default, is how one could "
        "tell it).",
        f"{READER} (rabbit_net:socket_ends); RabbitMQ docs, Networking: proxy protocol",
    ),
    "state": Rule(
        "RabbitMQ moves a connection's state as it handles the handshake: "
        "starting once it sent Connection.Start, securing while it checks "
        "StartOk, tuning once it sent Tune, opening after the client's TuneOk, "
        "running only once it sent Connection.OpenOk (the connection is open "
        "for the server once it sent Open-Ok); after a Connection.Close from "
        "either side, closing, then closed (seen closed at once). flow, "
        "blocking and blocked have no frame, except the Connection.Blocked "
        "sent to a client that asked for it. The view is one moment: frames "
        "after it may have moved the state on.",
        f"{READER} (handle_method0, i(state)); AMQP 0-9-1 spec §2.3.7",
    ),
    "protocol": Rule(
        "The protocol header is 'AMQP', protocol id 0, then the version 0-9-1 "
        "(spec §4.2.2). RabbitMQ records the version of the framing it speaks, "
        "{0,9,1}, and takes 0-9's header (AMQP 1 1 0 9) as 0-9-1: it answers "
        "with Connection.Start version 0-9, yet lists {0,9,1}.",
        f"AMQP 0-9-1 spec §4.2.2; {READER} (version_negotiation)",
    ),
    "user": Rule(
        "The broker's user is the one its authentication accepted for "
        "Connection.StartOk's response. PLAIN's response is authzid NUL "
        "authcid NUL password (RFC 4616 §2; RabbitMQ wants the authzid empty): "
        "the user is the authcid, and the password is never shown here. "
        "AMQPLAIN's is a table of LOGIN and PASSWORD; EXTERNAL takes the user "
        "from the client's certificate, and 4.0's ANONYMOUS logs in as "
        "anonymous_login_user (guest by default). Before StartOk: none (null).",
        f"RFC 4616 §2; {READER} (auth_phase); RabbitMQ rabbit_auth_mechanism_plain.erl",
    ),
    "vhost": Rule(
        "The vhost is Connection.Open's virtual-host, recorded only once the "
        "broker has checked it and sent Open-Ok; until then list_connections "
        "prints none (null here).",
        f"AMQP 0-9-1 spec, connection.open (10.40); {READER} (handle_method0 "
        "connection.open)",
    ),
    "auth_mechanism": Rule(
        "The mechanism the client chose in Connection.StartOk, from those "
        "Connection.Start offered (3.10.8: PLAIN AMQPLAIN; 4.0.5: ANONYMOUS "
        "PLAIN AMQPLAIN).",
        f"AMQP 0-9-1 spec, connection.start-ok (10.11); {READER} (handle_method0 "
        "connection.start_ok)",
    ),
    "timeout": Rule(
        "timeout is the heartbeat the client sent in Connection.TuneOk, not "
        "the one the broker proposed in Tune: RabbitMQ takes the client's "
        "unchecked (0 turns heartbeats off). Before TuneOk it shows 3, the "
        "handshake's own timeout (NORMAL_TIMEOUT), not a heartbeat.",
        f"AMQP 0-9-1 spec, connection.tune-ok (10.31); {READER} (handle_method0 "
        "connection.tune_ok: timeout_sec = ClientHeartbeat)",
    ),
    "frame_max": Rule(
        "frame_max is Connection.TuneOk's frame-max, which RabbitMQ checks is "
        "at least 4096 and at most its Tune proposal (0: no limit). Before "
        "TuneOk it is 4096, the frame size every peer must accept.",
        f"AMQP 0-9-1 spec, connection.tune-ok (10.31), frame-min-size; {READER} "
        "(validate_negotiated_integer_value, initial_frame_max)",
    ),
    "channel_max": Rule(
        "channel_max is Connection.TuneOk's channel-max, which RabbitMQ checks "
        "is at least 1 and at most its Tune proposal. Before TuneOk it is "
        "undefined (null here).",
        f"AMQP 0-9-1 spec, connection.tune-ok (10.31); {READER} "
        "(validate_negotiated_integer_value)",
    ),
    "channels": Rule(
        "The broker counts the channels it opened (Channel.OpenOk sent) and has "
        "not closed. The management API's count is as of its last statistics "
        "(every 5 s by default).",
        f"{READER} (i(channels): channel_count)",
    ),
    "client_properties": Rule(
        "The broker keeps Connection.StartOk's client_properties as the client "
        "sent them. A value that differs is how the source writes its type: "
        "the management API writes decimal 3.14 as 2.314 and void as "
        "'undefined'; rabbitmqctl's JSON garbles byte arrays (\\x01 as \\u1000) "
        "and fails on one that is not UTF-8.",
        f"{READER} (handle_method0 connection.start_ok); tests/fixtures/brokerview",
    ),
    "recv_oct": Rule(
        "The bytes the broker's socket received: what the client wrote, "
        "protocol header included. They differ by what crossed after the "
        "broker was asked (heartbeats go on); the management API's count is as "
        "of its last statistics.",
        f"{READER} (i(recv_oct): inet getstat)",
    ),
    "send_oct": Rule(
        "The bytes the broker's socket sent: what the client read. They differ "
        "by what crossed after the broker was asked; the management API's "
        "count is as of its last statistics.",
        f"{READER} (i(send_oct): inet getstat)",
    ),
}


def differences(
    view: BrokerView, frames: Sequence[Frame], client: str | None = None
) -> list[Difference]:
    """The broker's view beside the wire, field by field ([] if not listed).

    Args:
        view: What the broker recorded (brokerview.broker_view).
        frames: The connection's frames, both directions, in order (masked or
            not: no password is read).
        client: The application's own address (``host:port``), when known:
            for a connection the proxy relays, the address it connected from.
    """
    values = view.values
    if not view.listed:
        return []
    rows = [
        row("name", values.get("name"), _connection_name(frames)),
        row("peer", peer(values), client) if client is not None else None,
        row("state", values.get("state"), _state(frames)),
        row("protocol", values.get("protocol"), *_header(frames)),
        row("user", values.get("user"), _login(frames)),
        row("vhost", values.get("vhost"), _vhost(frames)),
        row("auth_mechanism", values.get("auth_mechanism"), _mechanism(frames)),
        *(_tuned(name, values.get(name), frames) for name in _TUNED),
        row("channels", values.get("channels"), _channels(frames)),
        row("client_properties", *_properties(values, frames)),
        row("recv_oct", values.get("recv_oct"), octets(frames, C2B)),
        row("send_oct", values.get("send_oct"), octets(frames, B2C)),
    ]
    return [row for row in rows if row is not None]


def row(
    field: str,
    broker: JSON,
    wire: JSON,
    context: str = "",
    rules: Mapping[str, Rule] = RULES,
) -> Difference:
    """The row of `field`, its rule (from `rules`) followed by what it means
    `context`."""
    rule = rules[field]
    why = f"{rule.why} Here: {context}" if context else rule.why
    return Difference(
        field, broker, wire, broker == wire, why, rule.source, rule.seen_on
    )


#: Each TuneOk field by the name the broker gives its value.
_TUNED: Final = {
    "timeout": "heartbeat",
    "frame_max": "frame_max",
    "channel_max": "channel_max",
}


def _tuned(field: str, broker: JSON, frames: Sequence[Frame]) -> Difference:
    """timeout, frame_max or channel_max beside TuneOk's (and Tune's) value."""
    argument = _TUNED[field]
    tune = first_payload(frames, B2C, commands.Connection.Tune)
    tune_ok = first_payload(frames, C2B, commands.Connection.TuneOk)
    wire: JSON = getattr(tune_ok, argument) if tune_ok else None
    proposed = getattr(tune, argument) if tune else None
    if tune_ok is None:
        context = "no TuneOk has been sent yet"
    else:
        context = f"TuneOk carried {argument} {wire}"
        if proposed is not None:
            context += f", where Tune proposed {proposed}"
    return row(field, broker, wire, context + ".")


def _connection_name(frames: Sequence[Frame]) -> JSON:
    start_ok = first_named(frames, C2B, "Connection.StartOk")
    if start_ok is None:
        return None
    return table_of(start_ok, "client_properties").get("connection_name")


def peer(values: dict[str, JSON]) -> JSON:
    host, port = values.get("peer_host"), values.get("peer_port")
    host = f"[{host}]" if isinstance(host, str) and ":" in host else host
    return f"{host}:{port}"


#: The broker's state after each frame: the latest frame's wins, closed stays.
_STATES: Final = (
    (B2C, "Connection.Start", "starting"),
    (C2B, "Connection.StartOk", "securing"),
    (B2C, "Connection.Tune", "tuning"),
    (C2B, "Connection.TuneOk", "opening"),
    (B2C, "Connection.OpenOk", "running"),
    (B2C, "Connection.Blocked", "blocked"),
    (B2C, "Connection.Unblocked", "running"),
    (C2B, "Connection.Close", "closed"),
    (B2C, "Connection.Close", "closed"),
)


def _state(frames: Sequence[Frame]) -> JSON:
    """The state the frames so far leave the broker's side in."""
    state: str | None = None
    for frame in frames:
        for direction, name, then in _STATES:
            if frame.direction is direction and frame.name == name:
                state = "closed" if state == "closed" else then
    return state


def _header(frames: Sequence[Frame]) -> tuple[JSON, str]:
    """The protocol version the client's header names, and the header."""
    header = first_named(frames, C2B, "ProtocolHeader")
    if header is None or len(header.raw) != 8:
        return None, "no protocol header has been seen"
    a, b, c, d = header.raw[4:8]
    # 'AMQP' 0 0 9 1 is protocol id 0 and version 0-9-1; 'AMQP' 1 1 0 9 is the
    # older form: class 1, instance 1, version 0-9.
    version = f"AMQP {b}-{c}-{d}" if a == 0 else f"AMQP {c}-{d}"
    return version, f"the client sent the header AMQP {a} {b} {c} {d}."


def _login(frames: Sequence[Frame]) -> JSON:
    """The user StartOk's response names (PLAIN, AMQPLAIN), password unread."""
    frame = first_named(frames, C2B, "Connection.StartOk")
    if frame is None:
        return None
    payload = shown(frame).payload  # the password masked, whatever the caller did
    if not isinstance(payload, commands.Connection.StartOk):
        return None
    response = payload.response
    data = response.encode() if isinstance(response, str) else bytes(response)
    mechanism = payload.mechanism.upper()
    if mechanism == "PLAIN":
        parts = data.split(b"\0")
        return parts[1].decode(errors="replace") if len(parts) == 3 else None
    if mechanism == "AMQPLAIN":
        try:
            _, table = decode.field_table(struct.pack(">I", len(data)) + data)
        except (ValueError, struct.error):  # pamqp's decoding errors
            return None
        login = table.get("LOGIN")
        return login if isinstance(login, str) else None
    return None  # EXTERNAL, ANONYMOUS ...: no user on the wire


def _vhost(frames: Sequence[Frame]) -> JSON:
    opened = first_payload(frames, C2B, commands.Connection.Open)
    return opened.virtual_host if opened is not None else None


def _mechanism(frames: Sequence[Frame]) -> JSON:
    start_ok = first_payload(frames, C2B, commands.Connection.StartOk)
    return start_ok.mechanism if start_ok is not None else None


def _channels(frames: Sequence[Frame]) -> int:
    """How many channels the broker has opened and not yet closed."""
    opened: set[int] = set()
    for frame in frames:
        if frame.name == "Channel.OpenOk" and frame.direction is B2C:
            opened.add(frame.channel)
        elif frame.name == "Channel.CloseOk":
            opened.discard(frame.channel)
        elif frame.name == "Connection.Close":
            opened.clear()
    return len(opened)


def _properties(
    values: dict[str, JSON], frames: Sequence[Frame]
) -> tuple[JSON, JSON, str]:
    """The client properties both ways, and the keys in which they differ."""
    start_ok = first_named(frames, C2B, "Connection.StartOk")
    return properties(
        values, table_of(start_ok, "client_properties") if start_ok else None
    )


def properties(values: dict[str, JSON], wire: JSON) -> tuple[JSON, JSON, str]:
    """The broker's client properties, the `wire`'s, and the keys in which
    they differ."""
    broker = values.get("client_properties")
    if not isinstance(broker, dict) or not isinstance(wire, dict):
        return broker, wire, ""
    keys = sorted(
        k for k in broker.keys() | wire.keys() if broker.get(k) != wire.get(k)
    )
    return broker, wire, f"they differ in {', '.join(keys)}." if keys else ""


def octets(frames: Sequence[Frame], direction: Direction) -> int:
    """The bytes of `direction`'s frames, protocol header included."""
    return sum(frame.size for frame in frames if frame.direction is direction)
