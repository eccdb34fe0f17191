"""The endpoint the learner gives: an AMQP URL, checked and shown without secrets.

Owns the default URL, the AMQP_URL override and password redaction.
"""

from __future__ import annotations

import os
from typing import Final

from yarl import URL

DEFAULT_URL: Final = "amqp://guest:guest@localhost:5672/"
SCHEMES: Final = ("amqp", "amqps")


class EndpointError(ValueError):
    """A URL that cannot name an AMQP endpoint; the message names the bad part."""


def chosen_url(argument: str | None) -> str:
    """The URL to use: the argument, else $AMQP_URL, else the default."""
    return argument or os.environ.get("AMQP_URL") or DEFAULT_URL


def check(url: str) -> URL:
    """Parse `url` and make sure it names an AMQP endpoint.

    Raises:
        EndpointError: the scheme, host or port is missing or wrong.
    """
    try:
        parsed = URL(url)
        port = parsed.explicit_port
    except ValueError as exc:
        raise EndpointError(f"{redact(url)!r} is not a valid URL: {exc}") from exc
    if parsed.scheme not in SCHEMES:
        shown = parsed.scheme or "nothing"
        raise EndpointError(
            f"the scheme is {shown!r}; an AMQP URL starts with amqp:// or amqps://"
        )
    if not parsed.host:
        raise EndpointError(f"{redact(url)!r} names no host (amqp://HOST:PORT/VHOST)")
    if port is not None and not 0 < port < 65536:
        raise EndpointError(f"port {port} is out of range (1-65535)")
    return parsed


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
