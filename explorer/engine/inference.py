"""Phases inferred from frames alone: for a connection the explorer only watches.

Owns `Inference`, which turns the frames of a connection the explorer did not
make (a bare capture, a pcap, a client relayed by `watch`) into the events the
live engine tells: each frame filed under its phase by the lifecycle table, a
phase's report when the frame that ends it arrives, and a failure where the
broker refused something or a side's bytes stopped being AMQP. It decides
nothing the table does not: the same rules place the live engine's frames.
The rules are the dialect's (explorer.protocol.dialect): given, or told by
the first frame (dialect_of_frame); a 1.0 connection's reports and failures
are explorer.protocol.amqp10.report's.
"""

from __future__ import annotations

from functools import partial
from typing import Final

from pamqp import commands

from explorer.engine.events import (
    EngineEvent,
    FrameObserved,
    PhaseFailed,
    PhaseReport,
    PhaseStarted,
)
from explorer.protocol import report
from explorer.protocol.amqp10 import report as amqp10
from explorer.protocol.amqp10.frames import Body, Header
from explorer.protocol.amqp10.queries import error_of
from explorer.protocol.dialect import AMQP_0_9_1, AMQP_1_0, Dialect, dialect_of_frame
from explorer.protocol.explain import advice_for, reply_code
from explorer.protocol.fields import shown
from explorer.protocol.frames import B2C, C2B, DecodeFailure, Frame
from explorer.protocol.lifecycle import Phase
from explorer.protocol.queries import client_product, first_named

#: What the broker's first frame after each phase says about the login.
VERDICTS = {
    "Connection.Tune": "accepted: the broker went on to Connection.Tune",
    "Connection.Secure": "challenged: the broker sent Connection.Secure",
    "Connection.Close": "refused: the broker sent Connection.Close",
}


class Inference:
    """The events of a watched connection, frame by frame, as they arrive."""

    def __init__(
        self, start: Phase = Phase.HEADER, dialect: Dialect | None = None
    ) -> None:
        """Infer from `start` on (the phase the first frame belongs to), with
        the rules of `dialect`, or of the protocol the first frame speaks."""
        self._start = start
        self.dialect = dialect
        self.model = (dialect or AMQP_0_9_1).rules(start)
        #: Every frame seen, as it crossed the wire (secrets not masked).
        self.frames: list[Frame] = []
        self.phase: Phase | None = None
        self.failed = False
        self._reported: set[Phase] = set()

    def frame(self, frame: Frame) -> list[EngineEvent]:
        """What one frame tells: a phase's report and start, the frame, a failure.

        The frame itself is told with its secrets masked.
        """
        if self.dialect is None:
            self.dialect = dialect_of_frame(frame)
            self.model = self.dialect.rules(self._start)
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
        if frame.direction is B2C and frame.name in _INTERRUPTING:
            # A Close interrupts the phase: what it had established, then why.
            events += self._report(transition.phase, frame)
            events += self._refused(frame, transition.before)
        return events

    @property
    def closed(self) -> bool:
        """The connection closed: 0-9-1's Connection.Close answered with
        Close-Ok (by either side), 1.0's close answered by close, no error in it."""
        if self.dialect is not AMQP_1_0:
            return any(frame.name == "Connection.CloseOk" for frame in self.frames)
        closes = [f for f in self.frames if f.name == "close"]
        both = {f.direction for f in closes} == {B2C, C2B}
        return both and not any(error_of(f) for f in closes)

    @property
    def clean(self) -> bool:
        """The connection closed (see `closed`), and nothing failed."""
        return self.closed and not self.failed

    def unreadable(self, failure: DecodeFailure) -> PhaseFailed:
        """A side's bytes stopped being AMQP (or a capture lost some)."""
        self.failed = True
        return PhaseFailed(
            self.model.phase, f"{failure.direction.sender}: {failure.reason}"
        )

    def _report(self, ended: Phase, next_frame: Frame) -> list[EngineEvent]:
        """The report of the phase `next_frame` ends, when it has one."""
        read = _facts_1_0 if self.dialect is AMQP_1_0 else _facts
        found = read(ended, self.frames, next_frame)
        if found is None or ended in self._reported:
            return []
        self._reported.add(ended)
        facts, notes = found
        return [PhaseReport(ended, facts, tuple(notes))]

    def _refused(self, frame: Frame, phase: Phase) -> list[EngineEvent]:
        """A broker's Close (or 1.0's close, end, detach or failed
        sasl-outcome): a failure unless it is a clean close."""
        header = frame.payload
        if isinstance(header, Header):
            failure = self._header_refused(frame, header)
        else:
            failure = refusal(frame, phase)
        if failure is None:
            return []
        self.failed = self.failed or failure.fatal
        return [failure]

    def _header_refused(self, frame: Frame, header: Header) -> PhaseFailed | None:
        """A 1.0 client's header answered by another (3.x's 0-9-1 header, say)."""
        sent = first_named(self.frames, C2B, frame.name)
        if sent is not None and header.is_amqp10 and sent.raw == frame.raw:
            return None
        first = next((f for f in self.frames if f.direction is C2B), frame)
        return header_refusal(first, frame)


