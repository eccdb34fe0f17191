"""The endpoint the learner gives: an AMQP URI, parsed as RabbitMQ specifies it.

Owns the default URL, the AMQP_URL override, parsing (scheme, credentials, host,
port, vhost, query options, each with where its value came from), the URL
handed to aiormq (or spelled with other options), and password redaction.
Bad URIs raise EndpointError naming the bad part.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

from yarl import URL

DEFAULT_URL: Final = "amqp://guest:guest@localhost:5672/"
DEFAULT_PORTS: Final = {"amqp": 5672, "amqps": 5671}
MECHANISMS: Final = ("PLAIN", "AMQPLAIN", "EXTERNAL")
#: aiormq's default heartbeat, sent in TuneOk whatever the broker proposes.
AIORMQ_HEARTBEAT: Final = 60
DEFAULT_CONNECT_TIMEOUT_MS: Final = 10_000
#: What a URL's port must be: port 0 is "any port" to a listener, never a broker's.
PORTS: Final = "a number from 1 to 65535"
#: The longest host name DNS carries, and its longest dot-separated label (RFC 1035).
MAX_HOST: Final = 253
MAX_LABEL: Final = 63
#: Query options aiormq itself reads for TLS; passed through untouched.
TLS_OPTIONS: Final[tuple[str, ...]] = (
    "cafile",
    "capath",
    "cadata",
    "keyfile",
    "certfile",
    "no_verify_ssl",
)
#: Query options and their other spellings (RabbitMQ's URI spec, then aiormq's).
ALIASES: Final = {
    "name": "connection_name",
    "auth_mechanism": "auth",
}


class EndpointError(ValueError):
    """A URL that cannot name an AMQP endpoint; the message names the bad part."""


@dataclass(frozen=True, slots=True)
class Setting:
    """One value of the endpoint and where it came from."""

    name: str
    value: object
    #: "url" when the learner wrote it, "default" when they did not.
    source: str
    #: Anything a learner should know about it.
    note: str = ""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Everything the client library needs to reach the broker."""

    scheme: str
    user: str
    password: str
    host: str
    port: int
    vhost: str
    heartbeat: int
    #: None: not asked for (aiormq echoes the broker's proposal).
    frame_max: int | None
    channel_max: int | None
    connection_name: str | None
    auth: str
    connect_timeout: float
    settings: tuple[Setting, ...]
    tls_options: tuple[tuple[str, str], ...] = ()

    @property
    def tls(self) -> bool:
        """Whether the connection is wrapped in TLS (amqps)."""
        return self.scheme == "amqps"

    @property
    def redacted(self) -> str:
        """The URL handed to aiormq, password shown as ``***``."""
        return self.spelled(self._aiormq_query())

    def aiormq_url(self) -> str:
        """The URL to hand aiormq, in the query spelling aiormq reads."""
        return self.spelled(self._aiormq_query(), reveal=True)

    def spelled(self, query: Sequence[str], *, reveal: bool = False) -> str:
        """The endpoint as a URL with the options `query` (``name=value``,
        percent-encoded), the password ``***`` unless `reveal`."""
        vhost = quote(self.vhost, safe="")
        user = quote(self.user, safe="")
        password = quote(self.password, safe="") if reveal else "***"
        host = f"[{self.host}]" if ":" in self.host else self.host
        options = f"?{'&'.join(query)}" if query else ""
        return f"{self.scheme}://{user}:{password}@{host}:{self.port}/{vhost}{options}"

    def _aiormq_query(self) -> list[str]:
        query = [f"heartbeat={self.heartbeat}", f"auth={self.auth.lower()}"]
        if self.connection_name:
            query.append(f"name={quote(self.connection_name, safe='')}")
        return query + [f"{k}={quote(v, safe='/')}" for k, v in self.tls_options]


def chosen_url(argument: str | None) -> str:
    """The URL to use: the argument, else $AMQP_URL, else the default."""
    return argument or os.environ.get("AMQP_URL") or DEFAULT_URL


