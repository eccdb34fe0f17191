"""Packet files: the records of a pcap or pcapng file, as tcpdump and tshark write them.

Owns telling a packet file by its first bytes and walking its records: classic
pcap (micro- or nanosecond, either byte order, and the modified format's longer
record headers) and pcapng (every section, every interface's own link type and
time resolution, enhanced, simple and obsolete packet blocks). Each record
becomes a Packet: when, on which link type, the bytes kept and how long the
packet was on the wire. A file that ends or breaks inside a record keeps the
packets before it, and says where and why it stopped.

dpkt (which decodes the packets, see explorer.recording.tcpflow) has readers
for both formats too; they are not used because they take the first
interface's link type and clock for every packet, skip simple packet blocks
and later sections, hide how much of a packet was kept, and either raise
without a position or return a short last packet for a file cut mid-record.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from explorer.recording.capture import CaptureError

#: Classic pcap's magic number as it reads in the file's own byte order, and
#: how many fractions make a second of its record times.
PCAP_MAGICS: Final = {0xA1B2C3D4: 1_000_000, 0xA1B23C4D: 1_000_000_000}
#: Alexey Kuznetzov's modified pcap: record headers 8 bytes longer.
MODIFIED_PCAP_MAGIC: Final = 0xA1B2CD34
PCAP_HEADER: Final = 24
PCAPNG_SHB: Final = 0x0A0D0D0A
PCAPNG_BYTE_ORDER: Final = 0x1A2B3C4D
PCAPNG_IDB, PCAPNG_PB, PCAPNG_SPB, PCAPNG_EPB = 1, 2, 3, 6
#: if_tsresol and if_tsoffset, the interface options that set its clock.
OPTION_TSRESOL, OPTION_TSOFFSET = 9, 14
#: A pcap link type is the low 16 bits; the rest may say an FCS is kept.
LINKTYPE_MASK: Final = 0xFFFF


@dataclass(frozen=True, slots=True)
class Packet:
    """One packet record of the file."""

    #: Counted from 1, as Wireshark and tshark number them.
    number: int
    #: Seconds since 1970 (UTC).
    t: float
    #: The link-layer header type (LINKTYPE_ETHERNET is 1, and so on).
    linktype: int
    #: The bytes the capture kept.
    data: bytes
    #: How long the packet was on the wire; more than len(data) when the
    #: capture's snap length cut it.
    length: int


def is_packet_file(head: bytes) -> bool:
    """Whether a file starting with `head` (4 bytes or more) is pcap or pcapng."""
    if len(head) < 4:
        return False
    magics = {*PCAP_MAGICS, MODIFIED_PCAP_MAGIC}
    return head[:4] == struct.pack("<I", PCAPNG_SHB) or any(
        struct.unpack(order + "I", head[:4])[0] in magics for order in "<>"
    )


class PacketFile:
    """The packets of a pcap or pcapng file, read in order as they are iterated.

    After iterating, `problem` says why the file stopped before its end (it
    was cut inside a record, or a record is damaged), or is "".
    """

    def __init__(self, data: bytes) -> None:
        """Take the file's bytes.

        Raises:
            CaptureError: They are not a pcap or pcapng file.
        """
        if not is_packet_file(data):
            shown = data[:8].hex(" ") or "nothing"
            raise CaptureError(
                f"not a pcap or pcapng file (it starts with {shown}; pcap starts "
                "with a1 b2 c3 d4 in either byte order, pcapng with 0a 0d 0d 0a)"
            )
        self._data = data
        self.kind = "pcapng" if data[:4] == struct.pack("<I", PCAPNG_SHB) else "pcap"
        self.problem = ""

    def __iter__(self) -> Iterator[Packet]:
        """Every packet up to the end of the file, or up to where it breaks."""
        self.problem = ""
        if self.kind == "pcap":
            yield from self._pcap()
        else:
            yield from self._pcapng()

    def _stop(self, at: int, packet: int, what: str) -> None:
        self.problem = (
            f"the file stops being readable at byte {at:,} of {len(self._data):,}, "
            f"in record {packet}: {what}; the {packet - 1:,} packets before it are "
            "read (a file copied while it was written, or from a tcpdump or "
            "tshark that was killed, ends like this)"
        )

    def _pcap(self) -> Iterator[Packet]:
        data = self._data
        if len(data) < PCAP_HEADER:
            self._stop(0, 1, f"its {PCAP_HEADER}-byte file header is cut short")
            return
        magics = (*PCAP_MAGICS, MODIFIED_PCAP_MAGIC)
        order = next(o for o in "<>" if _magic(data, o) in magics)
        magic = _magic(data, order)
        per_second = PCAP_MAGICS.get(magic, 1_000_000)
        record = struct.Struct(order + "IIII")
        header = record.size + 8 * (magic == MODIFIED_PCAP_MAGIC)
        linktype = struct.unpack_from(order + "I", data, 20)[0] & LINKTYPE_MASK
        at, number = PCAP_HEADER, 1
        while at < len(data):
            if at + header > len(data):
                self._stop(at, number, "the file ends inside its record header")
                return
            seconds, fraction, kept, length = record.unpack_from(data, at)
            if at + header + kept > len(data):
                have = len(data) - at - header
                what = f"the file ends {have:,} of its {kept:,} bytes in"
                self._stop(at, number, what)
                return
            start = at + header
            yield Packet(
                number,
                seconds + fraction / per_second,
                linktype,
                data[start : start + kept],
                length,
            )
            at, number = start + kept, number + 1

    def _pcapng(self) -> Iterator[Packet]:
        data = self._data
        order = "<"
        #: Each interface of the section: (link type, units per second, offset).
        interfaces: list[tuple[int, int, int]] = []
        at, number, t = 0, 1, 0.0
        while at < len(data):
            if at + 12 > len(data):
                self._stop(at, number, "the file ends inside a block header")
                return
            kind = struct.unpack_from("<I", data, at)[0]
            if kind == PCAPNG_SHB:
                magic = data[at + 8 : at + 12]
                if magic not in (struct.pack(o + "I", PCAPNG_BYTE_ORDER) for o in "<>"):
                    self._stop(at, number, "a section header has no byte-order magic")
                    return
                order = "<" if magic == struct.pack("<I", PCAPNG_BYTE_ORDER) else ">"
                interfaces = []
            kind, size = struct.unpack_from(order + "II", data, at)
            if size < 12 or size % 4:
                self._stop(at, number, f"a block says it is {size} bytes long")
                return
            if at + size > len(data):
                have = len(data) - at
                what = f"the file ends {have:,} of a block's {size:,} bytes in"
                self._stop(at, number, what)
                return
            if struct.unpack_from(order + "I", data, at + size - 4)[0] != size:
                self._stop(at, number, "a block's two lengths differ")
                return
            body = data[at + 8 : at + size - 4]
            at += size
            try:
                if kind == PCAPNG_IDB:
                    interfaces.append(_interface(body, order))
                    continue
                packet = _packet_block(kind, body, order, interfaces, number, t)
            except (struct.error, IndexError) as exc:
                self._stop(at - size, number, f"a block is damaged ({exc})")
                return
            if packet is not None:
                yield packet
                number, t = number + 1, packet.t


def _magic(data: bytes, order: str) -> int:
    magic: int = struct.unpack_from(order + "I", data)[0]
    return magic


def _interface(body: bytes, order: str) -> tuple[int, int, int]:
    """(link type, time units per second, seconds added) of an interface block."""
    linktype = struct.unpack_from(order + "H", body)[0]
    per_second, offset = 1_000_000, 0
    for code, value in _options(body[8:], order):
        if code == OPTION_TSRESOL and value:
            power = value[0] & 0x7F
            per_second = 2**power if value[0] & 0x80 else 10**power
        elif code == OPTION_TSOFFSET and len(value) == 8:
            offset = struct.unpack(order + "q", value)[0]
    return linktype, per_second, offset


def _options(data: bytes, order: str) -> Iterator[tuple[int, bytes]]:
    """(code, value) of each option, up to opt_endofopt or the end."""
    at = 0
    while at + 4 <= len(data):
        code, length = struct.unpack_from(order + "HH", data, at)
        if code == 0:
            return
        yield code, data[at + 4 : at + 4 + length]
        at += 4 + (length + 3) // 4 * 4


def _packet_block(
    kind: int,
    body: bytes,
    order: str,
    interfaces: list[tuple[int, int, int]],
    number: int,
    t: float,
) -> Packet | None:
    """The packet an enhanced, simple or obsolete packet block holds, if any.

    A simple packet block has no time: it gets the time of the packet before.

    Raises:
        IndexError: It names an interface the section has not described.
        struct.error: It is shorter than its fields.
    """
    if kind == PCAPNG_SPB:
        linktype, _, _ = interfaces[0]
        (length,) = struct.unpack_from(order + "I", body)
        return Packet(number, t, linktype, body[4 : 4 + length], length)
    if kind == PCAPNG_EPB:
        interface, high, low, kept, length = struct.unpack_from(order + "IIIII", body)
        start = 20
    elif kind == PCAPNG_PB:
        interface, _, high, low, kept, length = struct.unpack_from(
            order + "HHIIII", body
        )
        start = 20
    else:
        return None  # name resolution, statistics, custom blocks...
    if interface >= len(interfaces):
        raise IndexError(f"it names interface {interface}, which was not described")
    linktype, per_second, offset = interfaces[interface]
    if start + kept > len(body):
        raise struct.error(f"it keeps {kept} bytes in a block of {len(body)}")
    when = offset + ((high << 32) | low) / per_second
    return Packet(number, when, linktype, body[start : start + kept], length)
