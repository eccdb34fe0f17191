"""The observed client: aiormq's own Connection, with two small additions.

Owns ExplorerConnection. It is aiormq's Connection except that (1) it may be
given a socket the explorer already connected (so resolve and TCP can be shown
as phases of their own), and (2) when the learner's URL asks for channel_max
or frame_max, aiormq's handshake is offered the lower of the broker's proposal
and that value, so TuneOk carries it. aiormq on its own echoes the broker.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import aiormq
from aiormq.connection import FrameReceiver
from aiormq.exceptions import AuthenticationError
from pamqp import commands
from pamqp.base import Frame

from explorer.net.tap import Tap, TapTransportFactory


class ExplorerConnection(aiormq.Connection):
    """aiormq's Connection, watched by a tap."""

    def __init__(
        self,
        url: str,
        tap: Tap,
        *,
        sock: socket.socket | None = None,
        channel_max: int | None = None,
        frame_max: int | None = None,
    ) -> None:
        """Connect through `tap`, on `sock` if one is given."""
        super().__init__(url, transport_factory=TapTransportFactory(tap, sock=sock))
        self._limits = (channel_max, frame_max)
        #: Why aiormq gave up on its own, when it did (its connect() task then
        #: ends with a bare Exception, which says nothing).
        self.gave_up: Exception | None = None

    def _credentials_class(self, start_frame: commands.Connection.Start) -> Any:
        """aiormq's mechanism choice, remembering why it refused, if it did."""
        try:
            return super()._credentials_class(start_frame)
        except AuthenticationError as exc:
            self.gave_up = exc
            raise

    async def _rpc(  # type: ignore[override]
        self,
        request: Frame,
        writer: asyncio.StreamWriter,
        frame_receiver: FrameReceiver,
        wait_response: bool = True,
    ) -> Any:
        """aiormq's handshake round trip; lowers Tune values the URL limits."""
        reply = await aiormq.Connection._rpc(
            request,
            writer=writer,
            frame_receiver=frame_receiver,
            wait_response=wait_response,
        )
        if isinstance(reply, commands.Connection.Tune):
            channel_max, frame_max = self._limits
            reply.channel_max = lower(reply.channel_max, channel_max)
            reply.frame_max = lower(reply.frame_max, frame_max)
        return reply


def lower(proposed: int, asked: int | None) -> int:
    """The value a client asking for `asked` answers a proposal with.

    0 means "no limit" on both sides, so a proposal of 0 takes what was asked,
    and asking for 0 cannot lift a limit the broker set.
    """
    if asked is None or asked == 0:
        return proposed
    return asked if proposed == 0 else min(proposed, asked)
