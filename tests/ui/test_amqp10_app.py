"""The explorer app showing an AMQP 1.0 connection: a recording, and the live
RabbitMQ 4.0.5 broker (issue 15)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.app import App, ComposeResult

from explorer.protocol import Direction, Frame
from explorer.protocol.amqp10.report import auth_facts, open_facts
from explorer.protocol.bytemap import byte_map
from explorer.protocol.dialect import AMQP_1_0
from explorer.protocol.fields import shown
from explorer.protocol.lifecycle import Phase
from explorer.ui.app import ExplorerApp, live, replay
from explorer.ui.widgets import FieldTree
from explorer.ui.widgets.field_tree import field_label
from explorer.ui.widgets.frame_list import FrameList
from explorer.ui.widgets.labels import frame_row, refused
from explorer.ui.widgets.panels import AuthPanel, NegotiationPanel
from explorer.ui.widgets.phase_rail import PhaseRail
from tests.conftest import User, answering, capture_frames
from tests.integration.test_amqp10_bytes import BROKER4, HOST, PORT, throwaway_user
from tests.ui.conftest import running, select_frame, step

CAPTURE = Path(__file__).parents[1] / "captures" / "amqp10" / "lifecycle.jsonl"
C2B, B2C = Direction.CLIENT_TO_BROKER, Direction.BROKER_TO_CLIENT


@pytest.fixture
def user4(request: pytest.FixtureRequest) -> Iterator[User]:
    """A throwaway user on RabbitMQ 4.0.5 (skipped without the broker)."""
    answering(BROKER4, request)
    yield from throwaway_user()


@pytest.fixture
def frames() -> list[Frame]:
    """The recorded 1.0 lifecycle's frames, in wire order."""
    return capture_frames("amqp10/lifecycle")


def text_of(app: App[Any], widget: type[NegotiationPanel | AuthPanel]) -> str:
    """What a panel shows, as plain text."""
    panel = app.query_one(widget)
    return "\n".join(
        strip.text for strip in panel.render_lines(panel.region.reset_offset)
    )


def first(frames: list[Frame], direction: Direction, name: str) -> Frame:
    return next(f for f in frames if (f.direction, f.name) == (direction, name))


def test_field_labels_read_the_type_system(frames: list[Frame]) -> None:
    broker_open = byte_map(first(frames, B2C, "open"))
    performative = broker_open.children[4]
    descriptor, fields = performative.children
    assert field_label(descriptor.children[0]).plain == (
        "constructor  described  0x00  @8+1"
    )
    assert field_label(descriptor).plain == "descriptor  ulong  0x10  @8+3"
    assert field_label(fields.children[0]).plain == "constructor  list32  0xd0  @11+1"
    assert field_label(fields).plain == "fields  list  10 fields  @11+350"
    by_name = {child.name: child for child in fields.children}
    assert field_label(by_name["hostname"]).plain == "hostname  null  null  @32+1"
    assert "2 elements" in field_label(by_name["offered-capabilities"]).plain
    assert "7 entries" in field_label(by_name["properties"]).plain
    assert '"rabbit4@vm"' in field_label(by_name["container-id"]).plain
    transfer = byte_map(first(frames, B2C, "transfer"))
    settled = next(
        c for c in transfer.children[4].children[1].children if c.name == "settled"
    )
    assert field_label(settled).plain == "settled  boolean  false  @24+1"


def test_rows_name_the_performatives_and_what_they_carry(
    frames: list[Frame],
) -> None:
    rows = [frame_row(f, 0.0, 60).name.strip() for f in frames]
    assert "sasl-init PLAIN" in rows
    assert "sasl-outcome code 0 (ok)" in rows
    assert any(r.startswith("attach sender /queues/") for r in rows)
    assert any(r.startswith("attach receiver /queues/") for r in rows)
    assert "♥ heartbeat" in rows
    assert not any(refused(f) for f in frames)


class PanelApp(App[None]):
    """The two panels, filled from the recorded 1.0 handshake's reports."""

    def __init__(self, frames: list[Frame]) -> None:
        super().__init__()
        self.frames = frames

    def compose(self) -> ComposeResult:
        yield NegotiationPanel()
        yield AuthPanel()

    def on_mount(self) -> None:
        self.query_one(NegotiationPanel).clear(AMQP_1_0)
        self.query_one(AuthPanel).clear(AMQP_1_0)


