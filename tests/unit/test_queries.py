"""The shared frame queries, from frames built in memory (conftest `wire`)."""

from __future__ import annotations

from pamqp import commands
from pamqp.common import FieldTable
from pamqp.heartbeat import Heartbeat

from explorer.protocol.frames import B2C, C2B, Frame
from explorer.protocol.queries import (
    all_named,
    broker_named,
    broker_product,
    broker_said_after,
    channel_turns,
    first_named,
    first_payload,
    reply_to,
    sent_since,
    server_product,
    tune_pair,
)
from tests.conftest import capture_frames, wire

TUNE = commands.Connection.Tune(2047, 131072, 60)
TUNE_OK = commands.Connection.TuneOk(2047, 131072, 60)


def start(**properties: str) -> Frame:
    table: FieldTable = dict(properties)
    (frame,) = wire((B2C, commands.Connection.Start(server_properties=table)))
    return frame


def test_the_first_frame_of_a_name_from_one_side() -> None:
    frames = wire(
        (B2C, commands.Connection.Close(530, "NOT_ALLOWED", 0, 0)),
        (C2B, commands.Connection.Close(200, "bye", 0, 0)),
        (C2B, commands.Connection.Close(320, "again", 0, 0)),
    )
    found = first_named(frames, C2B, "Connection.Close")
    assert found is frames[1]
    assert first_named(frames, B2C, "Connection.CloseOk") is None
    close = first_payload(frames, C2B, commands.Connection.Close)
    assert close is not None
    assert close.reply_code == 200
    assert first_payload(frames, C2B, commands.Connection.TuneOk) is None
    assert all_named(frames, C2B, "Connection.Close") == frames[1:]


def test_what_the_broker_said_after_a_frame_leaves_heartbeats_out() -> None:
    frames = wire(
        (C2B, commands.Connection.StartOk(response="\0u\0p")),
        (B2C, Heartbeat()),
        (B2C, TUNE),
        (C2B, TUNE_OK),
        (B2C, commands.Connection.OpenOk()),
    )
    assert [f.name for f in broker_said_after(frames, frames[0])] == [
        "Connection.Tune",
        "Connection.OpenOk",
    ]
    assert broker_said_after(frames, frames[-1]) == []
    assert broker_said_after(frames[:2], frames[2]) == []  # not among them
    reply = reply_to(frames, "Connection.StartOk")
    assert reply is not None
    assert reply.name == "Connection.Tune"
    assert reply_to(frames, "Connection.Open") is None  # never sent
    assert reply_to(frames[:2], "Connection.StartOk") is None  # only a heartbeat


def test_frames_since_a_time() -> None:
    frames = [
        f._replace(t=t)
        for f, t in zip(
            wire((B2C, Heartbeat()), (C2B, Heartbeat()), (B2C, TUNE)),
            (1.0, 2.0, 3.0),
            strict=True,
        )
    ]
    assert sent_since(frames, B2C, 1.0) == [frames[0], frames[2]]
    assert sent_since(frames, B2C, 1.5) == [frames[2]]
    assert sent_since(frames, C2B, 2.5) == []


def test_the_tune_pair_needs_both() -> None:
    assert tune_pair(wire((B2C, TUNE))) is None
    assert tune_pair(wire((C2B, TUNE_OK))) is None
    pair = tune_pair(wire((B2C, TUNE), (C2B, TUNE_OK)))
    assert pair is not None
    assert (pair[0].frame_max, pair[1].heartbeat) == (131072, 60)


def test_product_and_version_from_server_properties() -> None:
    rabbit = start(product="RabbitMQ", version="3.10.8", platform="Erlang/OTP")
    assert server_product(rabbit) == ("RabbitMQ", "3.10.8")
    assert broker_product(rabbit) == "RabbitMQ 3.10.8"
    assert server_product(start(product="RabbitMQ")) == ("RabbitMQ", "")
    assert broker_product(start(product="RabbitMQ")) == "RabbitMQ"
    assert broker_product(start(version="3.10.8")) == "3.10.8"
    assert broker_product(start()) == ""


def test_channels_taking_turns() -> None:
    frames = wire(
        (C2B, commands.Channel.Open(), 1),
        (C2B, commands.Channel.Open(), 2),
        (B2C, commands.Channel.OpenOk(), 1),
        (C2B, commands.Basic.Qos(), 1),
        (C2B, commands.Connection.Close(200, "", 0, 0)),
    )
    assert channel_turns(frames) == ({1: 2, 2: 1}, 2)


def test_the_broker_is_named_by_its_start_or_its_1_0_open() -> None:
    one_oh = capture_frames("amqp10/lifecycle")
    broker_open = first_named(one_oh, B2C, "open")
    assert broker_open is not None
    assert broker_product(broker_open) == "RabbitMQ 4.0.5"
    assert broker_named(one_oh) == "RabbitMQ 4.0.5"
    assert broker_named(capture_frames("happy-path")) == "RabbitMQ 3.10.8"
    before_any = [f for f in one_oh if f.name != "open"]
    assert broker_named(before_any) == ""
