"""Frame by frame: our decoder and byte map against tshark, and the known gaps.

For every frame of every connection, in each direction: the same number of
frames, then each Item of ours paired with tshark's at the same path (in
order, so a repeated key is paired entry by entry) and compared: value, type
tag meaning and the bytes covered. The decoder's values as shown
(explorer.protocol.fields.fields_of) are compared with tshark's too.

What tshark cannot show is listed in TSHARK_GAPS, by name and reason; a gap
is used only where tshark shows exactly that gap, and what it hides is checked
against the hand encoder's own record instead (see `against_intent`).
"""

from __future__ import annotations

import datetime
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from pamqp.header import ProtocolHeader

from explorer.protocol import DecodeFailure, Direction, Frame
from explorer.protocol.fields import fields_of
from tests.wirecheck.dissect import Dissection, TsharkFrame
from tests.wirecheck.items import DECIMAL_TEXT, TABLE, UNKNOWN, Item, same
from tests.wirecheck.items import shown as shown_value
from tests.wirecheck.ours import decode, items_of

#: What tshark 4.0.17 (Debian 12) does not show, by name: each is used only
#: where tshark shows exactly this, never to pass over a difference.
TSHARK_GAPS: Final[dict[str, str]] = {
    "protocol-header": (
        "tshark gives the 8-byte protocol header no AMQP fields in PDML (nor "
        "'amqp' in frame.protocols); checked instead: its Protocol column says "
        "AMQP, its Info column 'AMQP (unknown version)', and the packet's TCP "
        "payload is our header's 8 bytes at the stream's start"
    ),
    "frame-end": ("tshark shows no field for the frame-end octet; ours must be 0xCE"),
    "L-tag": (
        "tshark does not know the 'L' tag (the 0-9-1 grammar's long-long-int, "
        "signed 64 bits; RabbitMQ reads 'l' and 'L' alike): it shows 'unknown "
        "type 4c (L)' and stops reading that table; the entry's value is "
        "checked against the hand encoder's record"
    ),
    "U-tag": (
        "tshark does not know the 'U' tag (the 0-9-1 grammar's short-int, "
        "signed 16 bits, which RabbitMQ writes as 's'): it shows 'unknown type "
        "55 (U)' and stops reading that table; the value is checked against "
        "the hand encoder's record"
    ),
    "flag-words": (
        "tshark reads one property-flags word and ignores its continuation "
        "bit (bit 0), so a content header with more words is misread from "
        "the second word on; its first word is compared, the properties are "
        "checked against the hand encoder's record"
    ),
}
UNKNOWN_TAG_GAPS: Final = {"L": "L-tag", "U": "U-tag"}
FRAME_END: Final = 0xCE


@dataclass
class Check:
    """What one comparison found."""

    #: One line per difference: where, ours, tshark's (or the encoder's).
    disagreements: list[str] = field(default_factory=list)
    #: Gap name to the places it was used.
    gaps: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    frames: int = 0
    #: Items compared (byte map against tshark, including table entries).
    fields: int = 0
    #: Values of the decoder's shown fields compared.
    shown: int = 0
    #: Items compared with the hand encoder's record of what it wrote.
    intent: int = 0

    def add(self, other: Check) -> None:
        """Count another comparison's findings in this one."""
        self.disagreements += other.disagreements
        for name, where in other.gaps.items():
            self.gaps[name] += where
        self.frames += other.frames
        self.fields += other.fields
        self.shown += other.shown
        self.intent += other.intent

    def used(self) -> set[str]:
        """The names of the gaps that were used."""
        return {name for name, where in self.gaps.items() if where}

    def report(self) -> str:
        """The disagreements, one per line, for an assertion message."""
        return "\n".join(self.disagreements)