async def test_panels_show_the_opens_and_the_sasl_exchange(
    frames: list[Frame],
) -> None:
    app = PanelApp(frames)
    async with app.run_test(size=(60, 30)) as pilot:
        assert "the two opens not on the wire yet" in text_of(app, NegotiationPanel)
        assert "sasl-init not on the wire yet" in text_of(app, AuthPanel)
        facts, _ = open_facts(first(frames, C2B, "open"), first(frames, B2C, "open"))
        app.query_one(NegotiationPanel).show(facts)
        init = first(frames, C2B, "sasl-init")
        said, _ = auth_facts(
            first(frames, B2C, "sasl-mechanisms"),
            init,
            first(frames, B2C, "sasl-outcome"),
            reveal=False,
        )
        app.query_one(AuthPanel).show(said, init)
        await pilot.pause()
        negotiation = text_of(app, NegotiationPanel).split()
        for name, client, broker in (
            ("max-frame-size", "32768", "131072"),
            ("channel-max", "32767", "63"),
            ("idle-time-out", "1000", "30000"),
        ):
            at = negotiation.index(name)
            assert negotiation[at + 1 : at + 3] == [client, broker]
        assert "holds" in negotiation
        auth = text_of(app, AuthPanel)
        assert "PLAIN AMQPLAIN ANONYMOUS" in auth
        assert "user     explorer-a10-" in auth
        assert "password ***" in auth
        assert "sasl-outcome code 0 (ok)" in auth


async def test_the_recording_steps_to_close_and_shows_every_performative(
    frames: list[Frame],
) -> None:
    app = ExplorerApp(replay(CAPTURE), source="amqp10")
    async with running(app) as pilot:
        rail = app.query_one(PhaseRail)
        assert "the two opens not on the wire yet" in text_of(app, NegotiationPanel)
        while Phase.OPEN not in rail.happened:
            await step(app, pilot)
        assert "max-frame-size" in text_of(app, NegotiationPanel)
        assert "password ***" in text_of(app, AuthPanel)
        while not app.stepper.finished:
            await step(app, pilot)
        assert rail.plan == app.stepper.plan
        assert rail.plan[0] is Phase.HEADER  # a bare capture: no socket phases
        assert rail.plan[-1] is Phase.CLOSE
        assert Phase.START not in rail.plan
        assert Phase.TUNE not in rail.plan
        # Numbered among 1.0's 11 phases: endpoint, resolve, tcp, tls, header ...
        assert [rail.number(p) for p in (Phase.HEADER, Phase.AUTH, Phase.OPEN)] == [
            5,
            6,
            7,
        ]
        assert rail.position == "■ 11/11 close: ended"
        assert set(rail.states.values()) == {"done"}
        listed = app.query_one(FrameList)
        names = [i.name for i in listed.items if isinstance(i, Frame)]
        assert names == [f.name for f in frames]
        init = await select_frame(app, pilot, "sasl-init")
        tree = app.query_one(FieldTree)
        tree.select_offset(23)  # the first byte of initial-response's value
        await pilot.pause()
        assert tree.cursor_node is not None
        response = str(tree.cursor_node.label)
        assert response.startswith("value  binary")
        assert "\\x00explorer-a10-" in response
        assert "***" in response
        root = tree.root.data
        assert root is not None
        covered = [i for leaf in root.leaves() for i in range(leaf.offset, leaf.end)]
        assert covered == list(range(len(init.raw)))
        assert shown(init).raw == init.raw  # a recording holds the mask already


@pytest.mark.broker
async def test_live_1_0_every_phase_to_close_at_the_learners_pace(
    user4: User,
) -> None:
    url = f"amqp://{user4.name}:{user4.password}@{HOST}:{PORT}/"
    app = ExplorerApp(live(url, dialect=AMQP_1_0), source="live 1.0", url=url)
    async with running(app) as pilot:
        rail = app.query_one(PhaseRail)
        assert app.stepper.dialect is AMQP_1_0
        while not app.stepper.finished:
            await step(app, pilot)
        assert rail.plan == list(AMQP_1_0.plan_for(False))
        assert [p for p in rail.plan if rail.states.get(p) == "done"] == rail.plan
        listed = app.query_one(FrameList)
        names = [i.name for i in listed.items if isinstance(i, Frame)]
        spoken = [n for n in names if n != "heartbeat"]
        assert spoken[:5] == [
            "sasl-header",
            "sasl-header",
            "sasl-mechanisms",
            "sasl-init",
            "sasl-outcome",
        ]
        for name in ("begin", "attach", "flow", "transfer", "disposition", "detach"):
            assert name in spoken
        assert spoken[-4:] == ["end", "end", "close", "close"]
        negotiation = text_of(app, NegotiationPanel).split()
        at = negotiation.index("channel-max")
        assert negotiation[at + 2] == "63"  # RabbitMQ 4.0.5's channel-max
        auth = text_of(app, AuthPanel)
        assert "password ***" in auth
        assert user4.password not in auth
        app.action_reveal()
        assert user4.password in text_of(app, AuthPanel)
        app.action_reveal()
        assert user4.password not in app.export_screenshot()
        assert rail.position == "■ 11/11 close: ended"


async def test_no_broker_for_1_0_offers_the_bundled_1_0_recording() -> None:
    # Port 9 (discard) is closed here: the tcp phase fails, no AMQP is spoken.
    url = "amqp://guest:guest@127.0.0.1:9/"
    app = ExplorerApp(live(url, dialect=AMQP_1_0), source=url, url=url)
    async with running(app) as pilot:
        while not app.stepper.finished:
            await step(app, pilot)
        offers = [n.message for n in app.notifications if "No broker" in n.message]
        assert offers
        assert "bundled AMQP 1.0 recording" in offers[0]
