"""A real AMQP 1.0 lifecycle, decoded: Proton's client and RabbitMQ 4.0.5's bytes.

The committed capture (tests/captures/amqp10/lifecycle.jsonl, recorded by
tests/integration/test_amqp10_bytes.py, password masked) is decoded both ways:
every performative in order, every byte in exactly one leaf of its frame's
byte map, and the same frames however the bytes are chunked.
"""

from __future__ import annotations

import pytest

from explorer.protocol.amqp10.frames import Body, Header
from explorer.protocol.amqp10.secrets import secrets_in
from explorer.protocol.amqp10.values import Array, Described, Symbol
from explorer.protocol.bytefield import FieldKind
from explorer.protocol.frames import B2C, C2B, Direction, Frame
from explorer.protocol.stream import Chunk
from tests.unit.test_amqp10_support import (
    assert_exact,
    committed,
    decode_all,
    find,
)

CAPTURE = committed()
CLIENT = [
    "sasl-header", "sasl-init", "amqp-header", "open", "begin", "attach",
    "transfer", "attach", "flow", "disposition", "detach", "detach", "end",
    "close",
]  # fmt: skip
BROKER = [
    "sasl-header", "sasl-mechanisms", "sasl-outcome", "amqp-header", "open",
    "begin", "heartbeat", "heartbeat", "heartbeat", "attach", "flow", "disposition",
    "attach", "transfer", "detach", "detach", "end", "close",
]  # fmt: skip


def frames(direction: Direction) -> list[Frame]:
    items = decode_all(direction, [CAPTURE.stream(direction)])
    assert all(isinstance(i, Frame) for i in items), items
    return [i for i in items if isinstance(i, Frame)]


def named(direction: Direction, name: str) -> Frame:
    """The first frame of that name."""
    return next(f for f in frames(direction) if f.name == name)


def fields(direction: Direction, name: str) -> dict[str, object]:
    body = named(direction, name).payload
    assert isinstance(body, Body)
    return body.fields


def signature(direction: Direction, pieces: list[bytes]) -> list[object]:
    return [
        (i.offset, i.raw, i.name, i.channel, i.payload)
        if isinstance(i, Frame)
        else (i.offset, i.reason)
        for i in decode_all(direction, pieces)
    ]


def test_every_performative_of_the_lifecycle_in_order() -> None:
    assert [f.name for f in frames(C2B)] == CLIENT
    assert [f.name for f in frames(B2C)] == BROKER


@pytest.mark.parametrize("direction", list(Direction), ids=lambda d: d.value)
def test_every_byte_of_every_frame_is_in_exactly_one_leaf(direction: Direction) -> None:
    for item in frames(direction):
        assert_exact(item)


@pytest.mark.parametrize("direction", list(Direction), ids=lambda d: d.value)
def test_whole_byte_by_byte_and_every_split_agree(direction: Direction) -> None:
    stream = CAPTURE.stream(direction)
    whole = signature(direction, [stream])
    assert signature(direction, [bytes([b]) for b in stream]) == whole
    for cut in range(1, len(stream)):
        assert signature(direction, [stream[:cut], stream[cut:]]) == whole, cut


@pytest.mark.parametrize("direction", list(Direction), ids=lambda d: d.value)
def test_chunks_as_recorded_agree_and_frames_give_back_the_stream(
    direction: Direction,
) -> None:
    recorded = [
        e.data
        for e in CAPTURE.events
        if isinstance(e, Chunk) and e.direction is direction
    ]
    assert signature(direction, recorded) == signature(
        direction, [CAPTURE.stream(direction)]
    )
    found = frames(direction)
    assert b"".join(f.raw for f in found) == CAPTURE.stream(direction)
    assert [f.offset for f in found] == [
        sum(f.size for f in found[:n]) for n in range(len(found))
    ]


def test_the_headers_name_their_layers() -> None:
    headers = [f.payload for f in frames(C2B) if isinstance(f.payload, Header)]
    assert headers == [Header(3, 1, 0, 0), Header(0, 1, 0, 0)]


