"""Frames a hostile peer can send, shown by the field tree, the hex view and the app.

Tables nested hundreds of levels deep, a header table filling frame_max and
five property-flag words used to raise RecursionError in the byte map (the app
died) or to cost a tenth of a second per selection.
"""

from __future__ import annotations

from pathlib import Path

from pamqp import commands, header
from pamqp import frame as pamqp_frame

from explorer.protocol import Direction, FieldKind, Frame, FrameDecoder
from explorer.protocol.bytemap import MAX_NESTING
from explorer.protocol.stream import Chunk
from explorer.recording.capture import Capture, save
from explorer.ui.app import ExplorerApp, replay
from explorer.ui.widgets import FieldTree, HexView
from tests.conftest import content_header, nested, start_frame
from tests.ui.conftest import HexApp, TreeApp, running, select_frame, step

B2C = Direction.BROKER_TO_CLIENT
#: Deep enough to be cut at MAX_NESTING, shallow enough for pamqp to decode.
DEPTH = 300


def decoded(raw: bytes) -> Frame:
    (frame,) = FrameDecoder(B2C).feed(raw)
    assert isinstance(frame, Frame)
    return frame


def big_headers() -> Frame:
    headers = {f"h{i:06d}": i % 100 for i in range(13_100)}
    properties = commands.Basic.Properties(headers=headers)  # type: ignore[arg-type]
    return decoded(pamqp_frame.marshal(header.ContentHeader(0, 0, properties), 1))


def five_flag_words() -> Frame:
    flag = commands.Basic.Properties.flags["content_type"]
    return decoded(content_header([flag | 1, 1, 1, 1, 0], b"\x0atext/plain"))


async def test_the_field_tree_opens_down_to_the_deepest_byte() -> None:
    frame = decoded(start_frame(nested(DEPTH)))
    app = TreeApp(frame)
    async with app.run_test(size=(120, 40)) as pilot:
        tree = app.query_one(FieldTree)
        tree.select_offset(frame.size - 20)  # inside the innermost table
        await pilot.pause()
        node = tree.cursor_node
        assert node is not None
        assert node.data is not None
        assert node.data.kind is FieldKind.MALFORMED
        assert "nested too deep" in str(node.label)
        assert app.fields[-1] is node.data
        depth = 0
        while node.parent is not None:
            node, depth = node.parent, depth + 1
        assert MAX_NESTING < depth < 3 * MAX_NESTING


async def test_the_hex_view_paints_a_big_header_and_its_last_line() -> None:
    frame = big_headers()
    app = HexApp(frame)
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.query_one(HexView)
        await pilot.pause()
        assert view.render_line(0).text.startswith("00000000  02 00 01")
        view.cursor = frame.size - 1
        await pilot.pause()
        last = view.render_line(view.scrollable_content_region.height - 2).text
        assert last.rstrip().endswith("|")


async def test_the_field_tree_shows_every_flag_word() -> None:
    app = TreeApp(five_flag_words())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        tree = app.query_one(FieldTree)
        labels = [str(node.label) for node in tree.root.children]
        assert labels[6].startswith("property flags  short")
        assert labels[7].startswith("more property flags  short")
        assert labels[8] == 'content_type  shortstr  "text/plain"  @29+11'
        assert not [label for label in labels if "malformed" in label]


async def test_the_app_shows_a_hostile_start_and_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "hostile.jsonl"
    capture = Capture(url="amqp://guest:***@127.0.0.1:5672/", recorded="2026-12-01")
    capture.events = [
        Chunk(0.0, Direction.CLIENT_TO_BROKER, b"AMQP\x00\x00\x09\x01"),
        Chunk(0.001, B2C, start_frame(nested(DEPTH))),
    ]
    save(capture, path)
    app = ExplorerApp(replay(path), source=str(path))
    async with running(app) as pilot:
        for _ in range(3):
            await step(app, pilot)
        selected = await select_frame(app, pilot, "Connection.Start")
        app.query_one(FieldTree).select_offset(selected.size - 20)
        await pilot.pause()
        assert app.is_running
