"""The Spring puzzle of lesson 18, on the live broker: what the broker shows.

A message put on a queue by one connection makes no other connection appear
(a broker never opens one), and `list_connections` names a client by the port
it connected from (`peer_port`), the protocol and the client's own properties.

The queue test runs in a vhost of its own, made for it and deleted afterwards
with the queue it declares, so other clients of the broker cannot change its
count of connections. Nothing else on the broker is changed.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from importlib.metadata import version
from typing import Any

import aiormq
import pytest
from aiormq.connection import TCPTransportFactory
from yarl import URL

from explorer.lab.broker import log_file, log_lines

Ctl = Callable[..., str]
#: Long enough for any connection the message could have caused to show up.
SETTLE_S = 2.0


class LocalPortFactory(TCPTransportFactory):
    """aiormq's own TCP transport, remembering both ends of the socket."""

    sockname: tuple[Any, ...] = ()
    peername: tuple[Any, ...] = ()

    async def create(
        self, url: URL, **kwargs: Any
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await super().create(url, **kwargs)
        self.sockname = writer.get_extra_info("sockname")
        self.peername = writer.get_extra_info("peername")
        return reader, writer


async def open_connection(url: str | URL) -> tuple[aiormq.Connection, LocalPortFactory]:
    """An aiormq connection to `url` and the factory that knows its ports."""
    factory = LocalPortFactory()
    connection = aiormq.Connection(url, transport_factory=factory)
    await connection.connect()
    return connection, factory


async def rows(
    ctl: Ctl, command: str, *items: str, vhost: str | None = None
) -> list[dict[str, str]]:
    """One dict per row of a rabbitmqctl list command, keyed by item."""
    where = ["-p", vhost] if vhost is not None else []
    out = await asyncio.to_thread(ctl, command, *where, *items, "--no-table-headers")
    return [
        dict(zip(items, line.split("\t"), strict=True))
        for line in out.splitlines()
        if line.strip()
    ]


async def connections_in(ctl: Ctl, vhost: str) -> list[str]:
    """The client ports of the connections that opened `vhost`."""
    listed = await rows(ctl, "list_connections", "vhost", "peer_port")
    return sorted(row["peer_port"] for row in listed if row["vhost"] == vhost)


async def until_none_in(ctl: Ctl, vhost: str, seconds: float = 10) -> list[str]:
    """The connections in `vhost` once none is left, or after `seconds`.

    A connection closed by its client leaves the list a moment later.
    """
    listed = await connections_in(ctl, vhost)
    for _ in range(int(seconds / 0.2)):
        if not listed:
            break
        await asyncio.sleep(0.2)
        listed = await connections_in(ctl, vhost)
    return listed


@pytest.fixture
async def vhost(broker_url: str, ctl: Ctl) -> AsyncIterator[str]:
    """A vhost of this test's own, where the broker_url user may do anything."""
    name = f"explorer-spring-puzzle-{secrets.token_hex(4)}"
    user = URL(broker_url).user or "guest"
    await asyncio.to_thread(ctl, "add_vhost", name)
    try:
        await asyncio.to_thread(
            ctl, "set_permissions", "-p", name, user, ".*", ".*", ".*"
        )
        yield name
    finally:
        await asyncio.to_thread(ctl, "delete_vhost", name)


async def test_a_message_from_another_connection_opens_no_connection(
    broker_url: str, ctl: Ctl, vhost: str
) -> None:
    url = URL(broker_url).with_path(f"/{vhost}")
    queue = f"orders-{secrets.token_hex(4)}"

    # The queue exists and nobody consumes from it: the app has not connected.
    setup, _ = await open_connection(url)
    channel = await setup.channel()
    await channel.queue_declare(queue, durable=True)
    await setup.close()
    try:
        assert await until_none_in(ctl, vhost) == [], "no client is connected yet"

        # Another client (the learner's CLI) puts a message on the queue.
        publisher, ends = await open_connection(url)
        try:
            channel = await publisher.channel()
            await channel.basic_publish(b"from the CLI", routing_key=queue)
            await asyncio.sleep(SETTLE_S)
            assert await connections_in(ctl, vhost) == [str(ends.sockname[1])], (
                "only the publisher's own connection is listed"
            )
        finally:
            await publisher.close()

        await until_none_in(ctl, vhost)
        await asyncio.sleep(SETTLE_S)
        assert await connections_in(ctl, vhost) == [], "the message woke nobody"
        (row,) = await rows(
            ctl, "list_queues", "name", "messages", "consumers", vhost=vhost
        )
        assert row == {"name": queue, "messages": "1", "consumers": "0"}
    finally:
        cleanup, _ = await open_connection(url)
        channel = await cleanup.channel()
        await channel.queue_delete(queue)
        await cleanup.close()


async def test_list_connections_names_the_clients_port_protocol_and_product(
    broker_url: str, ctl: Ctl
) -> None:
    name = f"spring-puzzle-{secrets.token_hex(4)}"
    connection, ends = await open_connection(URL(broker_url).update_query(name=name))
    try:
        host, port = ends.sockname[0], ends.sockname[1]
        items = ("peer_port", "peer_host", "name", "protocol", "client_properties")
        (row,) = [
            r for r in await rows(ctl, "list_connections", *items)
            if r["peer_port"] == str(port)
        ]  # fmt: skip
        assert row["peer_host"] == host
        if ":" not in host:  # the `client -> broker` pair, as the log writes it
            broker = f"{ends.peername[0]}:{ends.peername[1]}"
            assert row["name"] == f"{host}:{port} -> {broker}"
        assert row["protocol"] == "{0,9,1}"
        properties = row["client_properties"]
        assert '{"product","aiormq"}' in properties
        assert f'{{"version","{version("aiormq")}"}}' in properties
        assert f'{{"connection_name","{name}"}}' in properties
    finally:
        await connection.close()


async def test_the_log_names_the_same_client_port(broker_url: str) -> None:
    path = log_file()
    if path is None:
        pytest.skip("the broker's log is not readable here")
    connection, ends = await open_connection(broker_url)
    client = f"{ends.sockname[0]}:{ends.sockname[1]}"
    try:
        lines = log_lines(path, client)
        for _ in range(25):  # the log is written a moment after the accept
            if any("accepting AMQP connection" in line for line in lines):
                break
            await asyncio.sleep(0.2)
            lines = log_lines(path, client)
        broker = f"{ends.peername[0]}:{ends.peername[1]}"
        # 3.10.8 writes "(client -> broker)", 4.0.5 "client -> broker".
        assert any(f"{client} -> {broker}" in line for line in lines), lines
    finally:
        await connection.close()
