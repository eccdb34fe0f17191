"""Secrets: the password inside a SASL response is found and masked."""

from __future__ import annotations

import pytest
from pamqp import commands, encode
from pamqp import frame as pamqp_frame

from explorer.protocol import Direction, Frame, FrameDecoder
from explorer.protocol.masking import mask
from explorer.protocol.secrets import secrets_in


def start_ok(mechanism: str, response: str) -> Frame:
    method = commands.Connection.StartOk(
        client_properties={"product": "test"},
        mechanism=mechanism,
        response=response,
    )
    (frame,) = FrameDecoder(Direction.CLIENT_TO_BROKER).feed(
        pamqp_frame.marshal(method, 0)
    )
    assert isinstance(frame, Frame)
    return frame


def amqplain(login: str, password: str) -> str:
    table = encode.field_table({"LOGIN": login, "PASSWORD": password})
    return table[4:].decode("ascii")  # the table without its length prefix


CASES = {
    "plain": ("PLAIN", "\0guest\0s3cr3t!", b"s3cr3t!"),
    "plain same user and password": ("PLAIN", "\0guest\0guest", b"guest"),
    "amqplain": ("AMQPLAIN", amqplain("guest", "hunter2"), b"hunter2"),
    "unknown mechanism": ("RABBIT-CR-DEMO", "guest", b"guest"),
}


@pytest.mark.parametrize(
    ("mechanism", "response", "secret"), CASES.values(), ids=CASES.keys()
)
def test_password_is_found_and_masked(
    mechanism: str, response: str, secret: bytes
) -> None:
    frame = start_ok(mechanism, response)
    (found,) = secrets_in(frame)
    assert frame.raw[found.offset : found.offset + found.length] == secret
    masked = mask(frame.raw, [found])
    assert len(masked) == len(frame.raw)
    assert masked.count(b"*" * len(secret)) == 1
    assert masked.replace(b"*" * len(secret), secret) == frame.raw
    if mechanism == "PLAIN":
        assert b"\0guest\0" in masked  # the user name stays visible


def test_external_and_other_frames_hold_no_secret() -> None:
    assert secrets_in(start_ok("EXTERNAL", "")) == []
    (tune,) = FrameDecoder(Direction.BROKER_TO_CLIENT).feed(
        pamqp_frame.marshal(commands.Connection.Tune(), 0)
    )
    assert isinstance(tune, Frame)
    assert secrets_in(tune) == []


def test_secure_ok_and_update_secret_are_masked_whole() -> None:
    for method in (
        commands.Connection.SecureOk(response="My password is pw"),
        commands.Connection.UpdateSecret(new_secret="token", reason="refresh"),
    ):
        (frame,) = FrameDecoder(Direction.CLIENT_TO_BROKER).feed(
            pamqp_frame.marshal(method, 0)
        )
        assert isinstance(frame, Frame)
        (found,) = secrets_in(frame)
        assert b"*" * found.length in mask(frame.raw, [found])
        assert b"pw" not in mask(frame.raw, [found]).split(b"is")[-1]