def parse(url: str) -> Endpoint:
    """Parse an AMQP URI as RabbitMQ's URI specification describes it.

    Args:
        url: ``amqp[s]://[user[:password]@]host[:port][/vhost][?options]``.

    Returns:
        The endpoint, each value marked as written in the URL or defaulted.

    Raises:
        EndpointError: naming the part of the URI that is wrong.
    """
    parsed = _split(url)
    settings: list[Setting] = []

    def take(name: str, value: object, given: bool, note: str = "") -> None:
        settings.append(Setting(name, value, "url" if given else "default", note))

    scheme = parsed.scheme
    take("scheme", scheme, True, "TLS" if scheme == "amqps" else "plain TCP, no TLS")
    user = parsed.user if parsed.user is not None else "guest"
    take("user", user, parsed.user is not None)
    password = parsed.password if parsed.password is not None else "guest"
    take(
        "password",
        "***",
        parsed.password is not None,
        "hidden; --reveal-secrets shows it",
    )
    host = parsed.host or "localhost"
    take("host", host, bool(parsed.host))
    port = parsed.explicit_port or DEFAULT_PORTS[scheme]  # 0 was refused above
    take("port", port, parsed.explicit_port is not None)
    vhost, vhost_note = _vhost(parsed)
    take("vhost", vhost, bool(vhost_note.startswith("from")), vhost_note)
    options = _options(parsed)
    heartbeat = _integer(options, "heartbeat", 0, 65535)
    take(
        "heartbeat",
        AIORMQ_HEARTBEAT if heartbeat is None else heartbeat,
        heartbeat is not None,
        "seconds; aiormq sends this in TuneOk whatever the broker proposes",
    )
    frame_max = _integer(options, "frame_max", 0, 2**32 - 1)
    take("frame_max", frame_max, frame_max is not None, _echo_note(frame_max))
    channel_max = _integer(options, "channel_max", 0, 65535)
    take("channel_max", channel_max, channel_max is not None, _echo_note(channel_max))
    name = options.pop("connection_name", None)
    take("connection_name", name, name is not None, "shown in the broker's log and UI")
    auth = options.pop("auth", "plain").upper()
    if auth not in MECHANISMS:
        raise EndpointError(
            f"auth={auth.lower()} is not a mechanism aiormq can use "
            f"({', '.join(m.lower() for m in MECHANISMS)})"
        )
    take("auth", auth, "auth" in parsed.query or "auth_mechanism" in parsed.query)
    timeout_ms = _integer(options, "connection_timeout", 1, 3_600_000)
    connect_timeout = (timeout_ms or DEFAULT_CONNECT_TIMEOUT_MS) / 1000
    take(
        "connection_timeout",
        connect_timeout,
        timeout_ms is not None,
        "seconds per TCP attempt",
    )
    tls_options = tuple((k, options.pop(k)) for k in TLS_OPTIONS if k in options)
    for option, setting in tls_options:
        take(option, setting, True, "TLS setting read by aiormq")
    for unknown, setting in options.items():
        take(unknown, setting, True, "unknown option: ignored")
    return Endpoint(
        scheme=scheme,
        user=user,
        password=password,
        host=host,
        port=port,
        vhost=vhost,
        heartbeat=AIORMQ_HEARTBEAT if heartbeat is None else heartbeat,
        frame_max=frame_max,
        channel_max=channel_max,
        connection_name=name,
        auth=auth,
        connect_timeout=connect_timeout,
        settings=tuple(settings),
        tls_options=tls_options,
    )


def _split(url: str) -> URL:
    try:
        parsed = URL(url)
        port = parsed.explicit_port  # yarl validates the port lazily
    except ValueError as exc:
        problem = f"the port is not {PORTS}" if "port" in str(exc).lower() else exc
        raise EndpointError(f"{redact(url)!r} is not a valid URL: {problem}") from exc
    if parsed.scheme not in DEFAULT_PORTS:
        shown = parsed.scheme or "nothing"
        raise EndpointError(
            f"the scheme is {shown!r}; an AMQP URL starts with amqp:// or amqps://"
        )
    if not parsed.host and parsed.raw_authority:
        raise EndpointError(f"{redact(url)!r} names no host (amqp://HOST:PORT/VHOST)")
    if port == 0:
        raise EndpointError(
            f"{redact(url)!r} is not a valid URL: port 0 is not {PORTS}"
        )
    if parsed.raw_host:
        _check_host(parsed.raw_host)
    return parsed


def _check_host(host: str) -> None:
    """Refuse a host name DNS cannot carry, before the resolver chokes on it."""
    if ":" in host:  # an IPv6 address
        return
    shown = host if len(host) <= 40 else f"{host[:39]}…"
    name = host.removesuffix(".")
    if len(name) > MAX_HOST:
        raise EndpointError(
            f"the host {shown!r} is {len(name)} characters long; "
            f"a host name has at most {MAX_HOST}"
        )
    for label in name.split("."):
        if not 0 < len(label) <= MAX_LABEL:
            raise EndpointError(
                f"the host {shown!r} has a part between dots {len(label)} characters "
                f"long; each part of a host name has 1 to {MAX_LABEL}"
            )


def _vhost(parsed: URL) -> tuple[str, str]:
    """The vhost aiormq will open, and a note on where it came from."""
    raw = parsed.raw_path
    if raw == "":
        return "/", "default"
    if raw == "/":
        return "/", (
            "default: RabbitMQ's URI spec reads a bare trailing / as the empty "
            "vhost, but the explorer, like most clients, opens /"
        )
    segment = raw[1:]
    if "/" in segment:
        raise EndpointError(
            f"the path {raw!r} has more than one segment; a vhost containing / "
            "is written percent-encoded, e.g. /%2F for the vhost /"
        )
    vhost = parsed.path[1:]
    return vhost, f"from the path {raw!r}" + (
        " (percent-decoded)" if "%" in raw else ""
    )


def _options(parsed: URL) -> dict[str, str]:
    options: dict[str, str] = {}
    for key, value in parsed.query.items():
        options[ALIASES.get(key, key)] = value
    return options


def _integer(options: dict[str, str], name: str, low: int, high: int) -> int | None:
    text = options.pop(name, None)
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        raise EndpointError(f"{name}={text!r} is not a whole number") from None
    if not low <= value <= high:
        raise EndpointError(f"{name}={value} is out of range ({low}-{high})")
    return value


def _echo_note(value: int | None) -> str:
    if value is None:
        return "not asked for: aiormq echoes the broker's proposal in TuneOk"
    return "the explorer asks aiormq's TuneOk for at most this"


def redact(url: str) -> str:
    """`url` with its password replaced by ``***`` (unchanged if it has none)."""
    try:
        parsed = URL(url)
        if parsed.password is None:
            return url
        return str(parsed.with_password("***"))
    except (ValueError, TypeError):
        # Not parseable: hide everything between "://user:" and "@".
        head, sep, rest = url.partition("://")
        if not sep or "@" not in rest:
            return url
        userinfo, _, host = rest.rpartition("@")
        user = userinfo.split(":", 1)[0]
        return f"{head}://{user}:***@{host}"
