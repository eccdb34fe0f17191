"""The tcp step of a connection the watch proxy relays: its two TCP connections.

Owns what the tcp phase of a watched connection reports (the application's
connection to the proxy, the proxy's to the broker, TLS toward the broker),
and how a failed connect to the broker is worded. explorer.engine.watched
tells them.
"""

from __future__ import annotations

import os
import socket
import ssl

from explorer.net.proxy import Relay
from explorer.protocol.fields import JSON


def why(error: OSError) -> str:
    """Why a connect failed, in the system's words ("Connection refused").

    asyncio words a refused connect "Connect call failed ('127.0.0.1', 5672)",
    which hides the reason its errno gives.
    """
    if isinstance(error, socket.gaierror | ssl.SSLError) or not error.errno:
        return str(error.strerror or error)
    return os.strerror(error.errno)


def tcp_facts(relay: Relay) -> tuple[dict[str, JSON], tuple[str, ...]]:
    """The two TCP connections a watched client makes through the proxy."""
    tls = relay.upstream.tls is not None
    facts: dict[str, JSON] = {
        "client": relay.tap.client_address,
        "proxy_to_broker": relay.upstream_address,
        "broker": relay.tap.broker_address,
        "upstream_tls": tls,
    }
    notes = [
        f"Your application connected from {relay.tap.client_address} to the "
        "explorer's proxy; the proxy opened its own TCP connection to the broker "
        f"at {relay.tap.broker_address} from {relay.upstream_address}, and relays "
        "every byte both ways unchanged.",
        f"The broker sees {relay.upstream_address} as the client: that is the peer "
        "its list_connections and log name, not your application's address.",
    ]
    if tls:
        notes.append(
            "The application speaks plain AMQP to the proxy; the proxy speaks TLS "
            "to the broker (amqps), so the bytes shown are the plaintext inside it."
        )
        transport = relay.tap.transport
        secured = transport.get_extra_info("ssl_object") if transport else None
        if secured is not None:
            facts["upstream_tls_version"] = secured.version()
            facts["upstream_cipher"] = (secured.cipher() or ("",))[0]
    return facts, tuple(notes)
