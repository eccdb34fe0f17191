"""The described types the spec defines: their descriptors, names and fields.

Owns the table of AMQP 1.0's composite and restricted described types (parts
2 to 5): each one's numeric descriptor (domain 0x00000000), its symbolic one
(``amqp:open:list``), the encoding it is described over, the names of its
list fields in order, and its role: a performative of an AMQP frame, a SASL
frame's body, a section of a message, or a type used inside those. Sans-I/O.
"""

from __future__ import annotations

import enum
from typing import Final, NamedTuple


class Role(enum.Enum):
    """Where a described type may stand."""

    #: The body of an AMQP frame (type 0x00): open, begin ... close.
    PERFORMATIVE = "performative"
    #: The body of a SASL frame (type 0x01): sasl-mechanisms ... sasl-outcome.
    SASL = "sasl"
    #: A section of a message, in a transfer's payload: header ... footer.
    SECTION = "section"
    #: A value inside one of those: source, target, error, a delivery state ...
    VALUE = "value"


class Composite(NamedTuple):
    """One described type of the spec."""

    #: Its numeric descriptor: domain 0x00000000, so the code itself.
    code: int
    #: The spec's name: ``open``, ``sasl-init``, ``application-properties`` ...
    name: str
    #: What it is described over: ``list`` (its fields), ``map``, ``binary``, ``*``.
    source: str
    role: Role
    #: The names of its list's elements, in order (empty unless `source` is list).
    fields: tuple[str, ...] = ()

    @property
    def symbol(self) -> str:
        """Its symbolic descriptor, as a peer may write it instead of the code."""
        return f"amqp:{self.name}:{self.source}"


_P, _S, _M, _V = Role.PERFORMATIVE, Role.SASL, Role.SECTION, Role.VALUE
_CAPABILITIES: Final = ("offered-capabilities", "desired-capabilities", "properties")
_TERMINUS: Final = (
    "address", "durable", "expiry-policy", "timeout", "dynamic",
    "dynamic-node-properties",
)  # fmt: skip
COMPOSITES: Final = (
    # Part 2, transport: the performatives and the error they carry.
    Composite(0x10, "open", "list", _P, (
        "container-id", "hostname", "max-frame-size", "channel-max",
        "idle-time-out", "outgoing-locales", "incoming-locales", *_CAPABILITIES,
    )),
    Composite(0x11, "begin", "list", _P, (
        "remote-channel", "next-outgoing-id", "incoming-window",
        "outgoing-window", "handle-max", *_CAPABILITIES,
    )),
    Composite(0x12, "attach", "list", _P, (
        "name", "handle", "role", "snd-settle-mode", "rcv-settle-mode", "source",
        "target", "unsettled", "incomplete-unsettled", "initial-delivery-count",
        "max-message-size", *_CAPABILITIES,
    )),
    Composite(0x13, "flow", "list", _P, (
        "next-incoming-id", "incoming-window", "next-outgoing-id",
        "outgoing-window", "handle", "delivery-count", "link-credit",
        "available", "drain", "echo", "properties",
    )),
    Composite(0x14, "transfer", "list", _P, (
        "handle", "delivery-id", "delivery-tag", "message-format", "settled",
        "more", "rcv-settle-mode", "state", "resume", "aborted", "batchable",
    )),
    Composite(0x15, "disposition", "list", _P, (
        "role", "first", "last", "settled", "state", "batchable",
    )),
    Composite(0x16, "detach", "list", _P, ("handle", "closed", "error")),
    Composite(0x17, "end", "list", _P, ("error",)),
    Composite(0x18, "close", "list", _P, ("error",)),
    Composite(0x1D, "error", "list", _V, ("condition", "description", "info")),
    # Part 3, messaging: delivery states, termini, lifetime policies, sections.
    Composite(0x23, "received", "list", _V, ("section-number", "section-offset")),
    Composite(0x24, "accepted", "list", _V),
    Composite(0x25, "rejected", "list", _V, ("error",)),
    Composite(0x26, "released", "list", _V),
    Composite(0x27, "modified", "list", _V, (
        "delivery-failed", "undeliverable-here", "message-annotations",
    )),
    Composite(0x28, "source", "list", _V, (
        *_TERMINUS, "distribution-mode", "filter", "default-outcome",
        "outcomes", "capabilities",
    )),
    Composite(0x29, "target", "list", _V, (*_TERMINUS, "capabilities")),
    Composite(0x2B, "delete-on-close", "list", _V),
    Composite(0x2C, "delete-on-no-links", "list", _V),
    Composite(0x2D, "delete-on-no-messages", "list", _V),
    Composite(0x2E, "delete-on-no-links-or-messages", "list", _V),
    Composite(0x70, "header", "list", _M, (
        "durable", "priority", "ttl", "first-acquirer", "delivery-count",
    )),
    Composite(0x71, "delivery-annotations", "map", _M),
    Composite(0x72, "message-annotations", "map", _M),
    Composite(0x73, "properties", "list", _M, (
        "message-id", "user-id", "to", "subject", "reply-to", "correlation-id",
        "content-type", "content-encoding", "absolute-expiry-time",
        "creation-time", "group-id", "group-sequence", "reply-to-group-id",
    )),
    Composite(0x74, "application-properties", "map", _M),
    Composite(0x75, "data", "binary", _M),
    Composite(0x76, "amqp-sequence", "list", _M),
    Composite(0x77, "amqp-value", "*", _M),
    Composite(0x78, "footer", "map", _M),
    # Part 4, transactions.
    Composite(0x30, "coordinator", "list", _V, ("capabilities",)),
    Composite(0x31, "declare", "list", _V, ("global-id",)),
    Composite(0x32, "discharge", "list", _V, ("txn-id", "fail")),
    Composite(0x33, "declared", "list", _V, ("txn-id",)),
    Composite(0x34, "transactional-state", "list", _V, ("txn-id", "outcome")),
    # Part 5, security: the SASL frames' bodies.
    Composite(0x40, "sasl-mechanisms", "list", _S, ("sasl-server-mechanisms",)),
    Composite(0x41, "sasl-init", "list", _S, (
        "mechanism", "initial-response", "hostname",
    )),
    Composite(0x42, "sasl-challenge", "list", _S, ("challenge",)),
    Composite(0x43, "sasl-response", "list", _S, ("response",)),
    Composite(0x44, "sasl-outcome", "list", _S, ("code", "additional-data")),
)  # fmt: skip
_BY_CODE: Final = {c.code: c for c in COMPOSITES}
_BY_SYMBOL: Final = {c.symbol: c for c in COMPOSITES}


def composite(descriptor: object) -> Composite | None:
    """The spec's type a descriptor names: its code (an int) or its symbol (a str)."""
    if isinstance(descriptor, bool):
        return None
    if isinstance(descriptor, int):
        return _BY_CODE.get(descriptor)
    if isinstance(descriptor, str):
        return _BY_SYMBOL.get(descriptor)
    return None
