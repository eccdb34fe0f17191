"""Which AMQP a connection speaks, and what reads it: 0-9-1 or 1.0.

Owns Dialect (a protocol's decoder, its lifecycle rules, its plan of phases
and the frame that ends its handshake), the two dialects the explorer reads,
`dialect_of`, which tells them apart by the protocol header the client wrote
first, `dialect_of_frame`, which tells them apart by any decoded frame, and
`ends_handshake`, the one test of whether a frame, of either protocol, ends
the handshake: the broker's answer to the frame that stops its
handshake_timeout (0-9-1's Connection.Open; 1.0's client open, seen on
RabbitMQ 4.0.5), so from it on no handshake clock runs. A live run, a replay
and a watched connection pick their decoder and rules here, and nowhere else.
Sans-I/O."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

from explorer.protocol import lifecycle
from explorer.protocol.amqp10 import lifecycle as amqp10
from explorer.protocol.amqp10.decoder import Amqp10Decoder
from explorer.protocol.amqp10.frames import Body, Header
from explorer.protocol.decoder import FrameDecoder
from explorer.protocol.frames import Decoded, DecodeFailure, Direction, Frame
from explorer.protocol.lifecycle import Phase, Transition


class Decoder(Protocol):
    """One direction's bytes in, frames (or the failure that stops them) out."""

    def feed(self, data: bytes, t: float = 0.0) -> list[Decoded]:
        """Decode what `data` completes."""

    def close(self, t: float = 0.0) -> DecodeFailure | None:
        """The stream ended: a failure if it ended inside a frame."""

    @property
    def pending(self) -> int:
        """Bytes received that do not complete a frame yet."""

    @property
    def stopped(self) -> bool:
        """Whether the stream can no longer be framed."""


class Rules(Protocol):
    """A lifecycle table applied to frames: the phase, and moves by step or frame."""

    @property
    def phase(self) -> Phase:
        """The phase the lifecycle is in."""

    def enter(self, phase: Phase) -> None:
        """A step moves on to `phase`, which no frame marks."""

    def observe(self, frame: Frame) -> Transition:
        """Apply the rules to one frame as it crossed the wire."""


@dataclass(frozen=True, slots=True)
class Dialect:
    """One protocol, as the explorer reads it."""

    #: Its name as the spec gives it: "AMQP 0-9-1", "AMQP 1.0".
    name: str
    #: How the learner chooses it (``--protocol``): "0-9-1", "1.0".
    key: str
    #: A decoder for one direction.
    decoder: Callable[[Direction], Decoder]
    #: Its lifecycle rules, starting at a phase.
    rules: Callable[[Phase], Rules]
    #: Its phases, in order, with or without TLS.
    plan_for: Callable[[bool], tuple[Phase, ...]]
    #: The broker's frame that ends the handshake.
    handshake_end: tuple[Direction, str]


AMQP_0_9_1: Final = Dialect(
    "AMQP 0-9-1",
    "0-9-1",
    FrameDecoder,
    lifecycle.LifecycleModel,
    lifecycle.plan_for,
    lifecycle.HANDSHAKE_END,
)
AMQP_1_0: Final = Dialect(
    "AMQP 1.0",
    "1.0",
    Amqp10Decoder,
    amqp10.Amqp10Lifecycle,
    amqp10.plan_for,
    amqp10.HANDSHAKE_END,
)
#: Every dialect, by the key the learner chooses it with.
DIALECTS: Final = {d.key: d for d in (AMQP_0_9_1, AMQP_1_0)}
#: The bytes after "AMQP" that open an AMQP 1.0 stream: its SASL, TLS or AMQP
#: header, each naming version 1.0.0 (part 5 of the spec).
_ONE_OH: Final = tuple(bytes((protocol, 1, 0, 0)) for protocol in (0, 2, 3))
_HANDSHAKE_ENDS: Final = frozenset(d.handshake_end for d in DIALECTS.values())


def dialect_of(client_bytes: bytes) -> Dialect:
    """The dialect of a stream whose client wrote `client_bytes` first.

    A 1.0 header is ``AMQP`` then protocol id 0, 2 or 3 and 1.0.0; anything
    else (0-9-1's ``AMQP 0 0 9 1``, or bytes that are no AMQP at all) is read
    as 0-9-1, whose decoder says what is wrong with them.
    """
    head = client_bytes[:8]
    return AMQP_1_0 if head[:4] == b"AMQP" and head[4:] in _ONE_OH else AMQP_0_9_1


def dialect_of_frame(frame: Frame) -> Dialect:
    """The dialect whose decoder read `frame`, from any frame of the stream.

    Unlike `dialect_of`, it needs no header: a reading that starts after the
    handshake (a watched connection picked up late) tells by its first frame.
    """
    return AMQP_1_0 if isinstance(frame.payload, Header | Body) else AMQP_0_9_1


def ends_handshake(frame: Frame) -> bool:
    """Whether `frame` ends the handshake: 0-9-1's Open-Ok, or 1.0's broker open."""
    return (frame.direction, frame.name) in _HANDSHAKE_ENDS
