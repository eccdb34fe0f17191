"""Phases, reports and failures inferred from frames alone (engine/inference.py).

The frames are the committed happy-path capture's (aiormq against RabbitMQ
3.10.8) or pamqp-built ones, so each test says exactly what crossed the wire.
"""

from __future__ import annotations

from pamqp import commands
from pamqp.header import ProtocolHeader

from explorer.engine.events import (
    EngineEvent,
    FrameObserved,
    PhaseFailed,
    PhaseReport,
    PhaseStarted,
)
from explorer.engine.inference import Inference
from explorer.protocol.frames import B2C, C2B, Frame
from explorer.protocol.lifecycle import Phase
from tests.conftest import wire

START = commands.Connection.Start(
    server_properties={"product": "RabbitMQ", "version": "3.10.8"},
    mechanisms="PLAIN AMQPLAIN",
)
START_OK = commands.Connection.StartOk(
    client_properties={"product": "pika", "version": "1.4.4"},
    mechanism="PLAIN",
    response="\0learner\0s3cret-pass",
)
TUNE = commands.Connection.Tune(channel_max=2047, frame_max=131072, heartbeat=60)
TUNE_OK = commands.Connection.TuneOk(channel_max=2047, frame_max=131072, heartbeat=30)


def inferred(frames: list[Frame]) -> list[EngineEvent]:
    inference = Inference()
    return [event for frame in frames for event in inference.frame(frame)]


def handshake() -> list[Frame]:
    return wire(
        (C2B, ProtocolHeader()),
        (B2C, START),
        (C2B, START_OK),
        (B2C, TUNE),
        (C2B, TUNE_OK),
        (C2B, commands.Connection.Open(virtual_host="/")),
        (B2C, commands.Connection.OpenOk()),
    )


def reports(events: list[EngineEvent]) -> dict[Phase, PhaseReport]:
    return {e.phase: e for e in events if isinstance(e, PhaseReport)}


def test_the_happy_path_capture_goes_through_every_phase_in_order(
    happy_frames: list[Frame],
) -> None:
    events = inferred(happy_frames)
    started = [e.phase for e in events if isinstance(e, PhaseStarted)]
    assert started[:7] == [
        Phase.HEADER,
        Phase.START,
        Phase.AUTH,
        Phase.TUNE,
        Phase.OPEN,
        Phase.CHANNEL,
        Phase.OPERATIONS,
    ]
    assert started[-1] is Phase.CLOSE
    observed = [e for e in events if isinstance(e, FrameObserved)]
    assert len(observed) == len(happy_frames)
    assert not [e for e in events if isinstance(e, PhaseFailed)]


def test_each_handshake_phase_is_reported_before_the_next_one_starts() -> None:
    events = inferred(handshake())
    order = [
        (type(e).__name__, e.phase)
        for e in events
        if isinstance(e, PhaseStarted | PhaseReport)
    ]
    for ended, following in [
        (Phase.HEADER, Phase.START),
        (Phase.START, Phase.AUTH),
        (Phase.AUTH, Phase.TUNE),
        (Phase.TUNE, Phase.OPEN),
    ]:
        report_at = order.index(("PhaseReport", ended))
        assert order[report_at + 1] == ("PhaseStarted", following)


def test_the_reports_say_what_the_frames_carried_and_hide_the_password() -> None:
    found = reports(inferred(handshake()))
    assert found[Phase.START].facts["mechanisms"] == ["PLAIN", "AMQPLAIN"]
    auth = found[Phase.AUTH].facts
    assert auth["response"] == {"authzid": "", "user": "learner", "password": "***"}
    assert str(auth["verdict"]).startswith("accepted")
    tune = found[Phase.TUNE].facts["heartbeat"]
    assert isinstance(tune, dict)
    assert (tune["broker_proposed"], tune["tune_ok_carried"]) == (60, 30)
    assert any("pika 1.4.4" in note for note in found[Phase.TUNE].notes)
    assert "s3cret-pass" not in repr(found)


def test_frames_are_told_masked_but_kept_as_sent() -> None:
    inference = Inference()
    frames = handshake()
    told = [e for f in frames for e in inference.frame(f)]
    start_ok = next(
        e.frame
        for e in told
        if isinstance(e, FrameObserved) and e.frame.name == "Connection.StartOk"
    )
    assert b"s3cret-pass" not in start_ok.raw
    assert b"s3cret-pass" in inference.frames[2].raw


def test_a_refused_login_is_a_failure_of_the_auth_phase() -> None:
    close = commands.Connection.Close(
        reply_code=403,
        reply_text="ACCESS_REFUSED - Login was refused",
        class_id=0,
        method_id=0,
    )
    events = inferred(
        wire((C2B, ProtocolHeader()), (B2C, START), (C2B, START_OK), (B2C, close))
    )
    (failure,) = [e for e in events if isinstance(e, PhaseFailed)]
    assert (failure.phase, failure.reply_code, failure.fatal) == (Phase.AUTH, 403, True)
    assert str(reports(events)[Phase.AUTH].facts["verdict"]).startswith("refused")


def test_a_channel_error_is_not_fatal_and_a_clean_close_is_no_failure() -> None:
    frames = [
        *handshake(),
        *wire(
            (C2B, commands.Channel.Open(), 1),
            (B2C, commands.Channel.OpenOk(), 1),
            (C2B, commands.Queue.Declare(queue="q", passive=True), 1),
            (
                B2C,
                commands.Channel.Close(
                    reply_code=404,
                    reply_text="NOT_FOUND - no queue 'q'",
                    class_id=50,
                    method_id=10,
                ),
                1,
            ),
            (
                C2B,
                commands.Connection.Close(
                    reply_code=200, reply_text="bye", class_id=0, method_id=0
                ),
                0,
            ),
            (B2C, commands.Connection.CloseOk(), 0),
        ),
    ]
    failures = [e for e in inferred(frames) if isinstance(e, PhaseFailed)]
    assert [(f.reply_code, f.fatal) for f in failures] == [(404, False)]
