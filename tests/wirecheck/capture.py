"""Live traffic for the other-clients test: a relay, a tshark capture, TCP streams.

The relay listens on a port of its own on 127.0.0.1 and forwards to the
broker, so a capture filtered on that port holds only the connections the test
made (never another test's, nor the broker's own). tshark writes the pcap; the
streams are reassembled from it here, segment by segment, by TCP sequence
number, and checked against what the relay itself forwarded.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, NoReturn

import pytest

from explorer.protocol import Direction
from explorer.protocol.frames import B2C, C2B

#: How long tshark may take to start capturing, and to write its file on stop.
TSHARK_START: Final = 30.0
TSHARK_STOP: Final = 15.0
#: Classic pcap, microsecond or nanosecond timestamps, either byte order.
PCAP_MAGICS: Final = {
    b"\xd4\xc3\xb2\xa1": "<",
    b"\xa1\xb2\xc3\xd4": ">",
    b"\x4d\x3c\xb2\xa1": "<",
    b"\xa1\xb2\x3c\x4d": ">",
}
LINKTYPE_ETHERNET: Final = 1
LINKTYPE_LINUX_SLL: Final = 113
ETHERTYPE_IPV4: Final = 0x0800
PROTO_TCP: Final = 6
TCP_SYN: Final = 0x02


def unavailable(what: str, fix: str) -> NoReturn:
    """Skip the test for want of `what`; in CI (CI set), fail it instead.

    Like a missing broker in tests/conftest.py: CI must not pass by skipping.
    """
    reason = f"{what} is not available ({fix})"
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required in CI: {reason}")
    pytest.skip(reason)


def tool(name: str, package: str) -> str:
    """The path of a command-line tool, or skip (fail in CI) without it."""
    path = shutil.which(name)
    if path is None:
        unavailable(name, f"Debian/Ubuntu: apt-get install {package}")
    return path


@dataclass
class Relayed:
    """One connection through the relay: what each side wrote, in order."""

    #: The client's local port, which names the connection in the pcap.
    client_port: int
    #: Every chunk the relay forwarded, per direction.
    chunks: dict[Direction, list[bytes]] = field(
        default_factory=lambda: {C2B: [], B2C: []}
    )

    def stream(self, direction: Direction) -> bytes:
        """Everything forwarded in one direction."""
        return b"".join(self.chunks[direction])


class Relay:
    """A TCP relay on 127.0.0.1 (a port of its own) to the broker, in threads."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.connections: list[Relayed] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def _accept(self) -> None:
        while True:
            try:
                client, address = self._server.accept()
            except OSError:
                return  # closed
            try:
                broker = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                client.close()
                continue
            broker.settimeout(None)
            relayed = Relayed(address[1])
            with self._lock:
                self.connections.append(relayed)
                self._sockets += [client, broker]
                for src, dst, direction in (
                    (client, broker, C2B),
                    (broker, client, B2C),
                ):
                    pump = threading.Thread(
                        target=_pump,
                        args=(src, dst, relayed.chunks[direction]),
                        daemon=True,
                    )
                    pump.start()
                    self._threads.append(pump)

    def close(self, wait: float = 10.0) -> None:
        """Stop accepting; wait for the relayed connections to end, then drop them."""
        with contextlib.suppress(OSError):  # wakes the accepting thread (Linux)
            self._server.shutdown(socket.SHUT_RDWR)
        self._server.close()
        deadline = time.monotonic() + wait
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            for sock in self._sockets:
                sock.close()
        self._accepting.join(1)


def _pump(src: socket.socket, dst: socket.socket, record: list[bytes]) -> None:
    """Copy one direction until it ends, keeping each chunk; then half-close."""
    try:
        while data := src.recv(65536):
            record.append(data)
            dst.sendall(data)
    except OSError:
        pass  # the other side went away
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


@contextmanager
def tshark_capture(port: int, pcap: Path) -> Iterator[None]:
    """Capture TCP port `port` on loopback into `pcap` (classic pcap) meanwhile.

    tshark is started first and the block runs only once it captures; on the
    way out it is stopped with SIGINT and its file is complete.
    """
    binary = tool("tshark", "tshark")
    log = pcap.with_suffix(".log")
    command = [
        binary, "-i", "lo", "-f", f"tcp port {port}", "-w", str(pcap), "-F", "pcap",
    ]  # fmt: skip
    with log.open("w") as err:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + TSHARK_START
        while "Capturing on" not in log.read_text() or _size(pcap) < 24:
            if process.poll() is not None:  # no permission to capture, say
                unavailable("a tshark capture on lo", log.read_text().strip())
            if time.monotonic() > deadline:
                raise RuntimeError(f"tshark did not start capturing: {log.read_text()}")
            time.sleep(0.05)
        yield
        time.sleep(0.5)  # dumpcap has read the last segments (the relay checks)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(TSHARK_STOP)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise RuntimeError("tshark did not stop on SIGINT") from None


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


