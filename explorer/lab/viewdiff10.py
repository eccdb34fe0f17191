"""Where the broker's view of an AMQP 1.0 connection and its wire differ, and why.

Owns viewdiff.py's comparison for a 1.0 connection: the fields RabbitMQ's
list_connections gives it (protocol {1,0}), each beside what the SASL
exchange and the two opens carried, with the rule that explains it. 1.0 has
no Tune: RabbitMQ 4.0.5 fills frame_max, channel_max and timeout from the
opens and its own settings, as each rule says. Every rule was seen live on
RabbitMQ 4.0.5 (3.x speaks 1.0 only with its plugin, which was not tried).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from explorer.lab.brokerview import BrokerView
from explorer.lab.viewdiff import (
    RULES,
    Difference,
    Rule,
    octets,
    peer,
    properties,
    row,
)
from explorer.protocol.amqp10.frames import Body, Header
from explorer.protocol.amqp10.tojson import value_json
from explorer.protocol.fields import JSON, shown
from explorer.protocol.frames import B2C, C2B, Direction, Frame

SEEN: Final = ("4.0.5",)
READER: Final = "RabbitMQ 4.0 deps/rabbit/src/rabbit_amqp_reader.erl"
#: The spec's defaults for an open that leaves a field out (part 2, 2.7.1).
MAX_FRAME_SIZE: Final = 4294967295
CHANNEL_MAX: Final = 65535


def _rule(why: str, source: str = READER) -> Rule:
    return Rule(why, source, SEEN)


RULES_1_0: Final = {
    "name": _rule(
        "RabbitMQ names a connection by its TCP endpoints, 'client address:port "
        "-> broker address:port'. A connection_name in the client's open "
        "properties does not rename it: it stays in client_properties."
    ),
    "peer": RULES["peer"],
    "state": _rule(
        "RabbitMQ lists a 1.0 connection only once it has answered the "
        "client's open with its own: during SASL and the AMQP header it is not "
        "listed at all; from its open on it is running."
    ),
    "protocol": _rule(
        "The AMQP header is 'AMQP', protocol id 0, then the version 1.0.0 "
        "(part 5, 5.1); after SASL's header (protocol id 3) RabbitMQ records "
        "the version, {1,0}.",
        f"AMQP 1.0 part 5, 5.1; {READER}",
    ),
    "user": _rule(
        "The user is the one SASL accepted: PLAIN's initial-response in "
        "sasl-init is authzid NUL authcid NUL password (RFC 4616): the user "
        "is the authcid; the password is never shown here."
    ),
    "vhost": _rule(
        "RabbitMQ reads the vhost from open's hostname, written vhost:NAME; "
        "any other hostname (or none) gets its default vhost (default_vhost, "
        "/ unless configured)."
    ),
    "auth_mechanism": _rule(
        "The mechanism the client named in sasl-init, from those "
        "sasl-mechanisms offered (4.0.5: PLAIN, AMQPLAIN, ANONYMOUS)."
    ),
    "timeout": _rule(
        "timeout is RabbitMQ's own heartbeat setting (60 s by default), not "
        "the client's idle-time-out: 4.0.5 listed 60 whatever the client "
        "announced (none, 1000 and 100000 ms tried). Its open announces half "
        "of it as its idle-time-out: the wire value here is twice that, in "
        "seconds."
    ),
    "frame_max": _rule(
        "frame_max is the client's max-frame-size: the largest frame the "
        "broker may send it (4.0.5 listed 4096, 32768 and 600000 as the "
        "client's open said, even above its own 131072)."
    ),
    "channel_max": _rule(
        "channel_max is the lower of the two opens' channel-max (4.0.5 "
        "listed 5 for a client's 5, 63 for a client's 100 or 32767 beside its "
        "own 63)."
    ),
    "channels": _rule(
        "RabbitMQ counts a 1.0 connection's sessions as its channels: those "
        "it has begun and not ended."
    ),
    "client_properties": _rule(
        "RabbitMQ keeps the properties of the client's open as its client "
        "properties (Proton sends none: empty)."
    ),
    "recv_oct": RULES["recv_oct"],
    "send_oct": RULES["send_oct"],
}


def one_oh(frames: Sequence[Frame]) -> bool:
    """Whether `frames` are an AMQP 1.0 connection's."""
    return bool(frames) and isinstance(frames[0].payload, Header | Body)


