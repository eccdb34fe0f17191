"""Reaching the broker before AMQP starts: name resolution, TCP, TLS facts.

Owns `resolve` (the real getaddrinfo), `connect_first` (each address in turn
until one accepts, every failed attempt kept), the process's descriptor
limits, and reading TLS facts off a finished TLS handshake.
"""

from __future__ import annotations

import asyncio
import errno
import os
import resource
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any, Final

from explorer.protocol.fields import JSON


@dataclass(frozen=True, slots=True)
class Address:
    """One address the host name resolved to."""

    family: str
    host: str
    port: int
    sockaddr: tuple[Any, ...]
    socket_family: int

    def __str__(self) -> str:
        return (
            f"[{self.host}]:{self.port}"
            if ":" in self.host
            else f"{self.host}:{self.port}"
        )


@dataclass(frozen=True, slots=True)
class Attempt:
    """One TCP connect attempt and how it ended."""

    address: Address
    #: "connected", "refused", "timed out", "unreachable" or the OS's words.
    outcome: str
    ms: float


async def resolve(host: str, port: int) -> tuple[list[Address], float]:
    """Resolve `host` the way the client library will, in the order it will try.

    Returns:
        The addresses and how long resolution took, in milliseconds.

    Raises:
        socket.gaierror: the name does not resolve.
    """
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    infos = await loop.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    took = (time.perf_counter() - started) * 1000
    addresses: list[Address] = []
    for family, _, _, _, sockaddr in infos:
        name = "IPv6" if family == socket.AF_INET6 else "IPv4"
        address = Address(
            name, str(sockaddr[0]), int(sockaddr[1]), tuple(sockaddr), family
        )
        if address not in addresses:
            addresses.append(address)
    return addresses, took


async def connect_first(
    addresses: list[Address], time_limit: float
) -> tuple[socket.socket | None, list[Attempt]]:
    """Connect to each address in turn until one accepts.

    Args:
        addresses: In the order to try them.
        time_limit: Seconds each attempt may take.

    Returns:
        The connected socket (None if every attempt failed) and every attempt.
    """
    loop = asyncio.get_running_loop()
    attempts: list[Attempt] = []
    for address in addresses:
        sock = socket.socket(address.socket_family, socket.SOCK_STREAM)
        # As asyncio's own connections do (it sets this only on sockets made with
        # proto IPPROTO_TCP): otherwise a frame written right after another
        # waits for the broker's delayed ACK of the first, some 40 ms.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(time_limit):
                await loop.sock_connect(sock, address.sockaddr)
        except (OSError, TimeoutError) as exc:
            sock.close()
            ms = (time.perf_counter() - started) * 1000
            attempts.append(Attempt(address, _outcome(exc), ms))
            continue
        ms = (time.perf_counter() - started) * 1000
        attempts.append(Attempt(address, "connected", ms))
        return sock, attempts
    return None, attempts


def _outcome(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, OSError) and exc.errno in (
        errno.ENETUNREACH,
        errno.EHOSTUNREACH,
    ):
        return "unreachable"
    return str(exc.strerror if isinstance(exc, OSError) and exc.strerror else exc)


def descriptors() -> dict[str, JSON]:
    """This process's open-file limit (soft, hard) and how many it holds now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        held: int | None = len(os.listdir("/proc/self/fd"))
    except OSError:
        held = None
    unlimited = resource.RLIM_INFINITY
    return {
        "open_files_soft_limit": None if soft == unlimited else soft,
        "open_files_hard_limit": None if hard == unlimited else hard,
        "open_files_held": held,
    }


def tls_facts(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> dict[str, JSON]:
    """Version, cipher and the broker certificate of a finished TLS handshake."""
    if ssl_object is None:
        return {}
    cipher = ssl_object.cipher()
    cert = ssl_object.getpeercert() or {}
    return {
        "tls_version": ssl_object.version(),
        "cipher": cipher[0] if cipher else None,
        "subject": _name(cert.get("subject", ())),
        "issuer": _name(cert.get("issuer", ())),
        "not_before": str(cert.get("notBefore", "")),
        "not_after": str(cert.get("notAfter", "")),
    }


#: The short names OpenSSL prints for what Python's getpeercert() spells out.
SHORT_NAMES: Final = {
    "commonName": "CN",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "stateOrProvinceName": "ST",
    "localityName": "L",
    "domainComponent": "DC",
}


def _name(rdns: Any) -> str:
    """``CN=broker, O=Example`` from the certificate's nested name tuples."""
    parts = [
        f"{SHORT_NAMES.get(key, key)}={value}" for rdn in rdns for key, value in rdn
    ]
    return ", ".join(parts)
