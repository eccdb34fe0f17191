"""Reaching the broker: resolution, each address tried in turn, descriptor limits.

These use loopback sockets only: no broker is needed.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from explorer.net.connect import Address, connect_first, descriptors, resolve


def loopback(port: int) -> Address:
    """127.0.0.1:`port` as resolve() would list it."""
    return Address("IPv4", "127.0.0.1", port, ("127.0.0.1", port), socket.AF_INET)


def closed_port() -> int:
    """A loopback port nothing listens on: bound for a moment, then closed."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A listening loopback socket (the kernel completes connects to it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(4)
        yield sock


async def test_a_refused_address_is_kept_and_the_next_one_is_tried(
    listener: socket.socket,
) -> None:
    dead, live = loopback(closed_port()), loopback(listener.getsockname()[1])
    sock, attempts = await connect_first([dead, live], time_limit=5)
    assert sock is not None
    try:
        assert [(a.address, a.outcome) for a in attempts] == [
            (dead, "refused"),
            (live, "connected"),
        ]
        assert all(a.ms >= 0 for a in attempts)
        assert sock.getpeername() == listener.getsockname()
        accepted, peer = await asyncio.to_thread(listener.accept)
        with accepted:
            assert peer == sock.getsockname()
    finally:
        sock.close()


async def test_every_address_refused_gives_no_socket_and_every_attempt() -> None:
    addresses = [loopback(closed_port()), loopback(closed_port())]
    sock, attempts = await connect_first(addresses, time_limit=5)
    assert sock is None
    assert [a.address for a in attempts] == addresses
    assert {a.outcome for a in attempts} == {"refused"}


async def test_no_addresses_give_no_socket_and_no_attempts() -> None:
    assert await connect_first([], time_limit=5) == (None, [])


async def test_localhost_resolves_to_an_ip_address() -> None:
    addresses, took = await resolve("localhost", 5672)
    assert addresses
    assert took >= 0
    for address in addresses:
        assert address.family in ("IPv4", "IPv6")
        assert address.port == 5672
        assert address.socket_family in (socket.AF_INET, socket.AF_INET6)
        assert address.sockaddr[:2] == (address.host, 5672)
    assert len(set(addresses)) == len(addresses), "each address listed once"


async def test_an_unknown_name_raises_gaierror() -> None:
    with pytest.raises(socket.gaierror):
        await resolve("no-such-host.invalid", 5672)


def test_descriptors_are_counts_or_unlimited() -> None:
    limits = descriptors()
    assert set(limits) == {
        "open_files_soft_limit",
        "open_files_hard_limit",
        "open_files_held",
    }
    soft, hard, held = (
        limits["open_files_soft_limit"],
        limits["open_files_hard_limit"],
        limits["open_files_held"],
    )
    for limit in (soft, hard):
        assert limit is None or (isinstance(limit, int) and limit > 0)
    assert isinstance(held, int)
    assert held > 0
    if isinstance(soft, int):
        assert held <= soft
        assert hard is None or (isinstance(hard, int) and soft <= hard)


def test_addresses_print_as_host_and_port() -> None:
    assert str(loopback(5672)) == "127.0.0.1:5672"
    six = Address("IPv6", "::1", 5672, ("::1", 5672, 0, 0), socket.AF_INET6)
    assert str(six) == "[::1]:5672"
