"""Questions asked of a list of decoded frames, by everyone who reads them.

Owns the frame queries that the engine, the try-it checks, the questions and
the lab share: the first frame called X, what the broker said after frame X,
the negotiated Tune pair, the broker's product and version, and which channels
the client used. Sans-I/O: frames in, facts out.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Final, TypeVar

from pamqp import commands

from explorer.protocol.amqp10.frames import Body
from explorer.protocol.fields import table_of
from explorer.protocol.frames import B2C, C2B, Direction, Frame

__all__ = [
    "BROKER_NAMERS",
    "all_named",
    "broker_named",
    "broker_product",
    "broker_said_after",
    "channel_turns",
    "client_channels",
    "first_named",
    "first_payload",
    "reply_to",
    "sent_since",
    "server_product",
    "tune_pair",
]


P = TypeVar("P")


def first_payload(
    frames: Iterable[Frame], direction: Direction, kind: type[P]
) -> P | None:
    """The pamqp object of the first `kind` frame `direction`'s sender sent, if any.

    `kind` is a pamqp method class, e.g. ``commands.Connection.TuneOk``.
    """
    frame = first_named(frames, direction, getattr(kind, "name", kind.__name__))
    return (
        frame.payload if frame is not None and isinstance(frame.payload, kind) else None
    )


def first_named(
    frames: Iterable[Frame], direction: Direction, name: str
) -> Frame | None:
    """The first frame called `name` that `direction`'s sender sent, if any."""
    return next(
        (f for f in frames if f.direction is direction and f.name == name), None
    )


def all_named(frames: Iterable[Frame], direction: Direction, name: str) -> list[Frame]:
    """Every frame called `name` that `direction`'s sender sent, in order."""
    return [f for f in frames if f.direction is direction and f.name == name]


def sent_since(frames: Iterable[Frame], direction: Direction, t: float) -> list[Frame]:
    """The frames `direction`'s sender sent at or after `t` (the capture's clock)."""
    return [f for f in frames if f.direction is direction and f.t >= t]


def broker_said_after(frames: Sequence[Frame], frame: Frame) -> list[Frame]:
    """What the broker said after `frame`: its frames, heartbeats left out.

    Heartbeats say nothing new. Empty if `frame` is not among `frames`.
    """
    for index, seen in enumerate(frames):
        if seen is frame or seen == frame:
            return [
                f
                for f in frames[index + 1 :]
                if f.direction is B2C and f.name != "Heartbeat"
            ]
    return []


def reply_to(frames: Sequence[Frame], sent: str) -> Frame | None:
    """The broker's first frame after the client's first `sent`, heartbeats aside."""
    frame = first_named(frames, C2B, sent)
    if frame is None:
        return None
    return next(iter(broker_said_after(frames, frame)), None)


def tune_pair(
    frames: Sequence[Frame],
) -> tuple[commands.Connection.Tune, commands.Connection.TuneOk] | None:
    """The broker's Connection.Tune and the client's TuneOk, once both are sent."""
    tune = first_payload(frames, B2C, commands.Connection.Tune)
    tune_ok = first_payload(frames, C2B, commands.Connection.TuneOk)
    if tune is None or tune_ok is None:
        return None
    return tune, tune_ok


def server_product(start: Frame) -> tuple[str, str]:
    """The product and version a Connection.Start's server_properties name.

    Each is "" when the broker left it out or sent something other than text.
    """
    return _product(start, "server_properties")


def broker_product(start: Frame) -> str:
    """``product version`` from a Connection.Start, or from the properties of
    an AMQP 1.0 broker's open, e.g. "RabbitMQ 3.10.8".

    Either word is left out when the broker did not send it ("" for neither).
    """
    body = start.payload
    if not isinstance(body, Body):
        return " ".join(word for word in server_product(start) if word)
    properties = body.fields.get("properties")
    found = properties if isinstance(properties, dict) else {}
    words = (found.get(key) for key in ("product", "version"))
    return " ".join(word for word in words if isinstance(word, str) and word)


#: The broker's frames that name it: 0-9-1's Connection.Start, 1.0's open.
BROKER_NAMERS: Final = frozenset({(B2C, "Connection.Start"), (B2C, "open")})


def broker_named(frames: Iterable[Frame]) -> str:
    """The broker's ``product version``, from the first frame that names it
    (see BROKER_NAMERS); "" before any."""
    namer = next((f for f in frames if (f.direction, f.name) in BROKER_NAMERS), None)
    return broker_product(namer) if namer is not None else ""


def client_product(start_ok: Frame) -> str:
    """``product version`` from a Connection.StartOk, e.g. "pika 1.4.4"."""
    return " ".join(word for word in _product(start_ok, "client_properties") if word)


def _product(frame: Frame, properties_name: str) -> tuple[str, str]:
    properties = table_of(frame, properties_name)
    product, version = properties.get("product"), properties.get("version")
    return (
        product if isinstance(product, str) else "",
        version if isinstance(version, str) else "",
    )


def channel_turns(frames: Sequence[Frame]) -> tuple[dict[int, int], int]:
    """The client's frames per channel (1 and up), and how often they took turns."""
    channels = client_channels(frames)
    turns = sum(1 for a, b in itertools.pairwise(channels) if a != b)
    return {c: channels.count(c) for c in sorted(set(channels))}, turns


def client_channels(frames: Sequence[Frame]) -> list[int]:
    """The channel of each of the client's frames on a channel, in order."""
    return [f.channel for f in frames if f.direction is C2B and f.channel]
