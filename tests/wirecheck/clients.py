"""The clients run through the relay: pika, amqp-tools and the hand encoder.

Each publishes a body larger than its frame_max, with a headers table of
every type it can write, reads it back, and deletes its queue. pika and the
hand encoder negotiate frame_max 8192 (RabbitMQ 4.1's minimum, so the test
runs there too); amqp-tools cannot be told one: librabbitmq's tools always
ask for 131072, so their body is larger.
"""

from __future__ import annotations

import datetime
import socket
import struct
import subprocess
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from tests.wirecheck import encoder
from tests.wirecheck.capture import tool, unavailable
from tests.wirecheck.encoder import ALL_TYPES, Written, method

#: frame_max asked for where the client lets us choose.
FRAME_MAX: Final = 8192
#: 20,480 bytes of every octet value: three body frames at frame_max 8192.
BODY: Final = bytes(range(256)) * 80
#: amqp-tools' fixed frame_max (librabbitmq's tools ask for 128 KiB).
AMQP_TOOLS_FRAME_MAX: Final = 131072
#: 300,000 bytes: three body frames at 131072.
AMQP_TOOLS_BODY: Final = b"amqp-tools body " * 18750
#: Every type pika 1.4 writes: S x t I l D T F A V (it writes no float, and
#: picks I or l by size). Its decimal mantissa is signed: -1.5 goes out as
#: scale 1, digits 0xFFFFFFF1, which the 0-9-1 grammar reads unsigned.
PIKA_HEADERS: Final[dict[str, Any]] = {
    "str": "café ☕",
    "bytes": b"\x00\xff\x80",
    "true": True,
    "false": False,
    "int": -5,
    "big": 2**40,
    "decimal": Decimal("3.25"),
    "negative-decimal": Decimal("-1.5"),
    "timestamp": datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=datetime.UTC),
    "table": {"nested": {"deep": 1}, "s": "x"},
    "array": [1, "two", None, {"in": True}, [2**40]],
    "void": None,
}
#: amqp-publish writes only long-string headers (-H "key: value").
AMQP_TOOLS_HEADERS: Final = {"k1": "v1", "with-space": "a value with spaces"}
TIMEOUT: Final = 30


@dataclass
class Login:
    """Where and as whom a client connects."""

    host: str
    port: int
    user: str
    password: str


def pika_client(login: Login, queue: str) -> dict[str, Any]:
    """Run pika 1.4 (frame_max 8192): declare, publish, get, consume, delete.

    Returns:
        What it read back: the got body, its headers, the consumed body.
    """
    try:
        import pika  # type: ignore[import-untyped]
    except ImportError:
        unavailable("pika", "pip install -e '.[test]'")
    parameters = pika.ConnectionParameters(
        host=login.host,
        port=login.port,
        credentials=pika.PlainCredentials(login.user, login.password),
        frame_max=FRAME_MAX,
        client_properties={"connection_name": "amqp-explorer other-clients test"},
        socket_timeout=TIMEOUT,
    )
    connection = pika.BlockingConnection(parameters)
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.queue_declare(queue, arguments=PIKA_HEADERS)
        properties = pika.BasicProperties(
            content_type="application/octet-stream",
            content_encoding="identity",
            headers=PIKA_HEADERS,
            delivery_mode=2,
            priority=9,
            correlation_id="corr-1",
            reply_to="reply-queue",
            expiration="60000",
            message_id="msg-1",
            timestamp=1_700_000_000,
            type="explorer.test",
            user_id=login.user,
            app_id="amqp-explorer",
            cluster_id="cluster-1",
        )
        channel.basic_publish("", queue, BODY, properties, mandatory=True)
        _, got_properties, got = channel.basic_get(queue, auto_ack=True)
        channel.basic_publish("", queue, b"second", pika.BasicProperties(headers={}))
        consumed = b""
        for delivery, _, data in channel.consume(queue, inactivity_timeout=TIMEOUT):
            if delivery is None:
                break
            consumed = data
            channel.basic_ack(delivery.delivery_tag)
            break
        channel.cancel()
        channel.queue_delete(queue)
    finally:
        connection.close()
    return {"got": got, "headers": got_properties.headers, "consumed": consumed}