def test_what_the_broker_offers_and_proposes() -> None:
    offered = fields(B2C, "sasl-mechanisms")["sasl-server-mechanisms"]
    assert offered == Array(
        "symbol", (Symbol("PLAIN"), Symbol("AMQPLAIN"), Symbol("ANONYMOUS"))
    )
    assert fields(B2C, "sasl-outcome") == {"code": 0, "additional-data": None}
    broker = fields(B2C, "open")
    assert (broker["container-id"], broker["max-frame-size"]) == ("rabbit4@vm", 131072)
    assert (broker["channel-max"], broker["idle-time-out"]) == (63, 30000)
    properties = broker["properties"]
    assert isinstance(properties, dict)
    assert (properties["product"], properties["version"]) == ("RabbitMQ", "4.0.5")
    client = fields(C2B, "open")
    assert (client["container-id"], client["hostname"]) == (
        "amqp-explorer-proton",
        "vhost:/",
    )
    assert (
        client["max-frame-size"],
        client["channel-max"],
        client["idle-time-out"],
    ) == (32768, 32767, 1000)


def test_the_message_goes_out_and_comes_back() -> None:
    sent, back = named(C2B, "transfer").payload, named(B2C, "transfer").payload
    assert isinstance(sent, Body)
    assert isinstance(back, Body)
    body = Described(0x77, "hello from proton")
    assert sent.message is not None
    assert sent.message[-1] == body
    assert back.message is not None
    assert [s.name for s in back.message] == [
        "header", "message-annotations", "properties", "amqp-value",
    ]  # fmt: skip
    assert back.message[-1] == body
    annotations = back.message[1].value
    assert isinstance(annotations, dict)
    assert annotations["x-exchange"] == ""
    target = fields(C2B, "attach")
    assert isinstance(target["target"], Described)
    assert target["target"].fields["address"] == annotations["x-routing-key"].join(
        ("/queues/", "")
    )
    assert fields(B2C, "disposition")["state"] == Described(0x24, [])


def test_the_transfer_maps_down_to_its_sections() -> None:
    item = named(B2C, "transfer")
    root = assert_exact(item)
    message = find(root, "message")
    assert [s.name for s in message.children] == [
        "header", "message-annotations", "properties", "amqp-value",
    ]  # fmt: skip
    header = find(message, "header")
    descriptor = find(header, "descriptor")
    assert [(c.name, c.kind, c.value) for c in descriptor.leaves()] == [
        ("constructor", FieldKind.TAG, 0x00),
        ("constructor", FieldKind.TAG, 0x53),
        ("value", FieldKind.METHOD, 0x70),
    ]
    fields_list = find(header, "fields")
    assert [c.name for c in fields_list.children] == [
        "constructor", "size", "count", "durable", "priority", "ttl",
        "first-acquirer", "delivery-count",
    ]  # fmt: skip
    durable = find(fields_list, "durable")
    assert [(c.name, c.type, c.value) for c in durable.children] == [
        ("constructor", "true", 0x41)
    ]


def test_the_frame_header_fields_sit_at_their_offsets() -> None:
    root = assert_exact(named(C2B, "begin"))
    assert [(c.name, c.offset, c.length, c.value) for c in root.children[:4]] == [
        ("size", 0, 4, 31), ("doff", 4, 1, 2), ("frame type", 5, 1, 0),
        ("channel", 6, 2, 0),
    ]  # fmt: skip
    sasl = assert_exact(named(C2B, "sasl-init"))
    assert [(c.name, c.value) for c in sasl.children[:4]] == [
        ("size", 73), ("doff", 2), ("frame type", 1), ("type-specific", 0),
    ]  # fmt: skip


def test_the_masked_password_is_where_secrets_in_says() -> None:
    init = named(C2B, "sasl-init")
    (secret,) = secrets_in(init)
    (redaction,) = CAPTURE.redactions
    assert (init.offset + secret.offset, secret.length) == (
        redaction.offset,
        redaction.length,
    )
    hidden = init.raw[secret.offset : secret.offset + secret.length]
    assert hidden == b"*" * secret.length
    response = fields(C2B, "sasl-init")["initial-response"]
    assert isinstance(response, bytes)
    assert response.split(b"\0")[1] == CAPTURE.url.split("//")[1].split(":")[0].encode()
