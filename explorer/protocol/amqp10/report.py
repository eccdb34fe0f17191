"""What each AMQP 1.0 handshake and session frame establishes, for learners.

Owns turning the frames of a 1.0 phase into its report (facts and notes): the
protocol headers, the SASL exchange (password masked), the two opens side by
side (max-frame-size, channel-max and idle-time-out: what each side announced
and what holds, by the rules of part 2, section 2.7.1 of the spec; the
idle-time-outs in one line, for the clock), the two begins, and `failure_of`:
what a broker frame carrying an error (a close, end or detach with one, or a
sasl-outcome whose code is not 0) says went wrong. Works on decoded frames
only, so it serves live runs, replays and watched connections alike. The
0-9-1 counterpart is explorer.protocol.report. Sans-I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from explorer.protocol.amqp10.frames import Body, Header
from explorer.protocol.amqp10.lifecycle import SASL_CODES
from explorer.protocol.amqp10.queries import error_of, fields_of, mechanisms_of
from explorer.protocol.fields import JSON, to_json
from explorer.protocol.frames import Frame
from explorer.protocol.lifecycle import Phase

Facts = dict[str, JSON]
HIDDEN: Final = "***"

#: Each negotiated field of open: the spec's default when it is absent, and
#: what one side's value binds the other to (part 2, section 2.7.1).
OPEN_RULES: Final = {
    "max-frame-size": (
        4294967295,
        "the largest frame this side will receive: frames sent to it must fit",
    ),
    "channel-max": (
        65535,
        "the highest channel this side can handle: the other side may begin "
        "sessions on channels up to it",
    ),
    "idle-time-out": (
        None,
        "what this side requires of the other: something (an empty frame at "
        "least) within it, else it closes the connection; the spec asks each "
        "side to announce half its real threshold",
    ),
}

#: What to do about an error condition a broker sent (part 2, section 2.8.15).
ADVICE: Final = {
    "amqp:not-found": "declare the queue first (RabbitMQ 4.x addresses a queue "
    "as /queues/NAME), or check the address for typos",
    "amqp:unauthorized-access": "check the user's permissions on the vhost "
    "(rabbitmqctl list_permissions -p VHOST)",
    "amqp:resource-limit-exceeded": "the broker's limit was reached: close "
    "unused links, sessions or connections",
    "amqp:invalid-field": "the client sent a value the broker does not accept",
    "amqp:connection:forced": "an operator (or the broker shutting down) closed "
    "the connection: connect again",
    "amqp:decode-error": "the client sent bytes the broker cannot read",
}


@dataclass(frozen=True, slots=True)
class Refusal:
    """What a broker frame carrying an error says went wrong."""

    #: Where it happened, in words for the learner.
    message: str
    #: The error's condition (``amqp:not-found``) or the SASL code's name.
    condition: str
    #: The error's description, as the broker wrote it ("" if none).
    description: str
    advice: str
    #: Whether the connection is over (a close, or a failed SASL outcome).
    fatal: bool
    #: sasl-outcome's code, for a refused login.
    code: int | None = None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def header_facts(sent: Frame, answer: Frame) -> tuple[Facts, list[str]]:
    """The client's protocol header and the broker's answer to it."""
    raw = sent.raw
    facts: Facts = {
        "sent": raw.hex(" "),
        "header": sent.name,
        "version": f"{raw[5]}.{raw[6]}.{raw[7]}",
        "answer": answer.name,
        "answer_bytes": answer.raw.hex(" "),
    }
    notes = [
        f"The client opened with the 8 bytes {raw.hex(' ')}: 'AMQP', protocol id "
        f"{raw[4]} ({sent.name}), version {raw[5]}.{raw[6]}.{raw[7]}.",
    ]
    header = answer.payload
    same = isinstance(header, Header) and answer.raw == raw
    facts["accepted"] = same
    if same:
        notes.append(
            f"The broker answered with the same header: it speaks AMQP 1.0 and "
            f"agrees to {sent.name.removesuffix('-header').upper()} next."
        )
    elif isinstance(header, Header):
        offered = f"{header.major}-{header.minor}-{header.revision}"
        if header.is_amqp10:
            offered = f"{header.name} {header.major}.{header.minor}.{header.revision}"
        facts["offered"] = offered
        notes.append(
            f"The broker answered with a different header, {answer.raw.hex(' ')} "
            f"(AMQP {offered}): it refuses our {sent.name} and closes the "
            "connection."
        )
    else:
        notes.append(f"The broker answered with {answer.name}, not a header.")
    return facts, notes


def auth_facts(
    mechanisms: Frame | None,
    init: Frame | None,
    outcome: Frame | None,
    reveal: bool,
) -> tuple[Facts, list[str]]:
    """sasl-mechanisms, sasl-init and sasl-outcome: offered, chosen, verdict.

    Args:
        mechanisms: The broker's sasl-mechanisms.
        init: The client's sasl-init as it crossed the wire (unmasked).
        outcome: The broker's sasl-outcome.
        reveal: Show the password instead of ``***``.
    """
    names = mechanisms_of(mechanisms)
    sent = fields_of(init)
    mechanism = str(sent.get("mechanism") or "")
    response = sent.get("initial-response")
    data = response if isinstance(response, bytes) else b""
    facts: Facts = {"mechanisms": list[JSON](names), "mechanism": mechanism}
    notes = [
        f"The broker offered {' '.join(names) or 'no mechanism'}; the client chose "
        f"{mechanism or 'none yet'}.",
    ]
    if mechanism == "PLAIN" and data.count(b"\0") >= 2:
        authzid, user, password = data.split(b"\0", 2)
        secret = password.decode("utf-8", "replace") if reveal else HIDDEN
        facts["user"] = user.decode("utf-8", "replace")
        facts["response"] = (
            f"{authzid.decode('utf-8', 'replace')}\0{facts['user']}\0{secret}"
        )
        notes.append(
            "PLAIN's initial-response is authzid NUL user NUL password, in clear "
            "text inside sasl-init: only TLS protects it on the wire."
        )
    elif init is not None:
        facts["response"] = to_json(data) if reveal or not data else HIDDEN
    code = _int(fields_of(outcome).get("code"))
    facts["outcome"] = code
    if code is None:
        facts["verdict"] = "none yet: the broker sent no sasl-outcome"
    elif code == 0:
        facts["verdict"] = "accepted: sasl-outcome code 0 (ok)"
        notes.append(
            "sasl-outcome code 0: the login is accepted; next both sides send the "
            "AMQP header, on the same TCP connection."
        )
    else:
        word = SASL_CODES.get(code, "unknown")
        facts["verdict"] = f"refused: sasl-outcome code {code} ({word})"
        notes.append(
            f"sasl-outcome code {code} ({word}): the broker refuses the login and "
            "the connection ends; RabbitMQ 4.0.5 sends it about 3 s after a wrong "
            "password, slowing down guessing."
        )
    return facts, notes


def open_facts(client_open: Frame, broker_open: Frame) -> tuple[Facts, list[str]]:
    """The two opens side by side: each negotiated field, and what holds."""
    client, broker = fields_of(client_open), fields_of(broker_open)
    facts: Facts = {}
    notes: list[str] = []
    for name, (default, rule) in OPEN_RULES.items():
        ours, theirs = _int(client.get(name)), _int(broker.get(name))
        holds = _holds(name, ours, theirs, default)
        facts[name] = {"client": ours, "broker": theirs, "holds": holds, "rule": rule}
        notes.append(
            f"{name}: client {_shown(ours)}, broker {_shown(theirs)}; {holds}."
        )
    facts["hostname"] = to_json(client.get("hostname"))
    facts["client container-id"] = to_json(client.get("container-id"))
    facts["broker container-id"] = to_json(broker.get("container-id"))
    properties = broker.get("properties")
    if isinstance(properties, dict):
        for key in ("product", "version"):
            if key in properties:
                facts[key] = to_json(properties[key])
    hostname = str(client.get("hostname") or "")
    if hostname.startswith("vhost:"):
        notes.append(
            f"The client's hostname {hostname!r} names the virtual host as "
            "RabbitMQ reads it (vhost:NAME); RabbitMQ answered with its own open, "
            "so the vhost exists and the user may use it."
        )
    return facts, notes


def idle_time_outs(client_open: Frame, broker_open: Frame) -> str:
    """The idle-time-out each open announced, in seconds, for the clock's line.

    ``idle-time-out: broker 30 s, client 1 s``; ``none`` for a side whose open
    has none (or 0).
    """
    said = [
        f"{who} {value / 1000:g} s" if value else f"{who} none"
        for who, value in (
            ("broker", _int(fields_of(broker_open).get("idle-time-out"))),
            ("client", _int(fields_of(client_open).get("idle-time-out"))),
        )
    ]
    return f"idle-time-out: {', '.join(said)}"


def _shown(value: int | None) -> str:
    return "absent" if value is None else str(value)


def _holds(
    name: str, client: int | None, broker: int | None, default: int | None
) -> str:
    """What a negotiated field means for the connection, in words."""
    ours = client if client is not None else default
    theirs = broker if broker is not None else default
    if name == "max-frame-size":
        return (
            f"client to broker frames must fit in {theirs} bytes, broker to client "
            f"in {ours}"
            + (f" (absent: the default {default})" if None in (client, broker) else "")
        )
    if name == "channel-max":
        return (
            f"the client may begin sessions on channels 0-{theirs}, the broker "
            f"on 0-{ours} (each side numbers its own end of a session)"
            + (f" (absent: the default {default})" if None in (client, broker) else "")
        )
    parts = [
        f"the {sender} must send something within {value} ms (the {asker}'s)"
        if value
        else f"the {asker} requires nothing of the {sender}"
        for sender, asker, value in (
            ("broker", "client", client),
            ("client", "broker", broker),
        )
    ]
    return "; ".join(parts) + " (absent or 0: no idle time-out)" * (
        None in (client, broker)
    )


def begin_facts(client_begin: Frame, broker_begin: Frame) -> tuple[Facts, list[str]]:
    """The two begins of a session: channels, windows, handle-max."""
    client, broker = fields_of(client_begin), fields_of(broker_begin)
    keys = (
        "remote-channel",
        "next-outgoing-id",
        "incoming-window",
        "outgoing-window",
        "handle-max",
    )
    facts: Facts = {
        "client channel": client_begin.channel,
        "broker channel": broker_begin.channel,
        "client": {k: to_json(client.get(k)) for k in keys},
        "broker": {k: to_json(broker.get(k)) for k in keys},
    }
    notes = [
        f"The client began a session on channel {client_begin.channel}; the broker "
        f"answered on its channel {broker_begin.channel}, with remote-channel "
        f"{broker.get('remote-channel')} naming the client's.",
        f"incoming-window: the broker may send the client "
        f"{client.get('incoming-window')} transfers before the client widens the "
        f"window with a flow; the client may send the broker "
        f"{broker.get('incoming-window')}.",
        f"handle-max: the client may attach links on handles up to "
        f"{broker.get('handle-max')}, the broker up to {client.get('handle-max')}.",
    ]
    return facts, notes


def failure_of(frame: Frame, phase: Phase) -> Refusal | None:
    """What a broker frame says went wrong in `phase` (None for a clean one).

    A sasl-outcome whose code is not 0, or a close, end or detach carrying an
    error; a close ends the connection, an end only its session, a detach only
    its link.
    """
    body = frame.payload
    if not isinstance(body, Body):
        return None
    if body.name == "sasl-outcome":
        code = _int(body.fields.get("code"))
        if code in (0, None):
            return None
        word = SASL_CODES.get(code, "unknown")
        return Refusal(
            f"the broker refused the login: sasl-outcome code {code} ({word})",
            word,
            "",
            "check the user name and password" if code == 1 else "try again later",
            True,
            code,
        )
    error = error_of(frame)
    if body.name not in ("close", "end", "detach") or error is None:
        return None
    condition, description = error
    what = {
        "close": "closed the connection",
        "end": f"ended the session on channel {frame.channel}",
        "detach": f"detached link {body.fields.get('handle')}",
    }[body.name]
    lives = {
        "close": "",
        "end": "; the connection lives on",
        "detach": "; the session and connection live on",
    }[body.name]
    return Refusal(
        f"in {phase.value}, the broker {what}: {condition}"
        + (f" ({description})" if description else "")
        + lives,
        condition,
        description,
        ADVICE.get(condition, "the broker's log says why"),
        body.name == "close",
    )