@dataclass(frozen=True, slots=True)
class Segment:
    """One TCP segment's payload, at its offset in its direction's stream."""

    offset: int
    data: bytes
    #: Number of the packet in the pcap, counted from 1 as tshark counts.
    packet: int


@dataclass
class TcpStream:
    """Both directions of one TCP connection to `server_port`, from the pcap."""

    client_port: int
    segments: dict[Direction, list[Segment]] = field(
        default_factory=lambda: {C2B: [], B2C: []}
    )

    def chunks(self, direction: Direction) -> list[bytes]:
        """The direction's bytes as the segments brought them, in stream order.

        Raises:
            ValueError: A byte is missing (the capture dropped a segment), or
                a retransmission carries different bytes.
        """
        out: list[bytes] = []
        at = 0
        for segment in sorted(self.segments[direction], key=lambda s: s.offset):
            end = segment.offset + len(segment.data)
            if segment.offset > at:
                raise ValueError(
                    f"{direction.sender}'s stream on port {self.client_port} lacks "
                    f"bytes {at}..{segment.offset} (packet {segment.packet})"
                )
            if end <= at:  # a retransmission of bytes already placed
                continue
            out.append(segment.data[at - segment.offset :])
            at = end
        return out

    def stream(self, direction: Direction) -> bytes:
        """The direction's bytes, joined."""
        return b"".join(self.chunks(direction))


def tcp_streams(pcap: Path, server_port: int) -> dict[int, TcpStream]:
    """Every TCP connection to `server_port` in a classic pcap, by client port.

    Reads Ethernet (loopback) or Linux cooked frames carrying IPv4; offsets
    count from each direction's SYN, so the first data byte is at offset 0.
    """
    data = pcap.read_bytes()
    order = PCAP_MAGICS.get(data[:4])
    if order is None:
        raise ValueError(f"{pcap} is not a classic pcap file")
    linktype = struct.unpack_from(order + "I", data, 20)[0]
    streams: dict[int, TcpStream] = {}
    initial: dict[tuple[int, Direction], int] = {}
    position, packet = 24, 0
    while position < len(data):
        _, _, caplen, wirelen = struct.unpack_from(order + "IIII", data, position)
        frame = data[position + 16 : position + 16 + caplen]
        position += 16 + caplen
        packet += 1
        if caplen != wirelen:
            raise ValueError(f"packet {packet} was cut to {caplen} of {wirelen} bytes")
        parsed = _tcp(frame, linktype)
        if parsed is None:
            continue
        sport, dport, seq, flags, payload = parsed
        if server_port not in (sport, dport):
            continue
        direction = C2B if dport == server_port else B2C
        client = sport if direction is C2B else dport
        stream = streams.setdefault(client, TcpStream(client))
        if flags & TCP_SYN:
            initial[client, direction] = seq + 1
            continue
        if not payload:
            continue
        if (client, direction) not in initial:
            raise ValueError(f"packet {packet}: data before the SYN on port {client}")
        offset = (seq - initial[client, direction]) % 2**32
        stream.segments[direction].append(Segment(offset, payload, packet))
    return streams


def _tcp(frame: bytes, linktype: int) -> tuple[int, int, int, int, bytes] | None:
    """(source port, destination port, seq, flags, payload) of an IPv4 TCP frame."""
    if linktype == LINKTYPE_ETHERNET:
        ethertype, ip = struct.unpack_from("!H", frame, 12)[0], frame[14:]
    elif linktype == LINKTYPE_LINUX_SLL:
        ethertype, ip = struct.unpack_from("!H", frame, 14)[0], frame[16:]
    else:
        raise ValueError(f"link type {linktype} is not read here")
    if ethertype != ETHERTYPE_IPV4 or ip[9] != PROTO_TCP:
        return None
    header = (ip[0] & 0x0F) * 4
    total = struct.unpack_from("!H", ip, 2)[0]
    tcp = ip[header:total]
    sport, dport, seq = struct.unpack_from("!HHI", tcp, 0)
    data_offset, flags = (tcp[12] >> 4) * 4, tcp[13]
    return sport, dport, seq, flags, tcp[data_offset:]
