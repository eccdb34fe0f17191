"""What the AMQP 1.0 failure experiments do that the 1.0 lifecycle does not.

Owns the step that attaches a sender to a queue that does not exist, and
waits for the broker's answer (RabbitMQ 4.0.5 ends the session), without
waiting out the client's own timeout: Proton's sender never becomes active.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from typing import TYPE_CHECKING, Final

from explorer.net.amqp10 import Amqp10Error
from explorer.protocol.frames import B2C
from explorer.protocol.lifecycle import Phase
from explorer.protocol.queries import sent_since

if TYPE_CHECKING:
    from explorer.engine.core import Engine

#: The broker frames that can answer an attach: its own attach, or an end
#: (or detach, or close) carrying the error.
ANSWERS: Final = ("attach", "detach", "end", "close")


async def attach_missing(engine: Engine) -> None:
    """Attach a sender to ``/queues/NAME`` for a queue nobody declared."""
    engine.model.enter(Phase.OPERATIONS)
    client = engine.need_amqp10()
    address = f"/queues/amqp-explorer-no-such-queue-{secrets.token_hex(3)}"
    engine.trigger_at = started = engine.tap.now()
    attaching = asyncio.ensure_future(client.attach_sender(address))
    await engine.until(
        lambda: (
            attaching.done()
            or any(f.name in ANSWERS for f in sent_since(engine.frames, B2C, started))
        )
    )
    attaching.cancel()
    with contextlib.suppress(asyncio.CancelledError, Amqp10Error):
        await attaching
    client.sender = None  # the broker never attached it: there is nothing to detach
    engine.report(
        Phase.OPERATIONS,
        {"address": address},
        [f"The sender attached to {address}, a queue that does not exist."],
    )
