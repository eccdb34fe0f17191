"""How frames and phase reports read in the explorer's panes, as plain text.

Owns the words and the frame list's columns, not the colours: the fixed
abbreviation of each AMQP class (used when a frame's full name does not fit;
the method is never shortened), a frame row's cells (an AMQP 1.0 row's detail
after the performative's name; which broker frames refuse something), a failure's and a
report's row, a report's one-line summary, how its fact values read and what
the hex pane says instead of bytes, and fitting text to a width in cells.
No Textual here.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Mapping, Sequence
from typing import Final, NamedTuple

from pamqp import commands
from rich.cells import cell_len, set_cell_size

from explorer.engine.events import PhaseFailed, PhaseReport
from explorer.protocol.amqp10.frames import Body
from explorer.protocol.amqp10.lifecycle import SASL_CODES
from explorer.protocol.amqp10.values import Described
from explorer.protocol.fields import JSON
from explorer.protocol.frames import Direction, Frame
from explorer.protocol.lifecycle import Phase
from explorer.ui.widgets.folding import is_heartbeat

TIME_WIDTH: Final = 6
CHANNEL_WIDTH: Final = 3
SIZE_WIDTH: Final = 6
#: Cells left of a frame's name: a margin, then time, arrow and channel, each
#: followed by a space.
LEFT_WIDTH: Final = 1 + TIME_WIDTH + 1 + 1 + 1 + CHANNEL_WIDTH + 1
#: Cells outside the name column: those left of it, a space and the size.
#: No margin follows the size: the scrollbar or the pane's border does.
FIXED_WIDTH: Final = LEFT_WIDTH + 1 + SIZE_WIDTH
MIN_NAME_WIDTH: Final = 8
HEARTBEAT: Final = "♥ Heartbeat"
#: Between a folded heartbeat row's name and its count, a multiplication sign.
TIMES: Final = " \N{MULTIPLICATION SIGN}"
#: The marks that start a failure's row and a report's, after a margin.
FAILED_MARK: Final = "✖"
REPORT_MARK: Final = "·"

#: The short name of each AMQP class, for a row too narrow for the full name:
#: ``Connection.StartOk`` reads ``Conn.StartOk``, ``Queue.DeclareOk`` reads
#: ``Q.DeclareOk``. Only the class is shortened, never the method, and no two
#: classes share a short name, so no two frames ever read the same. Frames
#: without a class (``ContentHeader``, ``Heartbeat`` ...) keep their name.
CLASS_ABBREVIATIONS: Final[Mapping[str, str]] = {
    "Connection": "Conn",
    "Channel": "Chan",
    "Exchange": "Exch",
    "Queue": "Q",
    "Basic": "Basic",
    "Confirm": "Conf",
    "Tx": "Tx",
}
#: The methods that close something and carry a reply code and text.
CLOSES: Final = (commands.Connection.Close, commands.Channel.Close)


def short_name(name: str) -> str:
    """A frame name with its class abbreviated, e.g. ``Conn.StartOk``.

    Args:
        name: pamqp's name for the frame, ``Connection.StartOk`` or ``Heartbeat``.
    """
    class_name, dot, method = name.partition(".")
    if not dot:
        return name
    return f"{CLASS_ABBREVIATIONS.get(class_name, class_name)}.{method}"


def reply(frame: Frame) -> str:
    """What a row says after a frame's name: a Close's reply code and text;
    for AMQP 1.0, what the performative_detail says."""
    payload = frame.payload
    if isinstance(payload, CLOSES):
        return f" {payload.reply_code} {payload.reply_text}"
    if isinstance(payload, Body):
        detail = performative_detail(payload)
        return f" {detail}" if detail else ""
    return ""


def performative_detail(body: Body) -> str:
    """What an AMQP 1.0 row says after the performative's name ("" for most).

    sasl-init's mechanism, sasl-outcome's code, an attach's role and address
    (role false is the sender, true the receiver: part 2, section 2.8.1), and
    the error condition of a close, end or detach that carries one.
    """
    fields = body.fields
    if body.name == "sasl-init":
        return str(fields.get("mechanism") or "")
    if body.name == "sasl-outcome":
        code = fields.get("code")
        return (
            f"code {code} ({SASL_CODES.get(code, 'unknown')})"
            if isinstance(code, int)
            else ""
        )
    if body.name == "attach":
        receiver = fields.get("role") is True
        # A sender's address is its target's, a receiver's its source's; the
        # answering end of a link may name it only at the other end.
        ends = ("source", "target") if receiver else ("target", "source")
        address = next(filter(None, map(_address, map(fields.get, ends))), "")
        role = "receiver" if receiver else "sender"
        return f"{role} {address}" if address else role
    error = fields.get("error")
    if isinstance(error, Described):
        return str(error.fields.get("condition") or "error")
    return ""


def _address(end: object) -> str:
    """A source's or target's address ("" when it has none)."""
    address = end.fields.get("address") if isinstance(end, Described) else None
    return str(address or "")


def refused(frame: Frame) -> bool:
    """A broker frame that refuses something: a 0-9-1 Close other than 200,
    or a 1.0 sasl-outcome other than ok, or a close, end or detach with an
    error."""
    payload = frame.payload
    if frame.direction is not Direction.BROKER_TO_CLIENT:
        return False
    if isinstance(payload, CLOSES):
        return payload.reply_code != 200
    if not isinstance(payload, Body):
        return False
    if payload.name == "sasl-outcome":
        return payload.fields.get("code") not in (0, None)
    return isinstance(payload.fields.get("error"), Described)


def fit_name(name: str, detail: str, width: int) -> str:
    """A frame's name, then `detail`, padded or cut to exactly `width` cells.

    The name stays whole when it fits with the first word of `detail` (a
    Close's reply code), else its class is abbreviated; what does not fit is
    cut from the end, so the detail goes before the method.

    Args:
        name: pamqp's name for the frame, ``Connection.Close``.
        detail: What follows the name, with its leading space, or "".
        width: Cells to fill.
    """
    text, head = name + detail, " ".join([name, *detail.split()[:1]])
    # A cut ends in an ellipsis: the head must leave it a cell.
    if cell_len(text) > width and cell_len(head) >= width:
        name = short_name(name)
    return fit(name + detail, width)


def fit(text: str, width: int) -> str:
    """Pad or cut `text` to exactly `width` cells, marking a cut with an ellipsis."""
    if cell_len(text) > width:
        return set_cell_size(text, width - 1) + "…"
    return set_cell_size(text, width)


def fit_first(texts: Sequence[str], width: int) -> str:
    """The first of `texts` that fits `width` cells, padded; else the last, cut.

    Args:
        texts: The same thing said in full first, then shorter and shorter.
        width: Cells to fill.
    """
    fitting = next((text for text in texts if cell_len(text) <= width), texts[-1])
    return fit(fitting, width)


def seconds(t: float, width: int) -> str:
    """`t` in seconds with as many decimals (3 at most) as fit `width` cells."""
    text = ""
    for decimals in (3, 2, 1, 0):
        text = f"{t:.{decimals}f}"
        if len(text) <= width:
            break
    return text


def fact_text(value: JSON) -> str:
    """A report's fact value as it reads: a string as it is, the rest as JSON."""
    if isinstance(value, str) and value:
        return value
    return json.dumps(value, ensure_ascii=False)


def _records(value: JSON) -> list[dict[str, JSON]]:
    """The dicts of a list fact, e.g. each address or each connection attempt."""
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]