def amqp_tools_client(login: Login, queue: str) -> dict[str, bytes]:
    """Run Debian's amqp-tools: declare, publish twice, get, consume, delete.

    Returns:
        What amqp-get and amqp-consume printed (the bodies).
    """
    common = [
        "--server", login.host, "--port", str(login.port),
        "--username", login.user, "--password", login.password,
    ]  # fmt: skip
    headers = [
        arg for k, v in AMQP_TOOLS_HEADERS.items() for arg in ("-H", f"{k}: {v}")
    ]
    publish = [
        "-r", queue, "-C", "text/plain", "-E", "utf-8", "-t", "reply-queue", "-p",
        *headers,
    ]  # fmt: skip
    _run("amqp-declare-queue", [*common, "-q", queue])
    _run("amqp-publish", [*common, *publish], stdin=AMQP_TOOLS_BODY)
    _run("amqp-publish", [*common, "-r", queue, "-b", "second"])
    got = _run("amqp-get", [*common, "-q", queue])
    consumed = _run("amqp-consume", [*common, "-q", queue, "-c", "1", "cat"])
    _run("amqp-delete-queue", [*common, "-q", queue])
    return {"got": got, "consumed": consumed}


def _run(name: str, args: list[str], stdin: bytes = b"") -> bytes:
    binary = tool(name, "amqp-tools")
    result = subprocess.run(
        [binary, *args], input=stdin, capture_output=True, timeout=TIMEOUT, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{name} failed: {result.stderr.decode(errors='replace')}")
    return result.stdout


@dataclass
class HandClient:
    """A raw socket speaking AMQP with the hand encoder's frames."""

    login: Login
    written: list[Written] = field(default_factory=list)
    _buffer: bytes = b""

    def __post_init__(self) -> None:
        address = (self.login.host, self.login.port)
        self.sock = socket.create_connection(address, timeout=TIMEOUT)

    def send(self, *frames: Written) -> None:
        """Write frames, keeping each as written."""
        self.sock.sendall(b"".join(f.raw for f in frames))
        self.written += frames

    def _read(self, size: int) -> bytes:
        while len(self._buffer) < size:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("the broker closed the connection")
            self._buffer += data
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out

    def frame(self) -> tuple[int, int, bytes]:
        """The next frame from the broker: (type, channel, payload)."""
        kind, channel, size = struct.unpack(">BHI", self._read(7))
        payload = self._read(size)
        if self._read(1) != bytes([encoder.FRAME_END]):
            raise ConnectionError("a frame from the broker does not end in 0xCE")
        return kind, channel, payload

    def expect(self, class_id: int, method_id: int) -> bytes:
        """Read up to the given method; its arguments' bytes."""
        while True:
            kind, _, payload = self.frame()
            if kind != encoder.FRAME_METHOD:
                continue
            ids = struct.unpack_from(">HH", payload)
            if ids == (class_id, method_id):
                return payload[4:]
            if ids in ((10, 50), (20, 40)):  # Connection.Close, Channel.Close
                code = struct.unpack_from(">H", payload, 4)[0]
                text = payload[7 : 7 + payload[6]].decode(errors="replace")
                raise ConnectionError(f"the broker closed: {code} {text}")

    def content(self) -> tuple[bytes, bytes]:
        """The content header's payload and the body after a GetOk or Deliver."""
        kind, _, header = self.frame()
        assert kind == encoder.FRAME_HEADER
        size = struct.unpack_from(">Q", header, 4)[0]
        body = b""
        while len(body) < size:
            kind, _, piece = self.frame()
            assert kind == encoder.FRAME_BODY
            body += piece
        return header, body

    def open(
        self, frame_max: int = FRAME_MAX, properties: list[encoder.Entry] | None = None
    ) -> None:
        """Protocol header to Connection.OpenOk, logging in with PLAIN."""
        self.send(Written(encoder.PROTOCOL_HEADER))
        self.expect(10, 10)  # Connection.Start
        response = f"\0{self.login.user}\0{self.login.password}"
        self.send(method(0, 10, 11,
            ("client_properties", "table", properties or []),
            ("mechanism", "shortstr", "PLAIN"),
            ("response", "longstr", response),
            ("locale", "shortstr", "en_US"),
        ))  # fmt: skip
        tune = self.expect(10, 30)
        channel_max = struct.unpack_from(">H", tune)[0]
        self.send(method(0, 10, 31,
            ("channel_max", "short", channel_max),
            ("frame_max", "long", frame_max),
            ("heartbeat", "short", 0),
        ), method(0, 10, 40,
            ("virtual_host", "shortstr", "/"),
            ("capabilities", "shortstr", ""),
            ("insist", "bit", False),
        ))  # fmt: skip
        self.expect(10, 41)
        self.send(method(1, 20, 10, ("out_of_band", "shortstr", "")))
        self.expect(20, 11)

    def close(self) -> None:
        """Channel.Close then Connection.Close, each answered; the socket closed."""
        self.send(method(1, 20, 40,
            ("reply_code", "short", 200), ("reply_text", "shortstr", "done"),
            ("class_id", "short", 0), ("method_id", "short", 0),
        ))  # fmt: skip
        self.expect(20, 41)
        self.send(method(0, 10, 50,
            ("reply_code", "short", 200), ("reply_text", "shortstr", "bye"),
            ("class_id", "short", 0), ("method_id", "short", 0),
        ))  # fmt: skip
        self.expect(10, 51)
        self.sock.close()


#: The 14 Basic properties the hand encoder publishes (user_id added per login).
HAND_PROPERTIES: Final[list[encoder.Argument]] = [
    ("content_type", "shortstr", "application/x-explorer"),
    ("content_encoding", "shortstr", "identity"),
    ("headers", "table", ALL_TYPES),
    ("delivery_mode", "octet", 2),
    ("priority", "octet", 9),
    ("correlation_id", "shortstr", "corr-1"),
    ("reply_to", "shortstr", "reply-queue"),
    ("expiration", "shortstr", "60000"),
    ("message_id", "shortstr", "msg-1"),
    ("timestamp", "timestamp", 1_700_000_000),
    ("message_type", "shortstr", "explorer.test"),
    ("app_id", "shortstr", "amqp-explorer"),
    ("cluster_id", "shortstr", "cluster-1"),
]


def hand_client(login: Login, queue: str) -> tuple[list[Written], bytes, bytes]:
    """The hand encoder against the broker, every type in every table.

    Returns:
        The frames written, in order; the content header payload and the body
        that Basic.Get brought back.
    """
    client = HandClient(login)
    client.open(properties=ALL_TYPES)
    client.send(encoder.heartbeat())
    client.send(method(1, 50, 10,
        ("ticket", "short", 0), ("queue", "shortstr", queue),
        ("passive", "bit", False), ("durable", "bit", False),
        ("exclusive", "bit", False), ("auto_delete", "bit", False),
        ("nowait", "bit", False), ("arguments", "table", ALL_TYPES),
    ))  # fmt: skip
    client.expect(50, 11)
    properties = [*HAND_PROPERTIES, ("user_id", "shortstr", login.user)]
    client.send(
        method(1, 60, 40,
            ("ticket", "short", 0), ("exchange", "shortstr", ""),
            ("routing_key", "shortstr", queue),
            ("mandatory", "bit", False), ("immediate", "bit", False),
        ),
        encoder.content_header(1, len(BODY), properties),
        *encoder.bodies(1, BODY, FRAME_MAX),
    )  # fmt: skip
    client.send(method(1, 60, 70,
        ("ticket", "short", 0), ("queue", "shortstr", queue), ("no_ack", "bit", True),
    ))  # fmt: skip
    client.expect(60, 71)
    header, body = client.content()
    client.send(queue_delete(queue))
    client.expect(50, 41)
    client.close()
    return client.written, header, body


def queue_delete(queue: str) -> Written:
    """Queue.Delete of `queue` on channel 1, written by hand."""
    return method(1, 50, 40,
        ("ticket", "short", 0), ("queue", "shortstr", queue),
        ("if_unused", "bit", False), ("if_empty", "bit", False),
        ("nowait", "bit", False),
    )  # fmt: skip


def delete_queue(login: Login, queue: str) -> None:
    """Delete a queue if it is there (cleanup, straight to the broker)."""
    client = HandClient(login)
    try:
        client.open()
        client.send(queue_delete(queue))
        client.expect(50, 41)
        client.close()
    finally:
        client.sock.close()


def refused_by_rabbitmq() -> dict[str, list[Written]]:
    """Hand-encoded client streams RabbitMQ 3.10.8 refuses, checked offline.

    Each is a whole client stream (protocol header, Basic.Publish, content
    header, body). RabbitMQ closes the connection with 541 INTERNAL_ERROR at
    the content header of both: it has no 'U' tag, and reads one flags word.
    """
    publish = method(1, 60, 40,
        ("ticket", "short", 0), ("exchange", "shortstr", ""),
        ("routing_key", "shortstr", "offline"),
        ("mandatory", "bit", False), ("immediate", "bit", False),
    )  # fmt: skip
    start = [Written(encoder.PROTOCOL_HEADER), publish]
    u_tag = [("headers", "table", [("int16-U", "U", -32768)])]
    five_words: list[encoder.Argument] = [
        ("content_type", "shortstr", "text/plain"),
        ("headers", "table", [("k", "S", "abc"), ("n", "I", -7)]),
        ("delivery_mode", "octet", 1),
        ("timestamp", "timestamp", 1_700_000_000),
        ("app_id", "shortstr", "five flag words"),
    ]
    return {
        "U-tag": [
            *start,
            encoder.content_header(1, 1, u_tag),
            *encoder.bodies(1, b"U", FRAME_MAX),
        ],
        "flag-words": [
            *start,
            encoder.content_header(1, 5, five_words, more_words=4),
            *encoder.bodies(1, b"five!", FRAME_MAX),
        ],
    }
