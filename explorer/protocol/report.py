"""What each handshake frame establishes, as facts and sentences for learners.

Owns turning the frames of a phase into its report: the broker's Start, the
client's StartOk and its SASL response, the Tune/TuneOk negotiation, the
broker's Close. Works on decoded frames only, so it serves live connections
and captures alike. Sans-I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from pamqp import commands, decode

from explorer.protocol.explain import (
    CAPABILITIES,
    MECHANISMS,
    protocol_header,
    reply_code,
    tune_rows,
)
from explorer.protocol.fields import JSON, table_of, to_json
from explorer.protocol.frames import Frame
from explorer.protocol.queries import broker_product

Facts = dict[str, JSON]
HIDDEN: Final = "***"


def header_facts(sent: Frame, answer: Frame) -> tuple[Facts, list[str]]:
    """The protocol header and the broker's first answer to it."""
    raw = sent.raw
    facts: Facts = {
        "sent": raw.hex(" "),
        "version": f"AMQP {'-'.join(map(str, raw[4:8]))}",
    }
    notes = [
        f"The client opened with the 8 bytes {raw.hex(' ')}: 'AMQP', then protocol "
        f"id {raw[4]}, major {raw[5]}, minor {raw[6]}, revision {raw[7]}.",
    ]
    if answer.name == "ProtocolHeader":
        offered = (answer.raw[4], answer.raw[5], answer.raw[6], answer.raw[7])
        facts["answer"] = "ProtocolHeader"
        facts["offered"] = protocol_header(offered)
        notes.append(
            "The peer answered with a protocol header of its own: it refuses our "
            f"version and offers {protocol_header(offered)}, then closes the socket."
        )
    else:
        facts["answer"] = answer.name
        notes.append(
            f"The broker accepted AMQP 0-9-1 and spoke first: {answer.name} "
            f"({answer.size} bytes)."
        )
    return facts, notes


def start_facts(frame: Frame) -> tuple[Facts, list[str]]:
    """Connection.Start: the broker's version, properties, mechanisms, locales."""
    start = frame.payload
    assert isinstance(start, commands.Connection.Start)
    properties = table_of(frame, "server_properties")
    capabilities = properties.pop("capabilities", {})
    assert isinstance(capabilities, dict)
    mechanisms: list[JSON] = list(str(start.mechanisms).split())
    locales: list[JSON] = list(str(start.locales).split())
    facts: Facts = {
        "protocol": f"{start.version_major}-{start.version_minor}",
        "server_properties": properties,
        "capabilities": {
            name: {"value": value, "meaning": CAPABILITIES.get(name, "")}
            for name, value in capabilities.items()
        },
        "mechanisms": mechanisms,
        "locales": locales,
    }
    product = broker_product(frame)
    platform = _text(properties, "platform") or "an unknown platform"
    notes = [
        f"{product or 'The broker'} on {platform} offers {len(capabilities)} "
        f"capabilities and the mechanisms {' '.join(map(str, mechanisms))}.",
        "RabbitMQ 4.x also offers ANONYMOUS by default; 3.x offers PLAIN and AMQPLAIN.",
    ]
    return facts, notes


def _text(table: Mapping[str, JSON], key: str) -> str:
    """A table entry as text ("" when absent)."""
    value = table.get(key)
    return value if isinstance(value, str) else ""


def auth_facts(
    start: Frame | None, start_ok: Frame, reveal: bool
) -> tuple[Facts, list[str]]:
    """Connection.StartOk: client properties, the mechanism, the response decoded.

    Args:
        start: The broker's Connection.Start (for the mechanisms offered).
        start_ok: The client's Connection.StartOk as it crossed the wire.
        reveal: Show the password instead of ``***``.
    """
    method = start_ok.payload
    assert isinstance(method, commands.Connection.StartOk)
    properties = table_of(start_ok, "client_properties")
    capabilities = properties.pop("capabilities", {})
    offered: list[str] = []
    if start is not None and isinstance(start.payload, commands.Connection.Start):
        offered = str(start.payload.mechanisms).split()
    mechanism = str(method.mechanism)
    facts: Facts = {
        "client_properties": properties,
        "client_capabilities": capabilities,
        "mechanism": mechanism,
        "mechanisms_offered": list(offered),
        "response": sasl_response(mechanism, method.response, reveal),
    }
    name = properties.get("connection_name")
    notes = [
        f"The client chose {mechanism}: the broker offered {' '.join(offered) or '?'}, "
        f"and {mechanism} is the one the client was asked to use. "
        f"{MECHANISMS.get(mechanism, '')}",
        f"The client calls this connection {name!r}: the broker's log and UI show it."
        if name
        else "The client sent no connection_name: the broker knows the connection "
        "only by its addresses (add ?connection_name=... to the URL).",
    ]
    return facts, notes


