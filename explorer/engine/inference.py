"""Phases inferred from frames alone: for a connection the explorer only watches.

Owns `Inference`, which turns the frames of a connection the explorer did not
make (a bare capture, a pcap, a client relayed by `watch`) into the events the
live engine tells: each frame filed under its phase by the lifecycle table, a
phase's report when the frame that ends it arrives, and a failure where the
broker refused something or a side's bytes stopped being AMQP. It decides
nothing the table does not: the same rules place the live engine's frames.
"""

from __future__ import annotations

from pamqp import commands

from explorer.engine.events import (
    EngineEvent,
    FrameObserved,
    PhaseFailed,
    PhaseReport,
    PhaseStarted,
)
from explorer.protocol import report
from explorer.protocol.explain import advice_for, reply_code
from explorer.protocol.fields import shown
from explorer.protocol.frames import B2C, C2B, DecodeFailure, Frame
from explorer.protocol.lifecycle import LifecycleModel, Phase
from explorer.protocol.queries import client_product, first_named

#: What the broker's first frame after each phase says about the login.
VERDICTS = {
    "Connection.Tune": "accepted: the broker went on to Connection.Tune",
    "Connection.Secure": "challenged: the broker sent Connection.Secure",
    "Connection.Close": "refused: the broker sent Connection.Close",
}


class Inference:
    """The events of a watched connection, frame by frame, as they arrive."""

    def __init__(self, start: Phase = Phase.HEADER) -> None:
        """Infer from `start` on (the phase the first frame belongs to)."""
        self.model = LifecycleModel(start)
        #: Every frame seen, as it crossed the wire (secrets not masked).
        self.frames: list[Frame] = []
        self.phase: Phase | None = None
        self.failed = False
        self._reported: set[Phase] = set()

    def frame(self, frame: Frame) -> list[EngineEvent]:
        """What one frame tells: a phase's report and start, the frame, a failure.

        The frame itself is told with its secrets masked.
        """
        transition = self.model.observe(frame)
        self.frames.append(frame)
        events: list[EngineEvent] = []
        if transition.phase is not self.phase:
            if self.phase is not None:
                events += self._report(self.phase, frame)
            self.phase = transition.phase
            events.append(PhaseStarted(transition.phase, frame.t))
        events.append(
            FrameObserved(
                shown(frame), transition.phase, transition.note, transition.violation
            )
        )
        if frame.direction is B2C and isinstance(
            frame.payload, commands.Connection.Close | commands.Channel.Close
        ):
            # A Close interrupts the phase: what it had established, then why.
            events += self._report(transition.phase, frame)
            events += self._refused(frame, transition.before)
        return events

    @property
    def closed(self) -> bool:
        """Connection.Close was answered with Close-Ok, by either side."""
        return any(frame.name == "Connection.CloseOk" for frame in self.frames)

    @property
    def clean(self) -> bool:
        """The connection closed with Close and Close-Ok, and nothing failed."""
        return self.closed and not self.failed

    def unreadable(self, failure: DecodeFailure) -> PhaseFailed:
        """A side's bytes stopped being AMQP 0-9-1 (or a capture lost some)."""
        self.failed = True
        return PhaseFailed(
            self.model.phase, f"{failure.direction.sender}: {failure.reason}"
        )

    def _report(self, ended: Phase, next_frame: Frame) -> list[EngineEvent]:
        """The report of the phase `next_frame` ends, when it has one."""
        found = _facts(ended, self.frames, next_frame)
        if found is None or ended in self._reported:
            return []
        self._reported.add(ended)
        facts, notes = found
        return [PhaseReport(ended, facts, tuple(notes))]

    def _refused(self, frame: Frame, phase: Phase) -> list[EngineEvent]:
        """A broker's Close: a failure unless it is the 200 of a clean close."""
        failure = refusal(frame, phase)
        if failure is None:
            return []
        self.failed = self.failed or failure.fatal
        return [failure]


def refusal(frame: Frame, phase: Phase) -> PhaseFailed | None:
    """What a broker's Connection.Close or Channel.Close says went wrong in `phase`.

    None for the reply code 200 of a clean close; fatal for a Connection.Close.
    """
    close = frame.payload
    assert isinstance(close, commands.Connection.Close | commands.Channel.Close)
    code = int(close.reply_code or 0)
    if code == 200:
        return None
    whole = isinstance(close, commands.Connection.Close)
    what = "the connection" if whole else f"channel {frame.channel}"
    return PhaseFailed(
        phase,
        f"the broker closed {what}: {reply_code(code)}",
        code,
        str(close.reply_text),
        advice=advice_for(code, str(close.reply_text)),
        fatal=whole,
    )


def _facts(
    ended: Phase, frames: list[Frame], next_frame: Frame
) -> tuple[report.Facts, list[str]] | None:
    """What the engine would report of `ended`, read from the frames alone."""
    start = first_named(frames, B2C, "Connection.Start")
    start_ok = first_named(frames, C2B, "Connection.StartOk")
    if ended is Phase.HEADER:
        sent = first_named(frames, C2B, "ProtocolHeader")
        if sent is None or next_frame.direction is not B2C:
            return None
        return report.header_facts(sent, next_frame)
    if ended is Phase.START and start is not None:
        return report.start_facts(start)
    if ended is Phase.AUTH and start_ok is not None:
        facts, notes = report.auth_facts(start, start_ok, reveal=False)
        if next_frame.direction is B2C and next_frame.name in VERDICTS:
            facts["verdict"] = VERDICTS[next_frame.name]
        return facts, notes
    tune = first_named(frames, B2C, "Connection.Tune")
    tune_ok = first_named(frames, C2B, "Connection.TuneOk")
    if ended is Phase.TUNE and tune is not None and tune_ok is not None:
        client = client_product(start_ok) if start_ok is not None else ""
        chosen_by = f"The client ({client or 'unnamed'})"
        return report.tune_facts(tune, tune_ok, (None, None, None), chosen_by)
    return None
