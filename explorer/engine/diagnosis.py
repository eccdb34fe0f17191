"""Diagnoses: what the wire shows when a connection stalls, or closes half-way.

Owns the words for four faults, each read from what the tap saw rather than
from aiormq's exceptions where the wire can tell: a broker that stops
answering (how many bytes came, and of which frame when one was cut short,
framed as the connection's dialect frames: AMQP 0-9-1 or 1.0), a
client that gave up before its next frame, TLS files in the URL that cannot be
used (named before any connection is made), and a Connection.Close that got no
Connection.CloseOk before TCP closed.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import ssl
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, Final, TypeVar

from aiormq.exceptions import AuthenticationError
from pamqp import base, commands, constants

from explorer.protocol.amqp10.bytemap import FRAME_HEADER as AMQP10_FRAME
from explorer.protocol.amqp10.bytemap import WORD
from explorer.protocol.amqp10.decoder import HEADER_SIZE as AMQP10_HEADER_SIZE
from explorer.protocol.amqp10.descriptors import composite
from explorer.protocol.amqp10.frames import HEARTBEAT, FrameType
from explorer.protocol.amqp10.reader import Reader
from explorer.protocol.decoder import (
    FRAME_HEADER,
    FRAME_TYPES,
    HEADER_SIZE,
    METHOD_INDEX,
    METHOD_START,
    PROTOCOL_HEADER_SIZE,
)
from explorer.protocol.dialect import AMQP_0_9_1, Dialect
from explorer.protocol.frames import B2C, C2B, Frame
from explorer.protocol.lifecycle import Phase
from explorer.protocol.queries import sent_since
from explorer.protocol.stream import Chunk, StreamEnd
from explorer.protocol.walker import MalformedError

if TYPE_CHECKING:
    from explorer.engine.core import Engine

#: What to look at when a broker that answered before stops answering.
STALL_ADVICE: Final = (
    "RabbitMQ answers this at once: the broker may be overloaded or paused "
    "(rabbitmq-diagnostics status and alarms say which), or something between "
    "(a proxy, a firewall) is holding its bytes"
)
#: What to look at when a peer accepts TCP and never says a word.
SILENT_PEER_ADVICE: Final = (
    "is this RabbitMQ's AMQP port? A proxy or load balancer that never reaches the "
    "broker behaves like this"
)
#: What to look at when Connection.Close got no Connection.CloseOk in time.
UNFINISHED_CLOSE_ADVICE: Final = (
    "RabbitMQ answers Connection.Close at once; aiormq waits 2 s for the "
    "Connection.CloseOk, then closes TCP anyway. A broker too busy to answer, or "
    "a proxy dropping frames, leaves the close unfinished"
)
#: OpenSSL's "[LIBRARY: CODE]" prefix and CPython's "(_ssl.c:N)" suffix.
_SSL_NOISE: Final = re.compile(r"^\[[^\]]*\]\s*|\s*\(_ssl\.c:\d+\)$")
T = TypeVar("T")
#: The empty frames that answer nothing: 0-9-1's name, and 1.0's.
_BEATS: Final = frozenset({"Heartbeat", HEARTBEAT})
#: How a 1.0 frame's type is named, with its article.
_A: Final = {FrameType.AMQP: "an AMQP", FrameType.SASL: "a SASL"}


class StallError(Exception):
    """The broker did not answer in time; the stall has been reported."""


# A broker that stops answering ---


async def in_time(
    engine: Engine,
    phase: Phase,
    work: Awaitable[T],
    *,
    doing: str = "",
    fatal: bool = True,
) -> T:
    """Await aiormq's `work` for up to `engine.wait`, reporting a stall if it lasts.

    The stall is reported before `work` is cancelled: aiormq answers its own
    cancellation with more frames (a Channel.Close), and the report is about
    the frame that went unanswered.

    Raises:
        StallError: no answer came in time (reported at `phase`; see `stalled`).
    """
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=engine.wait)
    except asyncio.CancelledError:  # the step itself was cancelled (the app quits)
        task.cancel()
        raise
    if task in done:
        return task.result()
    if not engine.gone:
        stalled(engine, phase, doing=doing, fatal=fatal)
    task.cancel()
    await asyncio.wait({task})
    if not task.cancelled():
        task.exception()  # retrieved: the stall is what is reported
    raise StallError


def stalled(
    engine: Engine, phase: Phase, *, doing: str = "", fatal: bool = True
) -> None:
    """Report that nothing answered the client's last frame within `engine.wait`.

    Says how long ago that frame went out, what the broker sent since (nothing,
    some frames, or the first bytes of a frame that never finished) and that the
    connection is still open: nothing was closed.

    Args:
        engine: The engine whose wait ran out (its connection is not gone).
        phase: The phase whose step waited.
        doing: What the step was doing ("declare" ...), said first when given.
        fatal: False when the connection may still be used.
    """
    prefix = f"{doing} failed: " if doing else ""
    if not _broker_stream(engine):
        engine.fail(
            phase,
            f"{prefix}no answer within {engine.wait:g} s: the peer accepted TCP but "
            "says nothing, which an AMQP broker never does",
            advice=SILENT_PEER_ADVICE,
            fatal=fatal,
        )
        return
    sent = _last_sent(engine)
    since = engine.tap.now() - (sent.t if sent else engine.tcp_at or 0.0)
    went = (
        f"{sent.name} went out {since:.1f} s ago"
        if sent is not None
        else f"TCP opened {since:.1f} s ago"
    )
    engine.fail(
        phase,
        f"{prefix}no answer within {engine.wait:g} s: {went} and "
        f"{_since(engine, sent)}; the connection is still open",
        advice=STALL_ADVICE,
        fatal=fatal,
    )


def _since(engine: Engine, sent: Frame | None) -> str:
    """What the broker sent after `sent`: frames, then a frame cut short."""
    after = sent.t if sent is not None else 0.0
    frames = _listed([f.name for f in sent_since(engine.frames, B2C, after)])
    rest = _unframed(engine)
    if rest:
        came = f"{len(rest)} bytes came back, {_partial(rest, engine)}"
        if frames:
            came = f"the broker sent {frames}, then {came}"
        return f"{came}, then nothing"
    if frames:
        return f"the broker has sent only {frames} since"
    last = [f.name for f in engine.frames if f.direction is B2C][-1:]
    was = f" (its last frame was {last[0]})" if last else ""
    return f"the broker has sent nothing since{was}"


def _listed(names: list[str]) -> str:
    """Frame names in order, a run of one name as "3 Heartbeat frames"."""
    runs = [(name, len(list(run))) for name, run in itertools.groupby(names)]
    return ", ".join(name if n == 1 else f"{n} {name} frames" for name, n in runs)


def _partial(rest: bytes, engine: Engine) -> str:
    """Which frame the broker's unframed bytes `rest` begin, and how much of it."""
    first = not any(f.direction is B2C for f in engine.frames)
    return cut_short(rest, engine.dialect, first)


