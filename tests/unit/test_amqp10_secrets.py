"""The password in an AMQP 1.0 SASL exchange is found, and masked when shown."""

from __future__ import annotations

import pytest

from explorer.protocol.amqp10.frames import Body
from explorer.protocol.amqp10.secrets import secrets_in
from explorer.protocol.fields import shown
from explorer.protocol.frames import Frame
from explorer.protocol.masking import mask
from tests.unit.test_amqp10_support import described, frame, only, proton


def sasl_init(mechanism: str, response: bytes | None) -> Frame:
    return only(
        frame(described(0x41, proton.symbol(mechanism), response, "vhost:/"), 1)
    )


CASES = {
    "plain": ("PLAIN", b"\0guest\0s3cr3t!", b"s3cr3t!"),
    "plain, user and password the same": ("PLAIN", b"\0guest\0guest", b"guest"),
    "plain with an authorization identity": ("PLAIN", b"admin\0guest\0pw", b"pw"),
    "plain without its NULs": ("PLAIN", b"guest:pw", b"guest:pw"),
    "another mechanism": ("SCRAM-SHA-256", b"n,,n=guest,r=abc", b"n,,n=guest,r=abc"),
}


@pytest.mark.parametrize(
    ("mechanism", "response", "secret"), CASES.values(), ids=CASES.keys()
)
def test_the_password_is_found_and_masked(
    mechanism: str, response: bytes, secret: bytes
) -> None:
    item = sasl_init(mechanism, response)
    (found,) = secrets_in(item)
    assert item.raw[found.offset : found.offset + found.length] == secret
    assert found.what == "password"
    hidden = shown(item)
    assert (hidden.offset, hidden.name, len(hidden.raw)) == (
        item.offset,
        item.name,
        item.size,
    )
    assert hidden.raw == mask(item.raw, [found])
    assert isinstance(hidden.payload, Body)
    masked = hidden.payload.fields["initial-response"]
    assert masked == response[: len(response) - len(secret)] + b"*" * len(secret)
    assert shown(item, reveal=True) is item


@pytest.mark.parametrize("mechanism", ["EXTERNAL", "ANONYMOUS"])
def test_mechanisms_without_a_credential_hide_nothing(mechanism: str) -> None:
    assert secrets_in(sasl_init(mechanism, b"trace@example")) == []


def test_no_response_and_an_empty_password_hide_nothing() -> None:
    assert secrets_in(sasl_init("PLAIN", None)) == []
    assert secrets_in(sasl_init("PLAIN", b"\0guest\0")) == []


def test_a_sasl_response_is_masked_whole_and_other_frames_not_at_all() -> None:
    response = only(frame(described(0x43, b"c=biws,r=abc,p=proof"), 1))
    (found,) = secrets_in(response)
    assert (
        response.raw[found.offset : found.offset + found.length]
        == b"c=biws,r=abc,p=proof"
    )
    outcome = only(frame(described(0x44, proton.ubyte(0)), 1))
    assert secrets_in(outcome) == []
    assert shown(outcome) is outcome
    assert secrets_in(only(b"AMQP\x03\x01\x00\x00")) == []