def connection(
    dissection: Dissection, client_port: int, chunks: dict[Direction, list[bytes]]
) -> tuple[Check, dict[Direction, list[Frame]]]:
    """Compare both directions of one connection; return our frames too.

    Args:
        dissection: tshark's reading of the pcap.
        client_port: The connection's client port.
        chunks: Each direction's bytes, as the TCP segments brought them.
    """
    check = Check()
    frames: dict[Direction, list[Frame]] = {}
    for direction, pieces in chunks.items():
        decoded = decode(pieces, direction)
        where = f"port {client_port} {direction.sender}"
        failures = [d for d in decoded if isinstance(d, DecodeFailure)]
        check.disagreements += [
            f"{where}: our decoder stopped at offset {f.offset}: {f.reason}"
            for f in failures
        ]
        ours = [d for d in decoded if isinstance(d, Frame)]
        frames[direction] = ours
        if ours and isinstance(ours[0].payload, ProtocolHeader):
            check.add(_protocol_header(dissection, client_port, direction, ours[0]))
            ours = ours[1:]
        theirs = dissection.of(client_port, direction)
        if len(ours) != len(theirs) and not failures:
            check.disagreements.append(
                f"{where}: we decode {len(ours)} frames, tshark {len(theirs)}"
            )
        for index, (mine, its) in enumerate(zip(ours, theirs, strict=False)):
            label = f"{where} frame {index + 1} {mine.name} (packet {its.packet})"
            check.add(frame(mine, its, label))
    return check, frames


def frame(ours: Frame, theirs: TsharkFrame, label: str) -> Check:
    """Compare one frame: byte map Items, then the decoder's shown values."""
    check = Check(frames=1)
    mine, its = items_of(ours), list(theirs.items)
    misread = any(i.path.startswith("header.property_flags[") for i in mine)
    mine, its = _flag_words(mine, its, label, check)
    mine, its = _unknown_tags(mine, its, label, check)
    pending: dict[str, deque[Item]] = defaultdict(deque)
    for item in mine:
        pending[item.path].append(item)
    for item in its:
        if not pending[item.path]:
            check.disagreements.append(
                f"{label}: {item.path}: tshark {item.describe()}, ours has none"
            )
            continue
        check.fields += 1
        problem = _differs(pending[item.path].popleft(), item)
        if problem:
            check.disagreements.append(f"{label}: {item.path}: {problem}")
    for left in pending.values():
        for item in left:
            if item.path == "frame.end" and item.value == FRAME_END:
                check.gaps["frame-end"].append(label)
                continue
            check.disagreements.append(
                f"{label}: {item.path}: ours {item.describe()}, tshark has none"
            )
    check.add(_shown(ours, list(theirs.items), label, properties=not misread))
    return check


def _differs(ours: Item, theirs: Item) -> str:
    """Why two Items at the same path disagree ("" when they agree)."""
    got = theirs.span
    if theirs.type != ours.type and TABLE not in (ours.type, theirs.type):
        return f"type: ours {ours.describe()}, tshark {theirs.describe()}"
    if not same(ours.value, theirs.value):
        return f"value: ours {ours.describe()}, tshark {theirs.describe()}"
    # tshark covers a string either with its length prefix or without it
    if got is not None and got not in (ours.span, ours.whole):
        return f"bytes: ours {ours.span} or {ours.whole}, tshark {got}"
    return ""


def _flag_words(
    mine: list[Item], its: list[Item], label: str, check: Check
) -> tuple[list[Item], list[Item]]:
    """The flag-words gap: a header with more than one property-flags word."""
    if not any(i.path.startswith("header.property_flags[") for i in mine):
        return mine, its
    check.gaps["flag-words"].append(label)
    kept = [i for i in mine if not i.path.startswith(("properties.", "header.prop"))]
    first = [i for i in mine if i.path == "header.property_flags"]
    misread = ("properties.", "tshark:", "header.property_flags")
    shown = [i for i in its if i.path == "header.property_flags"]
    if [i.value for i in first] != [i.value for i in shown]:
        check.disagreements.append(
            f"{label}: header.property_flags: ours {[i.value for i in first]}, "
            f"tshark {[i.value for i in shown]}"
        )
    return kept, [i for i in its if not i.path.startswith(misread)]


