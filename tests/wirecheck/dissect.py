"""tshark's side: a pcap's AMQP dissection (PDML) as Items, frame by frame.

tshark is run with ``-T pdml -d tcp.port==PORT,amqp`` (and TZ=UTC, so dates
read back exactly). Each AMQP PDU becomes a TsharkFrame: its connection (the
client's port), direction and Items. A field's type comes from tshark's own
registry (``tshark -G fields``); a string's bytes are its data, or its data
and length prefix, as tshark's field happens to cover them (both are
accepted). Table entries carry no value attribute in PDML: their text ("key
(type): value") is parsed.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from explorer.protocol import Direction
from explorer.protocol.frames import B2C, C2B
from tests.wirecheck.capture import tool
from tests.wirecheck.items import TABLE, UNKNOWN, Item, child_path

#: tshark's names of the frame and method fields, as paths.
FIXED: Final[dict[str, str]] = {
    "amqp.type": "frame.type",
    "amqp.channel": "frame.channel",
    "amqp.length": "frame.size",
    "amqp.method.class": "method.class_id",
    "amqp.method.method": "method.method_id",
    "amqp.header.class": "header.class_id",
    "amqp.header.weight": "header.weight",
    "amqp.header.body-size": "header.body_size",
    "amqp.header.property-flags": "header.property_flags",
}
ARGUMENTS: Final = "amqp.method.arguments."
PROPERTIES: Final = "amqp.method.properties."
#: tshark's argument and property names that pamqp spells otherwise.
RENAMED: Final[dict[str, str]] = {
    "amqp.method.arguments.filter": "arguments",  # Basic.Consume's table
    "amqp.method.arguments.global": "global_",  # Basic.Qos (a Python keyword)
    "amqp.method.properties.type": "message_type",
}
#: Fields tshark adds that are not on the wire, and why they are not compared.
NOT_ON_THE_WIRE: Final[dict[str, str]] = {
    "amqp.message_in": "tshark's link from a Basic.Ack to the frame it confirms",
    "amqp.method.arguments.publish_number": (
        "tshark's count of the publishes on the channel, for matching confirms"
    ),
}
#: A body tshark also hands to the dissector its content type names (text
#: lines, JSON ...; "data" for bytes, written in PDML as a field) is compared
#: as amqp.payload; those sub-dissections of the same bytes are not.
SUBDISSECTION: Final = "proto"
DATA: Final = "data"
ENTRY_TYPES: Final = (
    "boolean|byte|unsigned byte|short int|short uint|integer|unsigned integer|"
    "long int|float|double|decimal|string|byte array|timestamp|field table|"
    "array|void"
)
ENTRY: Final = re.compile(
    rf"^(?P<key>.*?) \((?P<type>{ENTRY_TYPES})\)(?:: (?P<value>.*))?$", re.S
)
UNKNOWN_ENTRY: Final = re.compile(
    r"^(?P<key>.*?): unknown type (?P<hex>[0-9a-f]+) \((?P<tag>.*)\)$", re.S
)
INTEGERS: Final = frozenset(
    {"byte", "unsigned byte", "short int", "short uint", "integer",
     "unsigned integer", "long int"}
)  # fmt: skip


@dataclass
class Packet:
    """One TCP packet of a connection, as tshark saw it."""

    number: int
    client_port: int
    direction: Direction
    #: tshark's relative sequence number and payload length.
    seq: int
    length: int
    payload: bytes
    #: tshark's Protocol and Info columns.
    protocol: str = ""
    info: str = ""


@dataclass
class TsharkFrame:
    """One AMQP frame (PDU) as tshark dissected it."""

    client_port: int
    direction: Direction
    #: Number of the packet whose bytes completed it.
    packet: int
    items: list[Item] = field(default_factory=list)


@dataclass
class Dissection:
    """Every AMQP frame and TCP packet tshark found, per connection."""

    frames: list[TsharkFrame]
    packets: list[Packet]

    def of(self, client_port: int, direction: Direction) -> list[TsharkFrame]:
        """The frames one side of one connection sent, in stream order."""
        return [
            f
            for f in self.frames
            if f.client_port == client_port and f.direction is direction
        ]


@functools.cache
def field_types() -> dict[str, str]:
    """tshark's registry: field name to its type (FT_UINT16, FT_STRING ...)."""
    out = subprocess.run(
        [tool("tshark", "tshark"), "-G", "fields"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    types: dict[str, str] = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) > 3 and parts[0] == "F" and parts[2].startswith("amqp."):
            types[parts[2]] = parts[3]
    return types


def dissect(pcap: Path, server_port: int) -> Dissection:
    """tshark's AMQP dissection of `pcap`, AMQP decoded on `server_port`."""
    amqp = f"tcp.port=={server_port},amqp"
    command = [tool("tshark", "tshark"), "-r", str(pcap), "-d", amqp]
    environment = {**os.environ, "TZ": "UTC"}
    pdml = subprocess.run(
        [*command, "-T", "pdml"], capture_output=True, check=True, timeout=300,
        env=environment,
    ).stdout  # fmt: skip
    columns = [
        "-T", "fields", "-e", "frame.number", "-e", "_ws.col.Protocol",
        "-e", "_ws.col.Info",
    ]  # fmt: skip
    summary = subprocess.run(
        [*command, *columns], capture_output=True, text=True, check=True,
        timeout=300, env=environment,
    ).stdout  # fmt: skip
    shown: dict[int, tuple[str, str]] = {}
    for row in summary.splitlines():
        cells = [*row.split("\t", 2), "", ""]
        shown[int(cells[0])] = (cells[1], cells[2])
    types = field_types()
    frames: list[TsharkFrame] = []
    packets: list[Packet] = []
    for number, element in enumerate(ET.fromstring(pdml).iter("packet"), 1):
        fields = {f.get("name"): f for f in element.iter("field")}
        if "tcp.srcport" not in fields:
            continue
        source = int(_show(fields["tcp.srcport"]))
        destination = int(_show(fields["tcp.dstport"]))
        direction = C2B if destination == server_port else B2C
        client = source if direction is C2B else destination
        payload = fields.get("tcp.payload")
        packets.append(
            Packet(
                number, client, direction,
                int(_show(fields["tcp.seq"])), int(_show(fields["tcp.len"])),
                bytes.fromhex(payload.get("value", "")) if payload is not None else b"",
                *shown.get(number, ("", "")),
            )
        )  # fmt: skip
        for proto in element.findall("proto"):
            if proto.get("name") == "amqp":
                frame = TsharkFrame(client, direction, number)
                frame.items = _pdu(proto, types)
                frames.append(frame)
    return Dissection(frames, packets)


def _pdu(proto: ET.Element, types: dict[str, str]) -> list[Item]:
    base = int(proto.get("pos", "0"))
    items: list[Item] = []
    for element in proto:
        name = element.get("name", "")
        if name in FIXED:
            items.append(_scalar(element, FIXED[name], types, base))
        elif name == "amqp.method.arguments":
            items += _fields(element, ARGUMENTS, "arguments", types, base)
        elif name == "amqp.header.properties":
            items += _fields(element, PROPERTIES, "properties", types, base)
        elif name == "amqp.payload":
            data = bytes.fromhex(element.get("value", ""))
            items.append(Item("body", data, _span(element, base)))
        elif name in NOT_ON_THE_WIRE or element.tag == SUBDISSECTION or name == DATA:
            continue
        else:  # never dropped silently: it must match something of ours
            items.append(Item(f"tshark:{name or 'text'}", _text(element)))
    return items


def _fields(
    parent: ET.Element, prefix: str, path: str, types: dict[str, str], base: int
) -> list[Item]:
    items: list[Item] = []
    for element in parent:
        name = element.get("name", "")
        if name in NOT_ON_THE_WIRE:
            continue
        if not name.startswith(prefix):
            items.append(Item(f"tshark:{name or 'text'}", _text(element)))
            continue
        where = f"{path}.{RENAMED.get(name, name.removeprefix(prefix))}"
        if types.get(name) == "FT_NONE":  # a field table
            items.append(Item(where, None, _span(element, base), type=TABLE))
            items += _entries(element, where, base)
        else:
            items.append(_scalar(element, where, types, base))
    return items


def _scalar(element: ET.Element, path: str, types: dict[str, str], base: int) -> Item:
    kind = types.get(element.get("name", ""), "")
    show = _show(element)
    value: object
    if kind in ("FT_BYTES", "FT_UINT_BYTES"):
        value = bytes.fromhex(show.replace(":", ""))
    elif kind.startswith(("FT_UINT", "FT_INT")) and kind != "FT_UINT_STRING":
        value = int(show, 0)
    elif kind == "FT_BOOLEAN":
        value = show in ("1", "True", "true")
    elif kind == "FT_ABSOLUTE_TIME":
        value = _seconds(show)
    else:
        value = show
    return Item(path, value, _span(element, base))


def _entries(parent: ET.Element, prefix: str, base: int) -> list[Item]:
    """A table's or array's entries, nested ones after their container."""
    items: list[Item] = []
    for element in parent:
        text = element.get("showname") or element.get("show") or ""
        span = _span(element, base)
        if not element.get("name", "").startswith("amqp.field"):
            items.append(Item(f"tshark:{_text(element)}", None, span, parent=prefix))
            continue
        if found := UNKNOWN_ENTRY.match(text):
            path = child_path(prefix, found["key"])
            tag = found["tag"]
            items.append(Item(path, None, span, type=UNKNOWN, tag=tag, parent=prefix))
            continue
        found = ENTRY.match(text)
        if found is None:
            items.append(Item(f"tshark:{text}", None, span, parent=prefix))
            continue
        kind, shown = found["type"], found["value"] or ""
        path = child_path(prefix, found["key"])
        value: object = shown
        if kind == "boolean":
            value = shown == "true"
        elif kind in INTEGERS:
            value = int(shown)
        elif kind == "byte array":  # its text says <MISSING> when empty
            value = bytes.fromhex(_show(element).replace(":", ""))
        elif kind == "timestamp":
            value = _seconds(_show(element))
        elif kind in ("void", "field table", "array"):
            value = None
        items.append(Item(path, value, span, type=kind, parent=prefix))
        if kind in ("field table", "array"):
            items += _entries(element, path, base)
    return items


def _span(element: ET.Element, base: int) -> tuple[int, int]:
    start = int(element.get("pos", "0")) - base
    return start, start + int(element.get("size", "0"))


def _show(element: ET.Element) -> str:
    return element.get("show", "")


def _text(element: ET.Element) -> str:
    return element.get("showname") or element.get("show") or ""


def _seconds(shown: str) -> int:
    """Seconds since 1970 from tshark's "Nov 14, 2023 22:13:20.000000000 UTC"."""
    moment, _, zone = shown.rpartition(" ")
    if zone != "UTC":
        raise ValueError(f"tshark wrote a date outside UTC: {shown!r}")
    whole, _, fraction = moment.partition(".")
    parsed = datetime.strptime(whole, "%b %d, %Y %H:%M:%S").replace(tzinfo=UTC)
    if fraction.strip("0"):
        raise ValueError(f"a timestamp with a fraction of a second: {shown!r}")
    return int(parsed.timestamp())