def sasl_response(mechanism: str, response: object, reveal: bool) -> JSON:
    """A SASL response decoded for its mechanism, the password hidden."""
    text = (
        response.encode("latin-1")
        if isinstance(response, str)
        else bytes(response if isinstance(response, bytes | bytearray) else b"")
    )
    if mechanism == "PLAIN" and text.count(b"\0") >= 2:
        authzid, user, password = text.split(b"\0", 2)
        return {
            "authzid": authzid.decode("utf-8", "replace"),
            "user": user.decode("utf-8", "replace"),
            "password": password.decode("utf-8", "replace") if reveal else HIDDEN,
        }
    if mechanism == "AMQPLAIN":
        try:
            _, table = decode.field_table(len(text).to_bytes(4, "big") + text)
        except ValueError:
            return HIDDEN
        if not reveal and "PASSWORD" in table:
            table["PASSWORD"] = HIDDEN
        return to_json(table)
    if mechanism == "EXTERNAL":
        return ""
    return to_json(text) if reveal else HIDDEN


def tune_facts(
    tune: Frame,
    tune_ok: Frame,
    asked: tuple[int | None, int | None, int | None],
    chosen_by: str = "",
) -> tuple[Facts, list[str]]:
    """Tune and TuneOk side by side, with the rule for each value.

    `asked` is what the learner's URL asked for, or, when `chosen_by` names a
    client other than aiormq, the values that client chose on purpose.
    """
    proposal, answer = tune.payload, tune_ok.payload
    assert isinstance(proposal, commands.Connection.Tune)
    assert isinstance(answer, commands.Connection.TuneOk)
    rows = tune_rows(
        (proposal.channel_max, proposal.frame_max, proposal.heartbeat),
        asked,
        (answer.channel_max, answer.frame_max, answer.heartbeat),
    )
    facts: Facts = {
        row.name: {
            "broker_proposed": row.proposed,
            "client_asked": row.asked,
            "tune_ok_carried": row.carried,
            "rule": row.rule,
        }
        for row in rows
    }
    notes = [
        f"{row.name}: the broker proposed {row.proposed}, "
        + (
            "the client asked for nothing, "
            if row.asked is None
            else f"the client asked for {row.asked}, "
        )
        + f"TuneOk carried {row.carried}."
        for row in rows
    ]
    if chosen_by:
        notes.append(f"{chosen_by} chose these TuneOk values on purpose.")
    elif asked[0] is None and asked[1] is None:
        notes.append(
            "aiormq echoes the broker's channel_max and frame_max, and sends its own "
            "heartbeat (the URL's ?heartbeat=, else 60) whatever the broker proposed."
        )
    else:
        notes.append(
            "aiormq on its own echoes the broker's channel_max and frame_max; the "
            "explorer offered its handshake the lower of the broker's value and the "
            "URL's, and TuneOk carried that."
        )
    return facts, notes


def close_facts(frame: Frame) -> tuple[Facts, str]:
    """A Connection.Close or Channel.Close: the code, text and what they mean."""
    close = frame.payload
    assert isinstance(close, commands.Connection.Close | commands.Channel.Close)
    code, text = int(close.reply_code or 0), str(close.reply_text)
    facts: Facts = {
        "reply_code": code,
        "reply_text": text,
        "class_id": close.class_id,
        "method_id": close.method_id,
        "meaning": reply_code(code),
    }
    return facts, f"{frame.direction.sender} sent {frame.name} {code}: {text}"
