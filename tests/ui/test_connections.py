"""The app's name for a live connection: the same at start and after `c` (or
coming back from an experiment), as the dialect's client is handed the URL.

Port 9 (discard) is closed here: no broker is needed, the tcp phase fails.
"""

from __future__ import annotations

import pytest

from explorer.protocol.dialect import AMQP_0_9_1, AMQP_1_0, Dialect
from explorer.ui.app import ExplorerApp
from explorer.ui.connections import live, live_source
from tests.ui.conftest import running

URL = "amqp://learner:s3cret@127.0.0.1:9/"


@pytest.mark.parametrize("dialect", [AMQP_0_9_1, AMQP_1_0], ids=lambda d: d.key)
async def test_the_source_stays_the_client_s_url_after_c(dialect: Dialect) -> None:
    source = live_source(URL, dialect)
    assert "s3cret" not in source
    app = ExplorerApp(live(URL, dialect=dialect), source=source, url=URL)
    async with running(app) as pilot:
        await pilot.press("c")  # race the clock: a new connection
        await pilot.pause()
        assert app.race
        assert app.source == source
        await app.connections.plain_lifecycle()  # as back from an experiment
        assert app.source == source
        assert app.stepper.dialect is dialect
        assert source in app.sub_title


def test_each_client_s_spelling() -> None:
    # Each is handed its own spelling of the URL (defaults written out), never
    # the URL as typed (what redact(url) names).
    assert live_source(URL, AMQP_0_9_1) == (
        "amqp://learner:***@127.0.0.1:9/%2F?heartbeat=60&auth=plain"
    )
    assert live_source(URL, AMQP_1_0).endswith("?heartbeat=2")
    assert live_source(URL, AMQP_1_0) != live_source(URL, AMQP_0_9_1)