def cut_short(rest: bytes, dialect: Dialect, first: bool) -> str:
    """Which frame (or header) of `dialect` the bytes `rest` begin, and how much
    of it came; `first`: nothing came before them."""
    if dialect is AMQP_0_9_1:
        return _partial_0_9_1(rest, first)
    return _partial_1_0(rest)


def _came(rest: bytes, total: int, what: str) -> str:
    return f"the first {len(rest)} of the {total} bytes of {what}"


def _partial_0_9_1(rest: bytes, first: bool) -> str:
    if first and constants.AMQP.startswith(rest[:4]):
        return _came(rest, PROTOCOL_HEADER_SIZE, "a protocol header")
    if rest[0] not in FRAME_TYPES:
        return f"which no AMQP frame starts with (there is no frame type {rest[0]})"
    if len(rest) < HEADER_SIZE:
        return f"not yet a whole frame header ({HEADER_SIZE} bytes)"
    kind, channel, size = FRAME_HEADER.unpack_from(rest)
    method = ""
    if kind == constants.FRAME_METHOD and len(rest) >= METHOD_START:
        index = METHOD_INDEX.unpack_from(rest, HEADER_SIZE)[0]
        command = commands.INDEX_MAPPING.get(index)
        if command is not None and issubclass(command, base.Frame):
            method = f" ({command.name})"
    what = f"a {FRAME_TYPES[kind]} frame on channel {channel}{method}"
    return _came(rest, HEADER_SIZE + size + 1, what)


def _partial_1_0(rest: bytes) -> str:
    """A 1.0 header (first, or the AMQP one after SASL), or a frame: its
    4-byte size, doff, type and channel, then the performative's descriptor."""
    # A frame's size never starts with 0x41 ('A'): that is over 1 GB.
    if constants.AMQP.startswith(rest[:4]):
        return _came(rest, AMQP10_HEADER_SIZE, "a protocol header")
    if len(rest) < AMQP10_FRAME.size:
        return (
            f"not yet a whole frame header ({AMQP10_FRAME.size} bytes: size, doff, "
            "type, channel)"
        )
    size, doff, code, channel = AMQP10_FRAME.unpack_from(rest)
    kind = next((t for t in FrameType if t == code), None)
    if kind is None:
        return (
            f"which no AMQP 1.0 frame starts with (there is no frame type 0x{code:02x})"
        )
    start = doff * WORD
    named = " (an empty frame: heartbeat)" if start == size else ""
    try:
        descriptor = Reader(rest, len(rest)).value(start + 1, "descriptor").value
    except (MalformedError, IndexError):
        descriptor = None
    known = composite(descriptor) if rest[start : start + 1] == b"\0" else None
    if known is not None:
        named = f" ({known.name})"
    where = f" on channel {channel}" if kind == FrameType.AMQP else ""
    return _came(rest, size, f"{_A[kind]} frame{where}{named}")


