"""The broker's records of its connections, read into one JSON shape.

Owns reading what `rabbitmqctl list_connections --formatter json` prints and
what the management API's GET /api/connections answers into the same
values, so that whoever shows them never asks which source spoke. Seen live
on RabbitMQ 3.10.8 and 4.0.5 (tests/fixtures/brokerview holds their output):

=================  ===============================  ===========================
value              rabbitmqctl (3.10.8 and 4.0.5)   management API (4.0.5)
=================  ===============================  ===========================
protocol           ``[0,9,1]``                      ``"AMQP 0-9-1"``
peer_host          ``[127,0,0,1]``                  ``"127.0.0.1"``
client_properties  ``[[key, type, value], ...]``;   ``{key: value}``
                   an array is an object keyed by
                   each element's type (repeated)
connected_at       milliseconds since 1970          the same
before it is set   vhost ``"none"``, user ``""``,   (lists a connection only
                   auth_mechanism ``"none"``,       once it is running)
                   channel_max ``"undefined"``
=================  ===============================  ===========================

The shape is the management API's, with ``protocol`` as it writes it,
``connected_at`` as ISO 8601 UTC, and null for what the broker has not set
yet. Only the fields in FIELDS are kept: none of them holds the login's
password (client_properties is what the client sent in the clear, in
Connection.StartOk).
"""

from __future__ import annotations

import ipaddress
import json
import struct
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from explorer.protocol.fields import JSON

#: What a view holds of one connection (rabbitmqctl's info items, in order).
FIELDS: Final = (
    "name",
    "state",
    "protocol",
    "user",
    "vhost",
    "auth_mechanism",
    "timeout",
    "frame_max",
    "channel_max",
    "client_properties",
    "connected_at",
    "recv_oct",
    "send_oct",
    "channels",
    "peer_host",
    "peer_port",
    "port",
)
#: States in which Connection.Open has been accepted: the vhost is set.
OPENED: Final = frozenset({"running", "flow", "blocking", "blocked"})

Row = dict[str, JSON]


class RowsError(ValueError):
    """The source's answer is not the list of connections it should be."""


def ctl_rows(text: str) -> list[Row]:
    """The connections `rabbitmqctl list_connections ... --formatter json` printed.

    Raises:
        RowsError: the text is not a JSON list of objects.
    """
    return [_from_ctl(row) for row in _rows(text, _pairs_kept)]


def management_rows(text: str) -> list[Row]:
    """The connections the management API's GET /api/connections answered.

    Raises:
        RowsError: the text is not a JSON list of objects.
    """
    return [_from_management(row) for row in _rows(text, dict)]


def _rows(text: str, hook: Callable[[list[tuple[str, Any]]], object]) -> list[Any]:
    try:
        rows = json.loads(text, object_pairs_hook=hook)
    except ValueError as exc:
        raise RowsError(f"its answer is not JSON ({exc})") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise RowsError("its answer is not a list of connections")
    return rows


class _Pairs(list[tuple[str, object]]):
    """A JSON object's pairs, in order, repeated keys kept."""


def _pairs_kept(pairs: list[tuple[str, object]]) -> dict[str, object] | _Pairs:
    """An object as a dict, unless a key repeats (rabbitmqctl's arrays)."""
    keys = [key for key, _ in pairs]
    return _Pairs(pairs) if len(set(keys)) < len(keys) else dict(pairs)


def _from_ctl(row: dict[str, object]) -> Row:
    state = row.get("state")
    values: Row = {name: _plain(row.get(name)) for name in FIELDS}
    protocol = row.get("protocol")
    if isinstance(protocol, list):
        values["protocol"] = "AMQP " + "-".join(str(part) for part in protocol)
    values["peer_host"] = _host(row.get("peer_host"))
    properties = row.get("client_properties")
    values["client_properties"] = (
        _table(properties) if isinstance(properties, list) else None
    )
    unset = {"user": "", "auth_mechanism": "none", "channel_max": "undefined"}
    if state not in OPENED:
        unset["vhost"] = "none"  # an atom, printed as a vhost named none would be
    for name, shown in unset.items():
        if values[name] == shown:
            values[name] = None
    values["connected_at"] = _moment(row.get("connected_at"))
    return values


def _from_management(row: dict[str, object]) -> Row:
    values: Row = {name: _plain(row.get(name)) for name in FIELDS}
    values["connected_at"] = _moment(row.get("connected_at"))
    return values


def _table(entries: list[object]) -> dict[str, JSON]:
    """rabbitmqctl's [[key, type, value], ...] as {key: value}."""
    table: dict[str, JSON] = {}
    for entry in entries:
        if isinstance(entry, list) and len(entry) == 3:
            key, kind, value = entry
            table[str(key)] = _typed(str(kind), value)
    return table


def _typed(kind: str, value: object) -> JSON:
    """One field value rabbitmqctl printed with its AMQP type."""
    if kind == "table" and isinstance(value, list):
        return _table(value)
    if kind == "array":  # an object keyed by each element's type (or [])
        pairs = list(value.items()) if isinstance(value, dict) else value
        return [_typed(str(k), v) for k, v in pairs] if isinstance(pairs, list) else []
    if kind == "decimal" and isinstance(value, list) and len(value) == 2:
        scale, digits = value
        return str(Decimal(int(digits)).scaleb(-int(scale)))
    if kind == "void":
        return None
    return _plain(value)


def _plain(value: object) -> JSON:
    """A JSON value as it came, or its text when it is something else."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, _Pairs):
        return {str(k): _plain(v) for k, v in value}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return str(value)


def _host(value: object) -> JSON:
    """rabbitmqctl's address tuple (4 bytes, or 8 16-bit words) as text."""
    if isinstance(value, list) and all(isinstance(part, int) for part in value):
        try:
            if len(value) == 4:
                return str(ipaddress.IPv4Address(bytes(value)))
            if len(value) == 8:
                return str(ipaddress.IPv6Address(struct.pack(">8H", *value)))
        except (ValueError, struct.error):
            pass
    return _plain(value)


def _moment(value: object) -> JSON:
    """Milliseconds since 1970 as ISO 8601 UTC, to the millisecond."""
    if not isinstance(value, int) or isinstance(value, bool):
        return _plain(value)
    try:
        moment = datetime.fromtimestamp(value / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return value
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
