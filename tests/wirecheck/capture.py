"""Live traffic for the other-clients test: a relay, a tshark capture, TCP streams.

The relay listens on a port of its own on 127.0.0.1 and forwards to the
broker, so a capture filtered on that port holds only the connections the test
made (never another test's, nor the broker's own). tshark writes the pcap; the
streams are reassembled from it by the explorer's own packet reader
(explorer.recording.tcpflow), and checked against what the relay forwarded.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
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
from explorer.recording.packetfile import PacketFile
from explorer.recording.tcpflow import TcpReader

#: How long tshark may take to start capturing, and to write its file on stop.
TSHARK_START: Final = 30.0
TSHARK_STOP: Final = 15.0


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
def tshark_capture(port: int, pcap: Path, kind: str = "pcap") -> Iterator[None]:
    """Capture TCP port `port` on loopback into `pcap` meanwhile.

    `kind` is the file format tshark writes (``-F``): "pcap" or "pcapng".

    tshark is started first and the block runs only once it captures; on the
    way out it is stopped with SIGINT and its file is complete.
    """
    binary = tool("tshark", "tshark")
    log = pcap.with_suffix(".log")
    command = [
        binary, "-i", "lo", "-f", f"tcp port {port}", "-w", str(pcap), "-F", kind,
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


@dataclass
class TcpStream:
    """Both directions of one TCP connection to the server port, from the pcap."""

    client_port: int
    #: Each direction's bytes as the segments brought them, in stream order.
    chunks: dict[Direction, list[bytes]]

    def stream(self, direction: Direction) -> bytes:
        """The direction's bytes, joined."""
        return b"".join(self.chunks[direction])


def tcp_streams(pcap: Path, server_port: int) -> dict[int, TcpStream]:
    """Every TCP connection to `server_port` in a pcap, by client port.

    Reassembled by the explorer's own reader (explorer.recording.tcpflow, what
    `replay` reads a pcap with), with no masking: the bytes as they were sent.

    Raises:
        ValueError: A direction lacks bytes (the capture dropped a segment).
    """
    reader = TcpReader()
    reader.add(PacketFile(pcap.read_bytes()))
    streams: dict[int, TcpStream] = {}
    for connection in reader.connections():
        ends = (connection.a.port, connection.b.port)
        if server_port not in ends:
            continue
        client = ends.index(server_port) ^ 1
        halves = {C2B: connection.halves[client], B2C: connection.halves[1 - client]}
        for direction, half in halves.items():
            if half.hole is not None:
                raise ValueError(
                    f"{direction.sender}'s stream on port {ends[client]} lacks "
                    f"{half.hole.missing} bytes at offset {half.hole.offset} "
                    f"(packet {half.hole.after})"
                )
        chunks = {
            d: [piece.data for piece in half.pieces] for d, half in halves.items()
        }
        streams[ends[client]] = TcpStream(ends[client], chunks)
    return streams
