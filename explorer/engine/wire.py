"""The wire as the engine reads it: tap events in, frames, phases and faults out.

Owns what the engine makes of every byte the tap sees, as it arrives: both
directions decoded, each frame put through the lifecycle rules and told under
its phase, and what a broker's Close, unreadable bytes or a dropped connection
mean (the failure, and the phase it interrupts). Either dialect: a broker's
refusal is worded by explorer.engine.inference, as a replay's is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from pamqp import commands

from explorer.engine.events import Clock, FrameObserved, PhaseFailed
from explorer.engine.inference import header_refusal, refusal
from explorer.protocol import report
from explorer.protocol.amqp10 import report as amqp10_report
from explorer.protocol.amqp10.frames import Body, Header
from explorer.protocol.dialect import AMQP_0_9_1
from explorer.protocol.fields import shown
from explorer.protocol.frames import B2C, C2B, DecodeFailure, Frame
from explorer.protocol.lifecycle import ORDER, Phase
from explorer.protocol.queries import first_payload
from explorer.protocol.stream import Chunk, StreamEnd, WireEvent

if TYPE_CHECKING:
    from explorer.engine.core import Engine

#: RabbitMQ's default handshake_timeout: from TCP accept to the client's
#: Connection.Open, or for AMQP 1.0 its open (seen on RabbitMQ 4.0.5: an open
#: sent 9 s after accept was answered and the connection kept; the AMQP header
#: alone was reset 10.0 s after accept). The broker's open answers it at once.
HANDSHAKE_TIMEOUT: Final = 10.0
#: The client's frame the handshake_timeout waits for, by dialect key.
_OPEN: Final = {"0-9-1": "Connection.Open", "1.0": "the client's open"}
#: The broker's frame that answers the client's close, by dialect key.
_CLOSED: Final = {"0-9-1": "Connection.CloseOk", "1.0": "close"}


def read(engine: Engine, event: WireEvent) -> None:
    """The tap's listener: decode `event` and tell what it shows."""
    decoder = engine.decoders[event.direction]
    if isinstance(event, Chunk):
        items = decoder.feed(event.data, event.t)
    else:
        end = decoder.close(event.t)
        # A frame cut short by the explorer's own close is no fault of the
        # peer's (a stall that left it unfinished was told when it happened).
        items = [end] if end is not None and not engine.closing else []
    for item in items:
        if isinstance(item, Frame):
            _observe(engine, item)
        else:
            _unreadable(engine, item)
    if isinstance(event, StreamEnd):
        engine.ended[event.direction] = event
        _stream_ended(engine, event)
    engine.wake()


def _observe(engine: Engine, frame: Frame) -> None:
    transition = engine.model.observe(frame)
    engine.frames.append(frame)
    masked = shown(frame, engine.reveal)
    engine.tell(
        FrameObserved(masked, transition.phase, transition.note, transition.violation)
    )
    payload = frame.payload
    if frame.direction is C2B:
        return
    if engine.dialect is not AMQP_0_9_1:
        _observe_amqp10(engine, frame, transition.before, transition.violation)
        return
    if isinstance(payload, commands.Connection.Close | commands.Channel.Close):
        _broker_closed(engine, frame, transition.before)
    elif transition.violation and frame.name == "ProtocolHeader":
        engine.lose()
        _, notes = report.header_facts(engine.frames[0], frame)
        engine.fail(
            Phase.HEADER,
            notes[-1],
            advice="use a client for the protocol this broker offers, or a "
            "broker that speaks AMQP 0-9-1",
        )


def _observe_amqp10(engine: Engine, frame: Frame, phase: Phase, violation: str) -> None:
    """A 1.0 broker frame: a refused header, or an error it carries (told
    as a replay tells it: explorer.engine.inference)."""
    if violation and isinstance(frame.payload, Header):
        engine.lose()
        _fail(engine, header_refusal(engine.frames[0], frame))
        return
    failure = refusal(frame, phase) if isinstance(frame.payload, Body) else None
    if (frame.name == "close" and not engine.closing) or (failure and failure.fatal):
        engine.lose()
    _fail(engine, failure)


def closed_cleanly(engine: Engine) -> bool:
    """Whether the broker answered the client's close (Close-Ok, or 1.0's close)."""
    return engine.seen(B2C, _CLOSED[engine.dialect.key])


def _broker_closed(engine: Engine, frame: Frame, phase: Phase) -> None:
    if isinstance(frame.payload, commands.Connection.Close):
        engine.lose()
    _fail(engine, refusal(frame, phase))


def _fail(engine: Engine, failure: PhaseFailed | None) -> None:
    """Tell the broker's refusal `failure` (nothing when it refused nothing)."""
    if failure is not None:
        engine.fail(
            failure.phase,
            failure.message,
            failure.reply_code,
            failure.reply_text,
            advice=failure.advice,
            fatal=failure.fatal,
        )