def header_refusal(sent: Frame, answer: Frame) -> PhaseFailed:
    """A 1.0 client's header `sent`, refused by the broker's `answer` (a
    header for another protocol or version): the connection is over."""
    _, notes = amqp10.header_facts(sent, answer)
    return PhaseFailed(Phase.HEADER, notes[-1], advice=NO_AMQP_1_0)


def refusal(frame: Frame, phase: Phase) -> PhaseFailed | None:
    """What a broker's frame that interrupts `phase` says went wrong, if anything.

    0-9-1's Connection.Close or Channel.Close (None for the reply code 200 of
    a clean close; fatal for a Connection.Close); 1.0's close, end or detach
    with an error, or a sasl-outcome whose code is not 0 (see
    amqp10.report.failure_of).
    """
    if isinstance(frame.payload, Body):
        return _refusal_1_0(frame, phase)
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


def _refusal_1_0(frame: Frame, phase: Phase) -> PhaseFailed | None:
    """amqp10.report.failure_of's refusal as the engine's failure (the live
    engine's, engine/wire.py, too): 1.0 has no reply codes, so reply_code is
    a failed sasl-outcome's code, reply_text the condition."""
    found = amqp10.failure_of(frame, phase)
    if found is None:
        return None
    return PhaseFailed(
        phase,
        found.message,
        found.code,
        found.condition,
        advice=found.advice,
        fatal=found.fatal,
    )


#: What to do when a broker answers a 1.0 header with a header of its own.
NO_AMQP_1_0: Final = (
    "RabbitMQ 3.x speaks AMQP 1.0 only with the rabbitmq_amqp1_0 plugin; 4.x "
    "natively: connect to a 4.x broker, or use AMQP 0-9-1 here"
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


#: The broker's frames that may end a phase early, saying why (or closing it
#: cleanly): 0-9-1's Closes; 1.0's, and its sessions' and links' ends, and the
#: outcome of SASL, and its headers (which refuse the client's, or agree).
_INTERRUPTING = frozenset({
    "Connection.Close", "Channel.Close",
    "close", "end", "detach", "sasl-outcome", "sasl-header", "amqp-header",
})  # fmt: skip


def _facts_1_0(
    ended: Phase, frames: list[Frame], next_frame: Frame
) -> tuple[report.Facts, list[str]] | None:
    """What the engine would report of a 1.0 phase `ended`, from the frames alone."""
    first = partial(first_named, frames)
    if ended is Phase.HEADER:
        # The SASL header, if any, comes first; without SASL, the AMQP header.
        sent = first(C2B, "sasl-header") or first(C2B, "amqp-header")
        answer = first(B2C, "sasl-header") or first(B2C, "amqp-header")
        if sent is None or answer is None:
            return None
        return amqp10.header_facts(sent, answer)
    if ended is Phase.AUTH:
        mechanisms = first(B2C, "sasl-mechanisms")
        if mechanisms is None:
            return None
        init, outcome = first(C2B, "sasl-init"), first(B2C, "sasl-outcome")
        return amqp10.auth_facts(mechanisms, init, outcome, reveal=False)
    opens = first(C2B, "open"), first(B2C, "open")
    if ended is Phase.OPEN and opens[0] is not None and opens[1] is not None:
        return amqp10.open_facts(opens[0], opens[1])
    begins = first(C2B, "begin"), first(B2C, "begin")
    if ended is Phase.CHANNEL and begins[0] is not None and begins[1] is not None:
        return amqp10.begin_facts(begins[0], begins[1])
    return None