def _endpoint(facts: dict[str, JSON]) -> str:
    """``guest@127.0.0.1:5672 /``: who connects where, from the settings."""
    settings = {
        str(s.get("name")): fact_text(s.get("value"))
        for s in _records(facts.get("settings"))
    }
    if not settings:
        return _scalars(facts)
    user, host, port = settings.get("user"), settings.get("host"), settings.get("port")
    return f"{user}@{host}:{port} {settings.get('vhost')}"


def _resolve(facts: dict[str, JSON]) -> str:
    """``localhost → ::1, 127.0.0.1 in 0.4 ms``."""
    addresses = ", ".join(
        fact_text(a.get("address")) for a in _records(facts.get("addresses"))
    )
    return f"{fact_text(facts.get('host'))} → {addresses} in {facts.get('ms')} ms"


def _tcp(facts: dict[str, JSON]) -> str:
    """``127.0.0.1:41236 → :5672``: the remote host only when it is another.

    A report of another TCP connection (an experiment's, a watched client's)
    names its ends otherwise: its facts are listed as they are.
    """
    if "local" not in facts:
        return _scalars(facts)
    local, remote = fact_text(facts.get("local")), fact_text(facts.get("remote"))
    host, _, port = remote.rpartition(":")
    if host == local.rpartition(":")[0]:
        remote = f":{port}"
    return f"{local} → {remote}"


def _tls(facts: dict[str, JSON]) -> str:
    """``TLSv1.3 TLS_AES_256_GCM_SHA384``."""
    return " ".join(
        fact_text(facts[key]) for key in ("tls_version", "cipher") if facts.get(key)
    )


