"""HexView: hexdump -C layout, field colours, selection, clicks, big bodies,
a height that follows the frame, and reports instead of bytes."""

from __future__ import annotations

import struct
import time

from explorer.engine.events import PhaseReport
from explorer.protocol import Direction, Frame, FrameDecoder
from explorer.protocol.lifecycle import Phase
from explorer.ui.widgets import HexView
from explorer.ui.widgets.hexdump import (
    WIDE,
    ascii_start,
    byte_at_column,
    dump_line,
    hex_column,
)
from tests.ui.conftest import HexApp, PaneApp, heartbeats, named, style_at

TCP_REPORT = PhaseReport(
    Phase.TCP,
    {"local": "127.0.0.1:41236", "remote": "127.0.0.1:5672"},
    (
        "One TCP connection from 127.0.0.1:41236 to 127.0.0.1:5672; it stays open "
        "for the whole life of the AMQP connection.",
        "Each connection costs one open file.",
    ),
)

ASCII_START = ascii_start(WIDE)

BODY_SIZE = 131_072


def body_frame(size: int) -> Frame:
    """A content body frame on channel 1 carrying `size` bytes."""
    body = bytes(range(256)) * (size // 256)
    raw = struct.pack(">BHI", 3, 1, size) + body + b"\xce"
    (frame,) = FrameDecoder(Direction.CLIENT_TO_BROKER).feed(raw)
    assert isinstance(frame, Frame)
    return frame


def test_columns_map_to_bytes_both_ways() -> None:
    for index in range(16):
        assert byte_at_column(hex_column(index)) == index
        assert byte_at_column(hex_column(index) + 1) == index
        assert byte_at_column(ASCII_START + index) == index
    assert byte_at_column(hex_column(7) + 2) is None
    assert byte_at_column(0) is None


async def test_lines_follow_hexdump_c(happy: list[Frame]) -> None:
    tune = named(happy, "Connection.Tune")
    async with HexApp(tune).run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        hex_view = pilot.app.query_one(HexView)
        lines = [hex_view.render_line(y).text.rstrip() for y in range(3)]
        assert lines == [
            "00000000  01 00 00 00 00 00 0c 00  0a 00 1e 07 ff 00 02 00  "
            "|................|",
            "00000010  00 00 3c ce                                       |..<.|",
            "00000014",
        ]


async def test_field_kinds_have_their_own_colours(happy: list[Frame]) -> None:
    tune = named(happy, "Connection.Tune")
    async with HexApp(tune).run_test(size=(120, 40)) as pilot:
        hex_view = pilot.app.query_one(HexView)
        hex_view.cursor = 19  # the cursor has a colour of its own
        await pilot.pause()
        line = hex_view.render_line(0)
        framing = style_at(line, hex_column(0))  # frame type
        method = style_at(line, hex_column(7))  # class id
        value = style_at(line, hex_column(13))  # frame_max
        assert framing.color != value.color
        assert len({framing.color, method.color, value.color}) == 3
        assert style_at(line, hex_column(1)).color == framing.color


async def test_clicking_a_byte_reports_its_offset(happy: list[Frame]) -> None:
    tune = named(happy, "Connection.Tune")
    app = HexApp(tune)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert await pilot.click(HexView, offset=(hex_column(13) + 1, 0))
        assert await pilot.click(HexView, offset=(ASCII_START + 2, 1))
        assert await pilot.click(HexView, offset=(ASCII_START + 8, 1))  # past the end
        assert app.clicked == [13, 18]
        assert app.query_one(HexView).cursor == 18


async def test_keys_move_the_byte_cursor(happy: list[Frame]) -> None:
    tune = named(happy, "Connection.Tune")
    app = HexApp(tune)
    async with app.run_test(size=(120, 40)) as pilot:
        app.query_one(HexView).focus()
        await pilot.press("right", "right", "down", "left", "up", "up", "down")
        assert app.clicked == [1, 2, 18, 17, 1, 0, 16]


async def test_selection_highlights_exactly_the_selected_bytes(
    happy: list[Frame],
) -> None:
    tune = named(happy, "Connection.Tune")
    async with HexApp(tune).run_test(size=(120, 40)) as pilot:
        hex_view = pilot.app.query_one(HexView)
        hex_view.cursor = 19  # keep the cursor away from the span
        hex_view.selected = (13, 4)  # frame_max
        await pilot.pause()
        for offset in range(tune.size):
            line = hex_view.render_line(offset // 16)
            index = offset % 16
            marked = 13 <= offset < 17
            assert bool(style_at(line, hex_column(index)).reverse) is marked
            assert bool(style_at(line, hex_column(index) + 1).reverse) is marked
            assert bool(style_at(line, ASCII_START + index).reverse) is marked
        hex_view.selected = None
        await pilot.pause()
        assert not style_at(hex_view.render_line(0), hex_column(13)).reverse


async def test_a_128_kib_body_renders_lazily() -> None:
    frame = body_frame(BODY_SIZE)
    async with HexApp(frame).run_test(size=(120, 40)) as pilot:
        hex_view = pilot.app.query_one(HexView)
        await pilot.pause()
        started = time.perf_counter()
        hex_view.show(frame)
        lines = [hex_view.render_line(y) for y in range(hex_view.size.height)]
        shown = time.perf_counter() - started
        await pilot.pause()
        painted = time.perf_counter() - started
        # Measured on the 2-core dev machine (not asserted: no timed tests):
        # show() 0.4 ms, building the 40 visible lines ~12 ms (Pygments' lexer
        # most of it), ~40 ms with the repaint (one pilot pause, ~21 ms of
        # which an empty pause costs). Only visible lines are ever built.
        print(  # noqa: T201
            f"\n131,072-byte body: shown in {shown * 1000:.1f} ms, "
            f"painted in {painted * 1000:.1f} ms"
        )
        assert lines[0].text.startswith("00000000  03 00 01 00 02 00 00 00")
        assert hex_view.virtual_size.height == (BODY_SIZE + 8 + 15) // 16 + 1
        hex_view.scroll_end(animate=False)
        await pilot.pause()
        last = hex_view.render_line(hex_view.size.height - 1).text.rstrip()
        assert last == f"{frame.size:08x}"


def test_narrow_lines_hold_eight_bytes() -> None:
    assert (
        dump_line(0, bytes(range(8)), 8)
        == "00000000  00 01 02 03 04 05 06 07  |........|"
    )
    assert byte_at_column(ascii_start(8) + 3, 8) == 3
    assert byte_at_column(hex_column(7), 8) == 7
    assert byte_at_column(hex_column(8), 8) is None


async def test_the_pane_is_as_tall_as_the_frame_needs(happy: list[Frame]) -> None:
    async with PaneApp(HexView).run_test(size=(120, 40)) as pilot:
        hex_view = pilot.app.query_one(HexView)
        top = pilot.app.query_one("#top")
        heights = []
        for frame in (heartbeats(1)[0], named(happy, "Connection.Tune")):
            hex_view.show(frame)
            await pilot.pause()
            heights.append((hex_view.size.height, top.size.height))
        # 8 bytes: one line and the offset line; 20 bytes: two and the offset.
        assert heights == [(2, 38), (3, 37)]
        assert not hex_view.show_vertical_scrollbar

        frame = body_frame(BODY_SIZE)
        hex_view.show(frame)
        await pilot.pause()
        assert (hex_view.outer_size.height, top.size.height) == (20, 20)
        assert hex_view.show_vertical_scrollbar
        hex_view.scroll_end(animate=False)
        await pilot.pause()
        last = hex_view.render_line(hex_view.size.height - 1).text.rstrip()
        assert last == f"{frame.size:08x}"

        hex_view.show_report(TCP_REPORT)
        await pilot.pause()
        assert hex_view.size.height == hex_view.virtual_size.height < 20


async def test_a_report_says_why_it_has_no_bytes_then_its_notes(
    happy: list[Frame],
) -> None:
    tune = named(happy, "Connection.Tune")
    app = HexApp(tune)
    async with app.run_test(size=(60, 20)) as pilot:
        hex_view = app.query_one(HexView)
        hex_view.show_report(TCP_REPORT)
        await pilot.pause()
        assert (hex_view.frame, hex_view.report) == (None, TCP_REPORT)
        lines = [hex_view.render_line(y).text.rstrip() for y in range(7)]
        assert lines == [
            "No AMQP bytes in this phase: it happens below AMQP, on the",
            "socket (TCP). Its report:",
            "",
            "• One TCP connection from 127.0.0.1:41236 to 127.0.0.1:5672;",
            "  it stays open for the whole life of the AMQP connection.",
            "• Each connection costs one open file.",
            "",
        ]
        assert hex_view.virtual_size.height == 6
        await pilot.resize_terminal(100, 20)  # 16 bytes a line fit: text rewraps
        await pilot.pause()
        assert hex_view.per_line == WIDE
        assert hex_view.virtual_size.height == 5
        await pilot.resize_terminal(60, 20)
        await pilot.pause()
        hex_view.focus()
        await pilot.press("right", "down")
        assert await pilot.click(HexView, offset=(hex_column(1), 0))
        assert app.clicked == []  # no bytes to pick

        hex_view.show(tune)
        await pilot.pause()
        assert hex_view.report is None
        assert hex_view.render_line(0).text.startswith("00000000  01 00 00")


async def test_a_report_of_a_phase_with_frames_points_at_them() -> None:
    report = PhaseReport(Phase.OPEN, {"vhost": "/"})
    async with HexApp(body_frame(256)).run_test(size=(100, 20)) as pilot:
        hex_view = pilot.app.query_one(HexView)
        hex_view.show_report(report)
        await pilot.pause()
        assert hex_view.render_line(0).text.rstrip() == (
            "No bytes on this row: it says what the phase established; its frames "
            "are the rows around it."
        )
