"""The bundled AMQP 1.0 recording: a learner without a RabbitMQ 4 steps it.

explorer/recording/bundled/amqp10-lifecycle.jsonl (scripts/record_amqp10.py)
loads as a 1.0 capture from RabbitMQ 4, replays through every phase of 1.0's
plan with every performative in order and no violation, holds no password
(sasl-init's PLAIN password is masked byte for byte, and listed as masked),
and the command palette opens it.
"""

from __future__ import annotations

from typing import Final

from explorer.engine.events import (
    EngineEvent,
    FrameObserved,
    LifecycleEnded,
    PhaseFailed,
    PhaseStarted,
)
from explorer.protocol.amqp10.frames import HEARTBEAT, Body
from explorer.protocol.amqp10.secrets import secrets_in
from explorer.protocol.dialect import AMQP_1_0
from explorer.protocol.frames import B2C, C2B, Frame
from explorer.recording.capture import Capture, load
from explorer.recording.model import Redaction
from explorer.recording.replay import ReplayEngine, bundled_amqp10_recording
from explorer.ui.shots import bundled_app
from tests.ui.conftest import running, settle

PALETTE_TITLE: Final = "Open the bundled AMQP 1.0 recording"
#: Each side's performatives, in order, empty frames left out.
CLIENT_FRAMES: Final = [
    "sasl-header", "sasl-init", "amqp-header", "open", "begin", "attach",
    "transfer", "attach", "flow", "disposition", "detach", "detach", "end",
    "close",
]  # fmt: skip
BROKER_FRAMES: Final = [
    "sasl-header", "sasl-mechanisms", "sasl-outcome", "amqp-header", "open",
    "begin", "attach", "flow", "disposition", "attach", "transfer", "detach",
    "detach", "end", "close",
]  # fmt: skip


def recording() -> Capture:
    return load(bundled_amqp10_recording())


async def replayed() -> list[EngineEvent]:
    """Every event the recording tells, stepped to its end."""
    told: list[EngineEvent] = []
    assert await ReplayEngine(recording(), told.append).run()
    return told


def test_it_is_a_1_0_connection_to_rabbitmq_4_with_proton() -> None:
    capture = recording()
    assert capture.dialect is AMQP_1_0
    assert capture.broker.startswith("RabbitMQ 4.")
    assert capture.client.startswith("python-qpid-proton ")


async def test_it_steps_every_phase_of_the_1_0_plan_with_no_violation() -> None:
    told = await replayed()
    started = [e.phase for e in told if isinstance(e, PhaseStarted)]
    assert tuple(dict.fromkeys(started)) == tuple(AMQP_1_0.plan_for(False))
    assert not [e for e in told if isinstance(e, PhaseFailed)]
    observed = [e for e in told if isinstance(e, FrameObserved)]
    assert not [e.violation for e in observed if e.violation]
    assert told[-1] == LifecycleEnded(clean=True)
    names = {
        side: [
            e.frame.name
            for e in observed
            if e.frame.direction is side and e.frame.name != HEARTBEAT
        ]
        for side in (C2B, B2C)
    }
    assert names == {C2B: CLIENT_FRAMES, B2C: BROKER_FRAMES}
    # The broker's empty frames (its heartbeats) came while the heartbeat step lingered.
    assert any(e.frame.name == HEARTBEAT for e in observed if e.frame.direction is B2C)


def test_it_holds_no_password() -> None:
    capture = recording()
    assert "***@" in capture.url
    frames = [f for f in capture.decode(C2B) if isinstance(f, Frame)]
    (init,) = [f for f in frames if f.name == "sasl-init"]
    assert isinstance(init.payload, Body)
    assert init.payload.fields["mechanism"] == "PLAIN"
    (secret,) = secrets_in(init)
    password = init.raw[secret.offset : secret.offset + secret.length]
    assert password == b"*" * secret.length
    assert capture.redactions == [
        Redaction(C2B, init.offset + secret.offset, secret.length, "password")
    ]


async def test_the_palette_opens_it() -> None:
    app = bundled_app()  # the 0-9-1 recording, as the pictures start
    async with running(app):
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        commands[PALETTE_TITLE].callback()
        await settle(app)
        assert app.stepper.dialect is AMQP_1_0
        assert app.sub_title.startswith("RECORDING")
        assert str(bundled_amqp10_recording()) in app.sub_title