def _scalars(facts: dict[str, JSON]) -> str:
    """``vhost /, permission ...``: the facts that are no list or table."""
    return ", ".join(
        f"{name} {fact_text(value)}"
        for name, value in facts.items()
        if not isinstance(value, dict | list)
    )


#: The summary of each phase below AMQP; other phases list their plain facts.
_SUMMARIES: Final[Mapping[Phase, Callable[[dict[str, JSON]], str]]] = {
    Phase.ENDPOINT: _endpoint,
    Phase.RESOLVE: _resolve,
    Phase.TCP: _tcp,
    Phase.TLS: _tls,
}


def report_summary(report: PhaseReport) -> str:
    """One line saying what a phase established, e.g. ``127.0.0.1:41236 → :5672``."""
    return _SUMMARIES.get(report.phase, _scalars)(report.facts)


#: What the hex pane says of a phase that sent no frame, instead of its bytes.
_NO_BYTES: Final[Mapping[Phase, str]] = {
    Phase.ENDPOINT: "No bytes in this phase: the URL is read before anything is sent.",
    Phase.RESOLVE: "No AMQP bytes in this phase: it happens below AMQP, in name "
    "resolution (DNS).",
    Phase.TCP: "No AMQP bytes in this phase: it happens below AMQP, on the "
    "socket (TCP).",
    Phase.TLS: "No AMQP bytes in this phase: it happens below AMQP, in TLS on "
    "the socket.",
}
_REPORT_ROW: Final = (
    "No bytes on this row: it says what the phase established; its frames are "
    "the rows around it."
)


def report_lines(report: PhaseReport, width: int) -> list[str]:
    """Why a report has no bytes, then its notes, wrapped to `width` columns."""
    heading = _NO_BYTES.get(report.phase, _REPORT_ROW)
    if not report.notes:
        return textwrap.wrap(heading, width)
    lines = [*textwrap.wrap(f"{heading} Its report:", width), ""]
    for note in report.notes:
        lines += textwrap.wrap(note, width, initial_indent="• ", subsequent_indent="  ")
    return lines


def report_texts(report: PhaseReport) -> tuple[str, str]:
    """What a report's row says: ``tcp report  <summary>``, then without "report"."""
    phase, summary = report.phase.value, report_summary(report)
    return f"{phase} report  {summary}", f"{phase}  {summary}"


class FrameRow(NamedTuple):
    """A frame's row, cell by cell, together as wide as the row."""

    time: str
    arrow: str
    channel: str
    name: str
    size: str


def header_text(width: int) -> str:
    """The column titles above the rows."""
    name_width = max(MIN_NAME_WIDTH, width - FIXED_WIDTH)
    return (
        f" {'time s':>{TIME_WIDTH}}   {'ch':>{CHANNEL_WIDTH}} "
        f"{fit('frame', name_width)} {'bytes':>{SIZE_WIDTH}}"
    )


def frame_row(
    frame: Frame, since: float, width: int, count: int = 1, mixed: bool = False
) -> FrameRow:
    """The cells of a frame's row (or of a run of `count` heartbeats).

    The name is shown in full when it fits, else with its class abbreviated
    (see fit_name), and may take the cells the size leaves blank, one space
    kept before the size.

    Args:
        frame: The frame, or a heartbeat run's last heartbeat.
        since: Capture time the row's time counts from.
        width: Cells of the row.
        count: Heartbeats in the run the row stands for.
        mixed: True when the run holds heartbeats from both peers.
    """
    name, detail = frame.name, reply(frame)
    size, arrow = frame.size, frame.direction.arrow
    if is_heartbeat(frame):
        beat = HEARTBEAT if name == "Heartbeat" else f"♥ {name}"
        name = f"{beat}{TIMES}{count}" if count > 1 else beat
        size, arrow = size * count, "⇄" if mixed else arrow
    room = max(MIN_NAME_WIDTH, width - LEFT_WIDTH - 1 - len(str(size)))
    return FrameRow(
        f" {seconds(frame.t - since, TIME_WIDTH):>{TIME_WIDTH}} ",
        arrow,
        f" {frame.channel:>{CHANNEL_WIDTH}} ",
        fit_name(name, detail, room),
        f" {size}",
    )


def note_row(item: PhaseFailed | PhaseReport, width: int) -> str:
    """The row of a failure or a report: its mark, then its text across the row."""
    texts: tuple[str, ...]
    if isinstance(item, PhaseFailed):
        mark, texts = FAILED_MARK, (f"{item.phase.value} failed: {item.message}",)
    else:
        mark, texts = REPORT_MARK, report_texts(item)
    indent = f" {mark} "
    return indent + fit_first(texts, max(MIN_NAME_WIDTH, width - len(indent)))