def _unknown_tags(
    mine: list[Item], its: list[Item], label: str, check: Check
) -> tuple[list[Item], list[Item]]:
    """The L-tag and U-tag gaps: tshark stops a table at a tag it does not know."""
    for unknown in [i for i in its if i.type == UNKNOWN]:
        gap = UNKNOWN_TAG_GAPS.get(unknown.tag)
        at = next((i for i in mine if i.path == unknown.path), None)
        if gap is None or at is None or at.tag != unknown.tag or unknown.span is None:
            continue  # not a known gap: the pairing reports it
        if at.span is None or at.span[0] != unknown.span[0]:
            continue
        check.gaps[gap].append(f"{label}: {unknown.path}")
        prefix = unknown.parent
        index = mine.index(at)
        rest = index + 1
        while rest < len(mine) and mine[rest].path.startswith(
            (f"{prefix}.", f"{prefix}[")
        ):
            rest += 1
        mine = mine[:index] + mine[rest:]
        its = [
            i
            for i in its
            if i is not unknown
            and not (i.path.startswith("tshark:") and i.parent == prefix)
        ]
    return mine, its


def _protocol_header(
    dissection: Dissection, client_port: int, direction: Direction, ours: Frame
) -> Check:
    """The protocol-header gap: tshark marks the packet, with no fields."""
    check = Check(frames=1)
    label = f"port {client_port} {direction.sender} protocol header"
    packets = [
        p
        for p in dissection.packets
        if p.client_port == client_port and p.direction is direction and p.length
    ]
    first = packets[0] if packets else None
    if first is None or first.seq != 1 or not first.payload.startswith(ours.raw):
        check.disagreements.append(
            f"{label}: tshark has no packet starting {ours.raw!r}"
        )
    elif first.protocol != "AMQP" or not first.info.startswith("AMQP"):
        check.disagreements.append(
            f"{label}: tshark calls it {first.protocol} {first.info!r}"
        )
    else:
        check.gaps["protocol-header"].append(label)
        check.fields += 1
    return check


def _shown(ours: Frame, its: list[Item], label: str, properties: bool) -> Check:
    """The decoder's values as shown (fields_of) against tshark's Items.

    A table shown as a JSON object holds each key once: it is compared with
    the first entry of that key (the byte map was compared entry by entry).
    With the flag-words gap (`properties` false) tshark misread the
    properties: only body_size is compared.
    """
    check = Check()
    shown = fields_of(ours)
    top = [i for i in its if i.path.count(".") == 1 and not i.parent]
    top_level = properties
    if not top_level:
        top = [i for i in top if not i.path.startswith("properties.")]
    if any(i.path == "header.body_size" for i in its):
        shown_properties = shown.get("properties")
        if not isinstance(shown_properties, dict):
            check.disagreements.append(
                f"{label}: shown properties: {shown_properties!r}"
            )
            return check
        named = [i for i in top if i.path.startswith("properties.")]
        names = [i.path.partition(".")[2] for i in named]
        if top_level and sorted(shown_properties) != sorted(names):
            check.disagreements.append(
                f"{label}: shown properties {sorted(shown_properties)}, "
                f"tshark {sorted(names)}"
            )
        values: dict[str, object] = dict(shown_properties)
        body_size = shown.get("body_size")
        tshark_size = next(i.value for i in its if i.path == "header.body_size")
        check.shown += 1
        if body_size != tshark_size:
            check.disagreements.append(
                f"{label}: shown body_size {body_size!r}, tshark {tshark_size!r}"
            )
    elif any(i.path == "body" for i in its):
        data = next(i.value for i in its if i.path == "body")
        check.shown += 1
        if not isinstance(data, bytes) or shown.get("size") != len(data):
            check.disagreements.append(f"{label}: shown size {shown.get('size')!r}")
        return check
    else:
        named = [i for i in top if i.path.startswith("arguments.")]
        values = dict(shown)
    for item in named:
        name = item.path.partition(".")[2]
        if name not in values:
            check.disagreements.append(f"{label}: shown fields lack {name}")
            continue
        problem = _shown_differs(values[name], item, its)
        if problem and name == "response":  # a password: never printed
            problem = "differs (a SASL response, not printed)"
        check.shown += 1
        if problem:
            check.disagreements.append(f"{label}: shown {item.path}: {problem}")
    return check


