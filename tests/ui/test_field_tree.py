"""FieldTree: labels, bits, finding the field that holds a byte, reports, height.

And big lazy groups (a table of hundreds of entries, a run of flag words): read
only when opened, then a page at a time.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from textual.widgets.tree import TreeNode

from explorer.protocol import ByteField, Direction, Frame, FrameDecoder, byte_map
from explorer.protocol.lifecycle import Phase
from explorer.protocol.walker import Walker
from explorer.ui.widgets import FieldTree
from explorer.ui.widgets.field_tree import PAGE
from tests.conftest import content_header, entry, longstr, start_with
from tests.ui.conftest import (
    PaneApp,
    TreeApp,
    heartbeats,
    named,
    recorded_reports,
)


def labels(tree: FieldTree) -> list[str]:
    return [str(child.label) for child in tree.root.children]


def below(node: TreeNode[ByteField]) -> Iterator[TreeNode[ByteField]]:
    """Every node under `node`, depth first."""
    for child in node.children:
        yield child
        yield from below(child)


def children_of(node: TreeNode[ByteField], label: str) -> list[str]:
    """The labels under the first node below `node` labelled `label`."""
    found = next(n for n in below(node) if str(n.label) == label)
    return [str(child.label) for child in found.children]


async def test_labels_give_name_type_value_and_place(happy: list[Frame]) -> None:
    start = named(happy, "Connection.Start")
    async with TreeApp(start).run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        tree = pilot.app.query_one(FieldTree)
        assert str(tree.root.label) == "Connection.Start  frame  @0+504"
        shown = labels(tree)
        assert shown[:3] == [
            "frame type  octet  1  @0+1",
            "channel  short  0  @1+2",
            "size  long  496  @3+4",
        ]
        mechanisms = next(label for label in shown if label.startswith("mechanisms"))
        assert mechanisms == 'mechanisms  longstr  "PLAIN AMQPLAIN"  @476+18'
        properties = next(label for label in shown if label.startswith("server_prop"))
        assert properties.split("  ")[1:3] == ["table", "7 entries"]


async def test_packed_bits_are_listed_with_their_values(happy: list[Frame]) -> None:
    declare = named(happy, "Queue.Declare")
    async with TreeApp(declare).run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        tree = pilot.app.query_one(FieldTree)
        octet = next(n for n in tree.root.children if n.data and n.data.bits)
        assert octet.data is not None
        assert str(octet.label).startswith("passive durable exclusive auto_delete")
        assert [str(bit.label).split()[:2] for bit in octet.children] == [
            [name, str(int(value))] for name, value in octet.data.bits
        ]
        assert all(bit.data is octet.data for bit in octet.children)


async def test_values_carry_the_notes_the_spec_reading_gives() -> None:
    table = (
        entry("d", bytes.fromhex("44 01 ff ff ff f1"))
        + entry("t", b"T" + (1700000000).to_bytes(8, "big"))
        + entry("k", b"S" + longstr(b"all"))
        + entry("k", b"S" + longstr(b"any"))
    )
    async with TreeApp(start_with(longstr(table))).run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        tree = pilot.app.query_one(FieldTree)
        assert children_of(
            tree.root, "server_properties  table  4 entries  @13+43"
        ) == [
            "length  long  39  @13+4",
            "d  decimal  429496728.1 — as a signed mantissa, which pika, py-amqp and "
            "pamqp (aiormq) write: -1.5  @17+8",
            "t  timestamp  1700000000 — 2023-11-14T22:13:20Z (UTC; the spec counts "
            "seconds)  @25+11",
            'k  longstr  "all"  @36+10',
            'k  longstr  "any"  — repeats the key of entry 3: the spec says a peer '
            "uses only the first, as RabbitMQ does; pika and pamqp (aiormq) keep the "
            "last  @46+10",
        ]


async def test_select_offset_lands_on_frame_max_in_tune(happy: list[Frame]) -> None:
    tune = named(happy, "Connection.Tune")
    app = TreeApp(tune)
    async with app.run_test(size=(120, 40)) as pilot:
        tree = app.query_one(FieldTree)
        tree.select_offset(13)
        await pilot.pause()
        assert tree.cursor_node is not None
        assert tree.cursor_node.data is not None
        assert tree.cursor_node.data.name == "frame_max"
        assert (tree.cursor_node.data.offset, tree.cursor_node.data.length) == (13, 4)
        assert app.fields[-1] is tree.cursor_node.data


async def test_select_offset_expands_the_parents_of_a_nested_field(
    happy: list[Frame],
) -> None:
    start = named(happy, "Connection.Start")
    capabilities = next(
        entry for entry in byte_map(start).children if entry.name == "server_properties"
    ).children[1]
    offset = capabilities.end - 1  # the last byte of the nested table
    leaf = byte_map(start).path_to(offset)[-1]
    app = TreeApp(start)
    async with app.run_test(size=(120, 40)) as pilot:
        tree = app.query_one(FieldTree)
        tree.select_offset(offset)
        await pilot.pause()
        node = tree.cursor_node
        assert node is not None
        assert node.data == leaf
        parent = node.parent
        while parent is not None:
            assert parent.is_expanded
            parent = parent.parent
        assert app.fields[-1] == leaf


async def test_keys_report_the_field_under_the_cursor(happy: list[Frame]) -> None:
    tune = named(happy, "Connection.Tune")
    app = TreeApp(tune)
    async with app.run_test(size=(120, 40)) as pilot:
        tree = app.query_one(FieldTree)
        tree.focus()
        await pilot.press("down", "down")
        assert [field.name for field in app.fields[-2:]] == ["frame type", "channel"]
        assert tree.cursor_node is not None
        assert app.fields[-1] is tree.cursor_node.data


async def test_a_report_shows_its_facts_as_name_value_leaves(
    happy: list[Frame],
) -> None:
    reports = recorded_reports()
    app = TreeApp(named(happy, "Connection.Tune"))
    async with app.run_test(size=(120, 40)) as pilot:
        tree = app.query_one(FieldTree)
        tree.show_report(reports[Phase.TCP])
        await pilot.pause()
        assert str(tree.root.label) == "tcp report"
        assert labels(tree)[0] == "attempts"
        facts = reports[Phase.TCP].facts
        attempts = facts["attempts"]
        assert isinstance(attempts, list)
        first = attempts[0]
        assert isinstance(first, dict)
        assert children_of(tree.root, "#1") == [
            "address: 127.0.0.1:5672",
            "outcome: connected",
            f"ms: {first['ms']}",
        ]
        assert labels(tree)[1:] == [
            f"local: {facts['local']}",
            "remote: 127.0.0.1:5672",
            f"connect_ms: {facts['connect_ms']}",
            f"open_files_soft_limit: {facts['open_files_soft_limit']}",
            f"open_files_hard_limit: {facts['open_files_hard_limit']}",
            f"open_files_held: {facts['open_files_held']}",
            f"pace: {facts['pace']}",
        ]
        assert all(node.is_expanded for node in below(tree.root) if node.children)

        tree.focus()
        await pilot.press("down", "down", "enter")
        tree.select_offset(0)
        await pilot.pause()
        assert app.fields == []  # a report has no bytes to point at


async def test_a_report_keeps_the_password_masked() -> None:
    endpoint = recorded_reports()[Phase.ENDPOINT]
    async with TreeApp(heartbeats(1)[0]).run_test(size=(120, 40)) as pilot:
        tree = pilot.app.query_one(FieldTree)
        tree.show_report(endpoint)
        await pilot.pause()
        assert labels(tree)[0] == (
            "url: amqp://guest:***@127.0.0.1:5672/%2F?heartbeat=2&auth=plain"
            "&name=amqp-explorer"
        )
        assert children_of(tree.root, "password") == [
            "value: ***",
            "from: url",
            "note: hidden; --reveal-secrets shows it",
        ]
        assert children_of(tree.root, "frame_max")[0] == "value: null"
        shown = [str(node.label) for node in below(tree.root)]
        assert not [label for label in shown if "guest:guest" in label]


async def test_the_tree_is_as_tall_as_its_open_lines(happy: list[Frame]) -> None:
    async with PaneApp(FieldTree).run_test(size=(120, 40)) as pilot:
        tree = pilot.app.query_one(FieldTree)
        top = pilot.app.query_one("#top")
        tree.show(heartbeats(1)[0])
        await pilot.pause()
        small = tree.size.height
        assert small == tree.virtual_size.height < 10
        assert top.size.height == 40 - small

        tree.show(named(happy, "Connection.Start"))
        for node in tree.root.children:
            node.expand_all()
        await pilot.pause()
        assert tree.outer_size.height == top.size.height == 20
        assert tree.show_vertical_scrollbar


def big_start(entries: int) -> Frame:
    """Connection.Start whose server_properties hold `entries` int8 entries."""
    table = b"".join(
        entry(f"k{i:04d}", b"b" + bytes([i % 100])) for i in range(entries)
    )
    return start_with(longstr(table))


def top(tree: FieldTree, name: str) -> TreeNode[ByteField]:
    return next(n for n in tree.root.children if n.data and n.data.name == name)


async def test_a_big_table_opens_a_page_at_a_time() -> None:
    assert PAGE == 100
    app = TreeApp(big_start(250))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        tree = app.query_one(FieldTree)
        table = top(tree, "server_properties")
        assert str(table.label).split("  ")[1:3] == ["table", "100+ entries"]
        assert table.allow_expand
        assert not table.children  # its parts wait for it to open

        table.expand()
        await pilot.pause()
        shown = [str(child.label) for child in table.children]
        assert len(shown) == PAGE + 1  # the length and 99 entries, then "more"
        assert shown[0].startswith("length  long")
        assert shown[1] == "k0000  int8  0  @17+8"
        assert shown[PAGE - 1].startswith("k0098  int8  98  @")
        assert shown[PAGE] == "… more: the next 100"
        assert table.children[1].children  # an entry's parts, ready to open

        tree.focus()
        tree.move_cursor(table.children[PAGE])
        await pilot.press("enter")
        shown = [str(child.label) for child in table.children]
        assert len(shown) == 2 * PAGE + 1
        assert shown[PAGE].startswith("k0099  int8  99  @")
        assert shown[-1] == "… 51 more"
        assert tree.cursor_node is table.children[PAGE]
        assert app.fields[-1] is table.children[PAGE].data

        tree.move_cursor(table.children[-1])
        await pilot.press("enter")
        shown = [str(child.label) for child in table.children]
        assert len(shown) == 251
        assert shown[-1].startswith("k0249  int8  49  @")
        assert not [label for label in shown if label.startswith("…")]


async def test_a_big_table_is_read_only_a_page_deep_until_opened(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read: list[int] = []
    table_entry = Walker._table_entry

    def counted(walker: Walker, pos: int, index: int) -> ByteField:
        read.append(index)
        return table_entry(walker, pos, index)

    monkeypatch.setattr(Walker, "_table_entry", counted)
    async with TreeApp(big_start(5_000)).run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert read == list(range(PAGE))  # to know there are more than PAGE
        top(pilot.app.query_one(FieldTree), "server_properties").expand()
        await pilot.pause()
        assert read == list(range(2 * PAGE))  # a page, and whether "more" is all


async def test_select_offset_adds_the_pages_before_the_field() -> None:
    frame = big_start(250)
    properties = next(
        f for f in byte_map(frame).children if f.name == "server_properties"
    )
    app = TreeApp(frame)
    async with app.run_test(size=(120, 40)) as pilot:
        tree = app.query_one(FieldTree)
        tree.select_offset(properties.end - 1)  # the last entry's value
        await pilot.pause()
        node = tree.cursor_node
        assert node is not None
        assert node.data is not None
        assert node.data.name == "value"
        assert node.parent is not None
        assert str(node.parent.label).startswith("k0249  int8  49  @")
        assert app.fields[-1] is node.data


async def test_many_flag_words_wait_to_be_opened() -> None:
    (frame,) = FrameDecoder(Direction.BROKER_TO_CLIENT).feed(
        content_header([1] * 600 + [0], b"")
    )
    assert isinstance(frame, Frame)
    async with TreeApp(frame).run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        tree = pilot.app.query_one(FieldTree)
        words = top(tree, "more property flags")
        assert str(words.label) == "more property flags  short  @21+1200"
        assert not words.children
        words.expand()
        await pilot.pause()
        shown = [str(child.label) for child in words.children]
        assert shown[0] == "property flags  short  0000000000000001  @21+2"
        assert shown[PAGE:] == ["… more: the next 100"]
