"""The lifecycle engine: a live aiormq connection, stepped one phase at a time.

`core` owns the Engine (stepping, waiting, the wire); `reaching`, `handshake`
and `session` own what each phase does. No Textual in this package.
"""

from __future__ import annotations

from explorer.engine.core import HANDSHAKE_TIMEOUT, Engine

__all__ = ["HANDSHAKE_TIMEOUT", "Engine"]