def _shown_differs(value: object, item: Item, its: list[Item]) -> str:
    """Why a shown JSON value is not tshark's Item ("" when it is)."""
    if item.type == UNKNOWN:  # a known gap: checked against the encoder
        return ""
    if item.type in (TABLE, "field table"):
        if not isinstance(value, dict):
            return f"ours {value!r}, tshark a table"
        entries = [i for i in its if i.parent == item.path]
        if any(i.type == UNKNOWN for i in entries):
            entries = entries[: [i.type for i in entries].index(UNKNOWN)]
            value = {k: v for k, v in value.items() if k in {_key(i) for i in entries}}
        first: dict[str, Item] = {}
        for entry in entries:
            first.setdefault(_key(entry), entry)
        if list(value) != list(first):
            return f"keys: ours {list(value)}, tshark {list(first)}"
        for key, entry in first.items():
            if problem := _shown_differs(value[key], entry, its):
                return f"{key}: {problem}"
        return ""
    if item.type == "array":
        items = [i for i in its if i.parent == item.path]
        if not isinstance(value, list) or len(value) != len(items):
            return f"ours {value!r}, tshark {len(items)} items"
        for index, (one, entry) in enumerate(zip(value, items, strict=True)):
            if problem := _shown_differs(one, entry, its):
                return f"[{index}]: {problem}"
        return ""
    return (
        "" if _same_shown(value, item) else f"ours {value!r}, tshark {item.describe()}"
    )


def _same_shown(value: object, item: Item) -> bool:
    theirs = item.value
    if item.tag in DECIMAL_TEXT or item.type in ("float", "double", "decimal"):
        try:
            return f"{float(str(value)):f}" == theirs
        except ValueError:
            return False
    if item.type == "timestamp" and isinstance(value, str):
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return int(moment.timestamp()) == theirs
    if isinstance(theirs, bytes) and isinstance(value, str):
        if value.startswith("0x") and not _is_text(theirs):
            return bytes.fromhex(value[2:]) == theirs
        return value.encode("utf-8") == theirs
    return same(value, theirs)


def _key(item: Item) -> str:
    return item.path[len(item.parent) + 1 :]


def _is_text(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def against_intent(ours: Sequence[Frame], intents: Sequence[list[Item]]) -> Check:
    """Our client frames against what the hand encoder says it wrote.

    Every path, value and tag the encoder recorded must be what our byte map
    reads (spans aside), and our byte map must read nothing else; this is what
    covers the gaps tshark cannot read.
    """
    check = Check()
    if len(ours) != len(intents):
        check.disagreements.append(
            f"hand encoder: wrote {len(intents)} frames, we decode {len(ours)}"
        )
    for index, (frame_, intent) in enumerate(zip(ours, intents, strict=False)):
        label = f"hand encoder frame {index + 1} {frame_.name}"
        mine: dict[str, deque[Item]] = defaultdict(deque)
        for item in items_of(frame_):
            mine[item.path].append(item)
        for wanted in intent:
            if not mine[wanted.path]:
                check.disagreements.append(
                    f"{label}: {wanted.path}: written "
                    f"{shown_value(wanted.path, wanted.value)}, ours has none"
                )
                continue
            got = mine[wanted.path].popleft()
            check.intent += 1
            if not same(got.value, wanted.value) or got.tag != wanted.tag:
                check.disagreements.append(
                    f"{label}: {wanted.path}: written "
                    f"{shown_value(wanted.path, wanted.value)} (tag {wanted.tag!r}), "
                    f"ours {shown_value(got.path, got.value)} (tag {got.tag!r})"
                )
        check.disagreements += [
            f"{label}: {item.path}: ours {item.describe()}, never written"
            for left in mine.values()
            for item in left
        ]
    return check
