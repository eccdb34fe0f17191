"""Masking secrets: the spans of a frame's bytes that hold one, and hiding them.

Owns Secret (a span found by explorer.protocol.secrets, for 0-9-1 and 1.0
alike) and `mask`, which hides its bytes without changing any length, so the
masked frame decodes as the original did. Sans-I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

MASK: Final = b"*"


@dataclass(frozen=True, slots=True)
class Secret:
    """A span of a frame's bytes that holds a secret."""

    #: Offset from the start of the frame.
    offset: int
    length: int
    #: What it is: "password", "secret" ...
    what: str


def mask(raw: bytes, secrets: list[Secret]) -> bytes:
    """`raw` with every secret byte replaced by ``*``, lengths unchanged."""
    masked = bytearray(raw)
    for secret in secrets:
        masked[secret.offset : secret.offset + secret.length] = MASK * secret.length
    return bytes(masked)