def _unreadable(engine: Engine, failure: DecodeFailure) -> None:
    if failure.direction is B2C:
        engine.lose()
    name = engine.dialect.name
    if failure.direction is B2C:
        advice = f"is this really an {name} port?"
    elif engine.dialect is AMQP_0_9_1:
        advice = (
            "the client wrote a malformed frame: RabbitMQ answers that with "
            "501 FRAME_ERROR and closes the connection"
        )
    else:
        advice = "the client wrote a malformed frame"
    engine.fail(
        engine.model.phase,
        f"the {failure.direction.sender}'s bytes cannot be read as {name} "
        f"at offset {failure.offset}: {failure.reason}",
        advice=advice,
    )


def _stream_ended(engine: Engine, end: StreamEnd) -> None:
    client_quit = C2B in engine.ended and end.direction is B2C
    if end.direction is C2B or engine.closing or engine.gone or client_quit:
        # The client closing first is the client giving up: its step says why.
        if end.direction is B2C:
            engine.lose()
        return
    phase = _interrupted_phase(engine)
    engine.lose()
    elapsed = end.t - (engine.tcp_at or 0.0)
    if engine.opened() is None and elapsed >= HANDSHAKE_TIMEOUT - 0.5:
        if engine.experiment:
            advice = (
                "a client must finish the handshake in time: look for a proxy "
                "or a slow TLS handshake delaying it, or a client stuck before "
                "its next frame"
            )
        else:
            advice = (
                "ctrl+r connects again; c leaves race mode, so that the "
                "handshake runs at wire speed when TCP opens and you review it "
                "at your own pace"
            )
        held = " while the explorer held the client's next frame" * bool(
            engine.tap.held
        )
        engine.fail(
            phase,
            f"the broker dropped the connection {elapsed:.1f} s after TCP accept"
            f"{held} ({end.reason}): its handshake_timeout (10 s by default) "
            f"ran out before {_OPEN[engine.dialect.key]}",
            advice=advice,
        )
    elif _vhost_refused(engine, phase):
        engine.fail(
            phase,
            f"RabbitMQ reset the connection {elapsed:.3f} s after TCP accept, after "
            "its AMQP header, without an open or a close: RabbitMQ 4.0.5 does this "
            "when the vhost that the client's open names in its hostname "
            f"({_hostname(engine)}) does not exist",
            advice="check the vhost in the URL (rabbitmqctl list_vhosts lists "
            "them); the broker's log says why (`rabbitmq-diagnostics log_tail`)",
        )
    else:
        engine.fail(
            phase,
            f"the connection was lost {elapsed:.1f} s after TCP accept: {end.reason}",
            advice="the broker's log says why (`rabbitmq-diagnostics log_tail`)",
        )


def _vhost_refused(engine: Engine, phase: Phase) -> bool:
    """Whether a 1.0 broker dropped the connection after its AMQP header,
    without answering the client's open."""
    return (
        engine.dialect is not AMQP_0_9_1
        and phase is Phase.OPEN
        and engine.seen(C2B, "open")
        and engine.opened() is None
        and not engine.seen(B2C, "close")
    )


def _hostname(engine: Engine) -> str:
    sent = engine.frame(C2B, "open")
    fields = getattr(sent.payload, "fields", {}) if sent is not None else {}
    return str(fields.get("hostname"))


def _interrupted_phase(engine: Engine) -> Phase:
    """The phase a lost connection interrupts.

    Held, the handshake is where the learner is: the step running, or the
    one due whose frame is held. At wire speed it is where the frames got to.
    """
    phase, due = engine.model.phase, engine.next_phase
    held = engine.live_handshake and engine.opened() is None
    if held and due is not None and ORDER.index(due) > ORDER.index(phase):
        return due
    return phase


def clock(engine: Engine) -> Clock:
    """The pace of `engine`'s run, and what the wire says of the broker's clock."""
    pace = "race" if engine.live_handshake else "learner"
    left = engine.handshake_time_left()
    opened = engine.opened()
    end = engine.ended.get(B2C) or engine.ended.get(C2B)
    if engine.tcp_at is None:
        state = "no connection yet"
    elif end is not None:
        state = f"closed {end.t - engine.tcp_at:.1f} s after TCP accept"
    elif opened is None:
        state = (
            f"handshake_timeout {left:.1f} s left"
            if engine.live_handshake and left is not None
            else "handshake at wire speed"
        )
    elif engine.dialect is not AMQP_0_9_1:
        took = (opened.t - engine.tcp_at) * 1000
        sent = engine.frame(C2B, "open") or opened
        idle = amqp10_report.idle_time_outs(sent, opened)
        state = f"open (handshake {took:.0f} ms); {idle}"
    else:
        tune_ok = first_payload(engine.frames, C2B, commands.Connection.TuneOk)
        beat = int(tune_ok.heartbeat) if tune_ok is not None else 0
        took = (opened.t - engine.tcp_at) * 1000
        state = f"open (handshake {took:.0f} ms); " + (
            f"heartbeat {beat} s" if beat else "heartbeats off"
        )
    return Clock(pace, left, state)