def differences_1_0(
    view: BrokerView, frames: Sequence[Frame], client: str | None = None
) -> list[Difference]:
    """viewdiff.differences for a 1.0 connection ([] if not listed)."""
    values = view.values
    if not view.listed:
        return []
    opens = _fields(frames, C2B, "open"), _fields(frames, B2C, "open")
    found = _fields(frames, C2B, "sasl-init")
    given = opens[0].get("properties")
    wire_properties = value_json(given) if isinstance(given, dict) else {}
    named = (
        wire_properties.get("connection_name")
        if isinstance(wire_properties, dict)
        else None
    )
    rows = [
        _row("name", values.get("name"), named),
        _row("peer", peer(values), client) if client is not None else None,
        _row("state", values.get("state"), _state(frames)),
        _row("protocol", values.get("protocol"), _protocol(frames)),
        _row("user", values.get("user"), _user(frames)),
        _row("vhost", values.get("vhost"), *_vhost(opens[0])),
        _row("auth_mechanism", values.get("auth_mechanism"), _text(found, "mechanism")),
        _row("timeout", values.get("timeout"), *_timeout(opens[1])),
        _row("frame_max", values.get("frame_max"), *_frame_max(opens[0])),
        _row("channel_max", values.get("channel_max"), *_channel_max(opens)),
        _row("channels", values.get("channels"), _sessions(frames)),
        _row("client_properties", *properties(values, wire_properties)),
        _row("recv_oct", values.get("recv_oct"), octets(frames, C2B)),
        _row("send_oct", values.get("send_oct"), octets(frames, B2C)),
    ]
    return [r for r in rows if r is not None]


def _row(field: str, broker: JSON, wire: JSON, context: str = "") -> Difference:
    return row(field, broker, wire, context, RULES_1_0)


def _fields(
    frames: Sequence[Frame], direction: Direction, name: str
) -> dict[str, object]:
    for frame in frames:
        if frame.direction is direction and frame.name == name:
            body = shown(frame).payload  # the password masked, whatever was given
            if isinstance(body, Body):
                return body.fields
    return {}


def _text(fields: dict[str, object], name: str) -> JSON:
    value = fields.get(name)
    return str(value) if value is not None else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _state(frames: Sequence[Frame]) -> JSON:
    seen = {(f.direction, f.name) for f in frames}
    if (C2B, "close") in seen or (B2C, "close") in seen:
        return "closed"
    return "running" if (B2C, "open") in seen else None


def _protocol(frames: Sequence[Frame]) -> JSON:
    header = next(
        (f.payload for f in frames if f.direction is C2B and f.name == "amqp-header"),
        None,
    )
    if not isinstance(header, Header):
        return None
    return f"AMQP {header.major}-{header.minor}"


def _user(frames: Sequence[Frame]) -> JSON:
    """PLAIN's authcid; the password is masked before it is read."""
    init = _fields(frames, C2B, "sasl-init")
    response = init.get("initial-response")
    if str(init.get("mechanism") or "").upper() != "PLAIN":
        return None
    if not isinstance(response, bytes):
        return None
    parts = response.split(b"\0")
    return parts[1].decode(errors="replace") if len(parts) == 3 else None


def _vhost(client_open: dict[str, object]) -> tuple[JSON, str]:
    hostname = client_open.get("hostname")
    if isinstance(hostname, str) and hostname.startswith("vhost:"):
        return hostname.removeprefix("vhost:"), f"open's hostname was {hostname!r}."
    return None, (
        f"open's hostname was {hostname!r}, which names no vhost: RabbitMQ took "
        "its default vhost."
    )


def _timeout(broker_open: dict[str, object]) -> tuple[JSON, str]:
    idle = _int(broker_open.get("idle-time-out"))
    if idle is None:
        return None, "the broker's open carried no idle-time-out."
    return idle * 2 // 1000, f"the broker's open carried idle-time-out {idle} ms."


def _frame_max(client_open: dict[str, object]) -> tuple[JSON, str]:
    size = _int(client_open.get("max-frame-size"))
    if size is None:
        return (
            MAX_FRAME_SIZE,
            "the client's open left max-frame-size out (the default).",
        )
    return size, f"the client's open carried max-frame-size {size}."


def _channel_max(
    opens: tuple[dict[str, object], dict[str, object]],
) -> tuple[JSON, str]:
    ours, theirs = (_int(o.get("channel-max")) for o in opens)
    low = min(ours if ours is not None else CHANNEL_MAX, theirs or CHANNEL_MAX)
    return low, f"the client's open carried channel-max {ours}, the broker's {theirs}."


def _sessions(frames: Sequence[Frame]) -> int:
    begun: set[int] = set()
    for frame in frames:
        if frame.direction is B2C and frame.name == "begin":
            begun.add(frame.channel)
        elif frame.direction is B2C and frame.name == "end":
            begun.discard(frame.channel)
        elif frame.name == "close":
            begun.clear()
    return len(begun)
