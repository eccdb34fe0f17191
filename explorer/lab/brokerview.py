"""What the broker recorded about one connection, asked while it runs.

Owns asking the broker for its record of the connection from one client
port, as the broker sees it (for a connection the `watch` proxy relays, that
is the local port of the proxy's own socket to the broker): by `rabbitmqctl
list_connections` when this user may run it, else by the management API's
GET /api/connections; the view saying which source answered, or why neither
did; a follower that takes the view again whenever it changes; and the JSON
record `--json` prints. The values' shape is brokerrows.py's.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

from yarl import URL

from explorer.lab import broker
from explorer.lab.brokerrows import FIELDS, Row, RowsError, ctl_rows, management_rows
from explorer.net.endpoint import Endpoint, EndpointError, parse, redact
from explorer.protocol.fields import JSON

Source = Literal["rabbitmqctl", "management"]
#: The management API listens on the AMQP port plus this, by RabbitMQ's
#: defaults (5672 and 15672; 5671 and 15671 with TLS) and the project's
#: RabbitMQ 4.0 (5673 and 15673, scripts/rabbitmq4).
MANAGEMENT_OFFSET: Final = 10000
#: Seconds the management API may take to answer.
HTTP_TIMEOUT: Final = 5.0
#: Seconds between two looks of a follower (a rabbitmqctl call adds ~1 s).
FOLLOW_EVERY: Final = 2.0
#: Values that change with every frame, heartbeats too: not a change of view.
COUNTERS: Final = frozenset({"recv_oct", "send_oct"})
#: What rabbitmqctl is asked, without the client properties after a failure.
_WITHOUT_PROPERTIES: Final = tuple(f for f in FIELDS if f != "client_properties")
_NO_CTL: Final = (
    "rabbitmqctl is not available to this user (not installed, or RabbitMQ's "
    "Erlang cookie is not readable: run as root or as the rabbitmq user)"
)
_LAG: Final = (
    "the management API lists a connection only once it is running, from its "
    "first statistics (up to 5 s later, collect_statistics_interval), and its "
    "state, channels and byte counts are as of its last statistics"
)


@dataclass(frozen=True, slots=True)
class BrokerView:
    """The broker's record of one connection, and where it came from."""

    #: Which source answered; None when neither did.
    source: Source | None
    #: The record (brokerrows.FIELDS), empty when the connection is not listed.
    values: dict[str, JSON]
    #: What was asked, as a learner could ask it (no password).
    asked: str = ""
    #: Why `values` is empty: not listed, or why neither source answered.
    problem: str = ""
    #: Anything else to know about these values.
    note: str = ""

    @property
    def listed(self) -> bool:
        """Whether the broker listed the connection."""
        return bool(self.values)

    def same_as(self, other: BrokerView) -> bool:
        """Whether `other` says the same, the byte counters aside."""
        return (self.source, self.problem, _steady(self.values)) == (
            other.source,
            other.problem,
            _steady(other.values),
        )


def _steady(values: dict[str, JSON]) -> dict[str, JSON]:
    return {k: v for k, v in values.items() if k not in COUNTERS}


async def broker_view(
    peer_port: int, url: str, management: str | None = None
) -> BrokerView:
    """The broker's record of the connection from `peer_port` to `url`'s broker.

    rabbitmqctl answers when this user may run it (broker.ctl_available) and
    lists the connection; otherwise the management API is asked.

    Args:
        peer_port: The client's TCP port as the broker sees it.
        url: The AMQP URL of the broker (its port picks the connection out;
            its user and password log in to the management API by default).
        management: The management API's URL, e.g.
            ``http://user:pass@127.0.0.1:15672``; by default the AMQP host on
            the AMQP port plus MANAGEMENT_OFFSET.

    Returns:
        The view; a source that fails or is absent is a view saying why, never
        an exception.
    """
    try:
        endpoint = parse(url)
    except EndpointError as exc:
        return BrokerView(None, {}, problem=f"the broker's URL is not usable: {exc}")
    by_ctl = None
    if broker.ctl_available():
        by_ctl = await _from_ctl(peer_port, endpoint.port)
        if by_ctl.listed:
            return by_ctl
    by_api = await _ask_management(peer_port, endpoint, management)
    if by_api.listed:
        return by_api
    for answered in (by_ctl, by_api):
        if answered is not None and answered.source is not None:
            return answered  # it answered, and lists no such connection
    because = [by_ctl.problem if by_ctl is not None else _NO_CTL, by_api.problem]
    return BrokerView(
        None, {}, problem="neither answered, because " + "; ".join(because)
    )


async def _ask_management(
    peer_port: int, endpoint: Endpoint, management: str | None
) -> BrokerView:
    """The management API's view, as `management` or the AMQP URL's user."""
    try:
        api = _management_url(endpoint.host, endpoint.port, endpoint.tls, management)
    except ValueError as exc:
        return BrokerView(None, {}, problem=f"the management URL is not usable: {exc}")
    if api.user is not None:
        user, password = api.user, api.password or ""
    else:
        user, password = endpoint.user, endpoint.password
    return await _from_management(peer_port, endpoint.port, api, user, password)