def _broker_stream(engine: Engine) -> bytes:
    """Every byte the broker has sent so far, in order."""
    return b"".join(
        e.data for e in engine.tap.events if isinstance(e, Chunk) and e.direction is B2C
    )


def _unframed(engine: Engine) -> bytes:
    """The broker's bytes after its last complete frame: a frame not finished."""
    frames = [f for f in engine.frames if f.direction is B2C]
    framed = frames[-1].offset + frames[-1].size if frames else 0
    return _broker_stream(engine)[framed:]


def _last_sent(engine: Engine) -> Frame | None:
    """The client's last frame other than a heartbeat (either dialect's): what
    awaits an answer."""
    sent = [f for f in engine.frames if f.direction is C2B and f.name not in _BEATS]
    return sent[-1] if sent else None


# A client that gave up ---


def client_gave_up(engine: Engine, phase: Phase) -> None:
    """Report why the client stopped before sending what `phase` needs."""
    if engine.failed:
        return
    error = engine.connection.gave_up if engine.connection else None
    if isinstance(error, AuthenticationError):
        offered, supported = error.args
        engine.fail(
            phase,
            f"aiormq was asked to log in with {engine.need_endpoint().auth}; the "
            f"broker offers {offered} and aiormq supports {' '.join(supported)}, "
            "so aiormq gave up without sending Connection.StartOk",
            advice="use ?auth= with a mechanism both sides support",
        )
        return
    engine.fail(phase, f"the client stopped: {error or 'it sent nothing more'}")


# TLS files that cannot be used ---


def tls_files_problem(options: Mapping[str, str]) -> str | None:
    """Why the URL's TLS files cannot make aiormq's TLS context, naming the file.

    Loads them as aiormq will (cafile as the certificates to trust, certfile
    and keyfile as the client's own certificate chain and key); None when all
    load. aiormq ignores a keyfile without a certfile, and so does this.
    """
    cafile, certfile = options.get("cafile"), options.get("certfile")
    keyfile = options.get("keyfile") if certfile else None
    named = {"cafile": cafile, "certfile": certfile, "keyfile": keyfile}
    for option, path in named.items():  # in the order aiormq loads them
        if path is None:
            continue
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            return f"{option} {path}: {exc.strerror or exc}"
    if cafile is not None and (problem := _trust_problem(cafile)):
        return f"cafile {cafile} is not a PEM certificate: {problem}"
    if certfile is None:
        return None
    if problem := _trust_problem(certfile):
        return f"certfile {certfile} is not a PEM certificate: {problem}"
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(certfile, keyfile)
    except ssl.SSLError as exc:
        reason = _ssl_reason(exc)
        if keyfile is None:
            return (
                f"certfile {certfile} holds no private key for its certificate "
                f"(name one with keyfile=): {reason}"
            )
        if exc.reason == "KEY_VALUES_MISMATCH":
            return f"keyfile {keyfile} is not the key of certfile {certfile}: {reason}"
        return f"keyfile {keyfile} is not a PEM private key: {reason}"
    return None


def _trust_problem(path: str) -> str:
    """Why `path` cannot be read as PEM certificates ("" when it can)."""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
    except ssl.SSLError as exc:
        return _ssl_reason(exc)
    return ""


def _ssl_reason(exc: ssl.SSLError) -> str:
    """OpenSSL's words for `exc`, without its library tag and source line."""
    return _SSL_NOISE.sub("", str(exc.strerror or exc)).strip() or "unreadable"


# A close that did not finish ---


def unfinished_close(engine: Engine) -> str | None:
    """What the wire shows when the client's Connection.Close got no CloseOk.

    None when the client sent no Connection.Close (the broker closed, or no AMQP
    connection was open) or when Connection.CloseOk came before TCP closed.
    """
    sent = engine.frame(C2B, "Connection.Close")
    if sent is None:
        return None
    close_ok = engine.frame(B2C, "Connection.CloseOk")
    ends = sorted(engine.ended.values(), key=lambda end: end.t)
    end: StreamEnd | None = ends[0] if ends else None
    if close_ok is not None and (end is None or close_ok.t <= end.t):
        return None
    if end is None:
        waited = engine.tap.now() - sent.t
        return (
            f"the client sent Connection.Close {waited:.1f} s ago and no "
            "Connection.CloseOk has come back; TCP is still open"
        )
    return (
        "the client sent Connection.Close, and no Connection.CloseOk came back before "
        f"the TCP connection ended {end.t - sent.t:.1f} s later ({end.reason}): the "
        "close did not finish"
    )
