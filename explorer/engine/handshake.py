"""Phases of the AMQP handshake: header, start, auth, tune, open.

Owns what each handshake step sends (by releasing the client's held write) and
reports, from the frames that crossed the wire.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pamqp import commands

from explorer.engine import diagnosis
from explorer.protocol import report
from explorer.protocol.fields import JSON
from explorer.protocol.frames import B2C, C2B, Frame
from explorer.protocol.lifecycle import Phase

if TYPE_CHECKING:
    from explorer.engine.core import Engine

#: What the two protocol headers (sent, answer) establish: facts and notes.
HeaderFacts = Callable[[Frame, Frame], tuple[dict[str, JSON], list[str]]]


async def header(engine: Engine, facts: HeaderFacts = report.header_facts) -> None:
    """Send the 8-byte protocol header and see what comes back, reported by
    `facts` (its dialect's)."""
    engine.model.enter(Phase.HEADER)
    engine.start_connecting()
    await engine.send_next()
    answered = await engine.until(lambda: engine.first(B2C) is not None)
    sent, answer = engine.first(C2B), engine.first(B2C)
    if sent is not None and answer is not None:
        engine.report(Phase.HEADER, *facts(sent, answer))
    elif not answered and not engine.gone:
        diagnosis.stalled(engine, Phase.HEADER)
    elif not engine.failed:
        engine.fail(Phase.HEADER, "the peer closed the connection without answering")


async def start(engine: Engine) -> None:
    """Connection.Start: nothing is sent; what the broker said is shown."""
    frame = engine.frame(B2C, "Connection.Start")
    if frame is None:
        engine.fail(Phase.START, "the broker sent no Connection.Start")
        return
    engine.report(Phase.START, *report.start_facts(frame))


async def auth(engine: Engine) -> None:
    """Send Connection.StartOk and see whether the broker accepts the login."""
    await engine.send_next()
    replies = {"Connection.Tune", "Connection.Secure", "Connection.Close"}
    await engine.until(lambda: engine.answered("Connection.StartOk", replies))
    judge_auth(engine)


def judge_auth(engine: Engine) -> None:
    """Report the login: the mechanism, the response, the broker's verdict."""
    start_ok = engine.frame(C2B, "Connection.StartOk")
    if start_ok is None:
        diagnosis.client_gave_up(engine, Phase.AUTH)
        return
    started = engine.frame(B2C, "Connection.Start")
    facts, notes = report.auth_facts(started, start_ok, engine.reveal)
    if engine.seen(B2C, "Connection.Tune"):
        facts["verdict"] = "accepted: the broker went on to Connection.Tune"
    elif engine.seen(B2C, "Connection.Secure"):
        facts["verdict"] = "challenged: the broker sent Connection.Secure"
        notes.append("aiormq does not answer challenges (Connection.Secure).")
    elif not engine.seen(B2C, "Connection.Close") and not engine.gone:
        facts["verdict"] = "none yet: the broker has not answered, nor closed"
        diagnosis.stalled(engine, Phase.AUTH)
    elif not engine.seen(B2C, "Connection.Close"):
        facts["verdict"] = (
            "refused without a word: no frame, the connection dropped; RabbitMQ "
            "sends Close 403 first only to clients advertising "
            "authentication_failure_close"
        )
        if not engine.failed:
            engine.fail(
                Phase.AUTH,
                "the broker closed the connection without a word",
                advice="check the user name and password",
            )
    engine.report(Phase.AUTH, facts, notes)


async def tune(engine: Engine) -> None:
    """Send Connection.TuneOk: channel_max, frame_max and heartbeat agreed."""
    await engine.send_next()
    await engine.until(lambda: engine.seen(C2B, "Connection.TuneOk"))
    proposal = engine.frame(B2C, "Connection.Tune")
    answer = engine.frame(C2B, "Connection.TuneOk")
    if proposal is None or answer is None:
        diagnosis.client_gave_up(engine, Phase.TUNE)
        return
    where = engine.need_endpoint()
    plan = engine.experiment.handshake if engine.experiment else None
    if plan is None:
        asked = (where.channel_max, where.frame_max, where.heartbeat)
        engine.report(Phase.TUNE, *report.tune_facts(proposal, answer, asked))
        return
    chosen = (plan.channel_max, plan.frame_max, plan.heartbeat)
    facts = report.tune_facts(proposal, answer, chosen, "The raw client")
    engine.report(Phase.TUNE, *facts)


async def open_vhost(engine: Engine) -> None:
    """Send Connection.Open: the broker checks the vhost and the user's access."""
    await engine.send_next()
    engine.tap.flow()  # the handshake is over: from now on aiormq writes when asked
    replies = {"Connection.OpenOk", "Connection.Close"}
    answered = await engine.until(lambda: engine.answered("Connection.Open", replies))
    opened = engine.frame(C2B, "Connection.Open")
    if opened is not None and not answered and not engine.gone:
        diagnosis.stalled(engine, Phase.OPEN)
        return
    await engine.until(lambda: engine.start_connecting().done())
    if opened is None:
        diagnosis.client_gave_up(engine, Phase.OPEN)
        return
    assert isinstance(opened.payload, commands.Connection.Open)
    vhost = opened.payload.virtual_host
    if engine.opened() is not None:
        engine.report(
            Phase.OPEN,
            {"vhost": vhost, "permission": "access to the vhost"},
            [
                f"The broker checked that the vhost {vhost!r} exists, that the user "
                "may use it, and its connection limits: the connection is running.",
            ],
        )