async def _from_ctl(peer_port: int, broker_port: int) -> BrokerView:
    """What rabbitmqctl lists for the connection (source None if it failed)."""
    note, args = "", _ctl_args(FIELDS)
    try:
        text = await broker.rabbitmqctl(*args)
    except broker.LabError as first:
        # Its JSON formatter stops at client properties holding bytes that are
        # not UTF-8, for every connection (seen on 3.10.8 and 4.0.5).
        args = _ctl_args(_WITHOUT_PROPERTIES)
        try:
            text = await broker.rabbitmqctl(*args)
        except broker.LabError:
            return BrokerView(None, {}, problem=str(first))
        note = (
            "client_properties left out: rabbitmqctl's JSON formatter fails on "
            "some connection's (bytes that are not UTF-8)"
        )
    asked = "rabbitmqctl " + " ".join(args)
    try:
        rows = ctl_rows(text)
    except RowsError as exc:
        return BrokerView(None, {}, asked, f"rabbitmqctl: {exc}")
    return _viewed("rabbitmqctl", rows, peer_port, broker_port, asked, note)


def _ctl_args(items: tuple[str, ...]) -> tuple[str, ...]:
    return ("list_connections", *items, "--formatter", "json", "--quiet")


def _management_url(host: str, port: int, tls: bool, given: str | None) -> URL:
    """The management API's base URL, given or by convention.

    Raises:
        ValueError: `given` is not an http(s) URL with a host.
    """
    if given is None:
        scheme = "https" if tls else "http"
        return URL.build(scheme=scheme, host=host, port=port + MANAGEMENT_OFFSET)
    api = URL(given)
    if api.scheme not in ("http", "https") or not api.host:
        raise ValueError(f"{redact(given)} is not an http:// or https:// URL")
    return api


async def _from_management(
    peer_port: int, broker_port: int, api: URL, user: str, password: str
) -> BrokerView:
    """What the management API lists for the connection (source None: no answer)."""
    where = api.with_user(None).with_query(None).with_fragment(None)
    listing = (where / "api" / "connections").with_query(columns=",".join(FIELDS))
    asked = f"GET {listing} (as {user})"
    try:
        text = await asyncio.to_thread(_get, str(listing), user, password)
    except urllib.error.HTTPError as exc:
        why = f"{exc.code} {exc.reason}"
        if exc.code == 401:
            why += (
                f": user {user!r} may not log in there (wrong password, or not "
                "tagged management, monitoring or administrator)"
            )
        return BrokerView(None, {}, asked, f"the management API at {where} said {why}")
    except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError too
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, OSError) and reason.strerror:
            reason = reason.strerror
        return BrokerView(
            None,
            {},
            asked,
            f"no management API answers at {where} ({reason}); "
            "is the rabbitmq_management plugin enabled?",
        )
    try:
        rows = management_rows(text)
    except RowsError as exc:
        return BrokerView(None, {}, asked, f"the management API at {where}: {exc}")
    return _viewed("management", rows, peer_port, broker_port, asked, _LAG)


def _get(url: str, user: str, password: str) -> str:
    """GET `url` with HTTP basic authentication (in a thread: it blocks)."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as answer:
        body: bytes = answer.read()
    return body.decode(errors="replace")


def _viewed(
    source: Source,
    rows: list[Row],
    peer_port: int,
    broker_port: int,
    asked: str,
    note: str,
) -> BrokerView:
    """The view of the one row from `peer_port` to `broker_port`, if listed."""
    for row in rows:
        if row.get("peer_port") == peer_port and row.get("port") == broker_port:
            return BrokerView(source, row, asked, note=note)
    return BrokerView(
        source,
        {},
        asked,
        f"{source} lists no connection from port {peer_port} to port {broker_port}",
        note,
    )


async def follow(
    peer_port: int,
    url: str,
    on_view: Callable[[BrokerView], None],
    management: str | None = None,
    every: float = FOLLOW_EVERY,
) -> None:
    """Tell `on_view` the broker's view of a connection, and each change of it.

    The first view told is the first in which the broker lists the connection,
    in whatever state (a stepped connection may be starting or tuning for
    seconds), or one saying why neither source answered. After that a view is
    told when anything but the byte counters (COUNTERS) changed: they move with
    every frame and heartbeat, so counting them would tell a view at every
    look. Once a listed connection is no longer listed, that view is told and
    the follower returns (its port may be some later connection's). Cancel it
    to stop sooner (a rabbitmqctl under way is killed and reaped).
    """
    told: BrokerView | None = None
    seen = False
    while True:
        view = await broker_view(peer_port, url, management)
        seen = seen or view.listed
        worth = view.listed or view.source is None or seen
        if worth and (told is None or not view.same_as(told)):
            on_view(view)
            told = view
            if seen and not view.listed and view.source is not None:
                return
        await asyncio.sleep(every)


def record(connection: str, view: BrokerView) -> dict[str, JSON]:
    """The JSON line `--json` prints for a view of `connection` (its client address).

    ``{"event": "broker", "connection": ..., "source": ..., "values": {...}}``,
    with "asked", "problem" and "note" when they say something.
    """
    line: dict[str, JSON] = {
        "event": "broker",
        "connection": connection,
        "source": view.source,
        "values": dict(view.values),
    }
    extra = {"asked": view.asked, "problem": view.problem, "note": view.note}
    line.update({key: text for key, text in extra.items() if text})
    return line
