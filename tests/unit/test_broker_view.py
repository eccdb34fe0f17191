"""The broker's view of a connection (explorer.lab.brokerview, brokerrows,
viewdiff): both sources' real output read into one shape, which source
answers and why not, the follower, and the view set beside frames built in
memory.

The fixtures in tests/fixtures/brokerview are what the live brokers printed:
rabbitmqctl list_connections --formatter json on 3.10.8 and 4.0.5, and the
management API of 4.0.5, for one aiormq connection (fixture-app, heartbeat 17,
one channel), one that sent only its protocol header, and one whose
client_properties hold every field type (fixture-types).
"""

from __future__ import annotations

import asyncio
import base64
import json
import shlex
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pamqp import commands
from pamqp.header import ProtocolHeader

from explorer.lab.brokerrows import FIELDS, RowsError, ctl_rows, management_rows
from explorer.lab.brokerview import BrokerView, broker_view, follow, record
from explorer.lab.viewdiff import Difference, differences
from explorer.protocol.fields import shown
from explorer.protocol.frames import B2C, C2B, Frame
from tests.conftest import wire

FIXTURES = Path(__file__).parents[1] / "fixtures" / "brokerview"
VERSIONS = ("3.10.8", "4.0.5")
URL = "amqp://guest:guest@127.0.0.1:5672/"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def row_of(rows: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """The row of the connection that named itself `name`."""
    (row,) = [
        r for r in rows if (r["client_properties"] or {}).get("connection_name") == name
    ]
    return row


# Reading both sources ---


@pytest.mark.parametrize("version", VERSIONS)
def test_rabbitmqctl_rows_read_as_the_management_api_writes_them(version: str) -> None:
    app = row_of(ctl_rows(fixture(f"ctl-{version}.json")), "fixture-app")
    assert app["state"] == "running"
    assert app["protocol"] == "AMQP 0-9-1"  # rabbitmqctl printed [0,9,1]
    assert app["peer_host"] == "127.0.0.1"  # rabbitmqctl printed [127,0,0,1]
    assert app["name"] == f"127.0.0.1:{app['peer_port']} -> 127.0.0.1:{app['port']}"
    assert (app["user"], app["vhost"], app["auth_mechanism"]) == ("guest", "/", "PLAIN")
    assert (app["timeout"], app["channels"]) == (17, 1)
    assert app["client_properties"]["capabilities"]["publisher_confirms"] is True
    assert app["client_properties"]["product"] == "aiormq"
    assert app["connected_at"].endswith("Z")
    assert app["connected_at"][10] == "T"
    assert list(app) == list(FIELDS)


@pytest.mark.parametrize("version", VERSIONS)
def test_what_the_broker_has_not_set_yet_is_null(version: str) -> None:
    (starting,) = [
        r for r in ctl_rows(fixture(f"ctl-{version}.json")) if r["state"] == "starting"
    ]
    # rabbitmqctl prints "", "none", "none", "undefined" and "none" for these
    assert starting["user"] is None
    assert starting["vhost"] is None
    assert starting["auth_mechanism"] is None
    assert starting["channel_max"] is None
    assert starting["client_properties"] is None
    # the handshake's own values, until TuneOk replaces them
    assert (starting["timeout"], starting["frame_max"]) == (3, 4096)
    assert starting["recv_oct"] == 8  # the protocol header


@pytest.mark.parametrize("version", VERSIONS)
def test_every_field_type_of_rabbitmqctl_reads_as_the_explorer_reads_the_wire(
    version: str,
) -> None:
    properties = row_of(ctl_rows(fixture(f"ctl-{version}.json")), "fixture-types")[
        "client_properties"
    ]
    # an array is printed as an object keyed by each element's type: "byte" twice
    assert properties["arr"] == [1, "two", True, {"k": "v"}, 2]
    assert properties["dec"] == "3.14"  # printed [2, 314]
    assert properties["none"] is None  # printed "undefined", typed void
    assert properties["ts"] == 1704164645
    assert properties["nested"] == {"a": {"b": 1}}
    assert (properties["an_int"], properties["big"]) == (-5, 2**40)


def test_the_management_api_and_rabbitmqctl_give_one_shape() -> None:
    ctl = row_of(ctl_rows(fixture("ctl-4.0.5.json")), "fixture-app")
    api = row_of(management_rows(fixture("management-4.0.5.json")), "fixture-app")
    assert list(api) == list(FIELDS)
    # the same connection, asked at the same moment: only the management API's
    # statistics (as of its last emission) differ
    lagging = {"recv_oct", "send_oct", "channels"}
    assert {k: v for k, v in api.items() if k not in lagging} == {
        k: v for k, v in ctl.items() if k not in lagging
    }
    assert (api["channels"], ctl["channels"]) == (0, 1)


def test_the_management_api_s_other_fields_are_left_out() -> None:
    raw = json.loads(fixture("management-4.0.5.json"))
    assert "garbage_collection" in raw[0]
    assert "user_who_performed_action" in raw[0]
    text = json.dumps(management_rows(fixture("management-4.0.5.json")))
    assert "garbage_collection" not in text
    assert "user_who_performed_action" not in text
    assert "password" not in text.lower()


def test_the_management_api_writes_some_types_its_own_way() -> None:
    types = row_of(management_rows(fixture("management-4.0.5.json")), "fixture-types")
    properties = types["client_properties"]
    assert properties["dec"] == 2.314  # decimal 3.14, as 4.0.5's API writes it
    assert properties["none"] == "undefined"
    assert properties["bytes"] == "\x00\x01ab"


def test_an_ipv6_peer_reads_as_text() -> None:
    text = '[{"peer_host":[0,0,0,0,0,0,0,1],"peer_port":1,"state":"running"}]'
    assert ctl_rows(text)[0]["peer_host"] == "::1"


@pytest.mark.parametrize(
    ("text", "why"),
    [("Error: unable to perform", "not JSON"), ('{"name": 1}', "not a list")],
)
def test_an_answer_that_is_no_listing_is_a_clear_error(text: str, why: str) -> None:
    with pytest.raises(RowsError, match=why):
        ctl_rows(text)
    with pytest.raises(RowsError, match=why):
        management_rows(text)


# Which source answers ---


def port_of(name: str, version: str = "3.10.8") -> int:
    port: int = row_of(ctl_rows(fixture(f"ctl-{version}.json")), name)["peer_port"]
    return port


class FakeCtl:
    """What the fake rabbitmqctl answers, and what it was asked."""

    def __init__(self, directory: Path) -> None:
        self.answers = directory / "answers"
        self.script = directory / "ctl.py"

    def answer(self, *looks: str) -> None:
        """Answer `looks`, one per call, the last repeated."""
        self.answers.write_text("\n---\n".join(looks))

    def asked(self) -> list[str]:
        """The arguments of each call so far."""
        return Path(f"{self.script}.asked").read_text().splitlines()


@pytest.fixture
def fake_ctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeCtl:
    """$RABBITMQCTL printing the file it returns: one answer per call, the answers
    split by ``---`` lines and the last repeated; "fail" fails as rabbitmqctl
    does, "fail-properties" only when client_properties are asked for."""
    fake = FakeCtl(tmp_path)
    fake.answer(fixture("ctl-3.10.8.json"))
    fake.script.write_text(
        "import sys, pathlib\n"
        f"answers = pathlib.Path({str(fake.answers)!r})\n"
        "text, *rest = answers.read_text().split('\\n---\\n')\n"
        "if rest: answers.write_text('\\n---\\n'.join(rest))\n"
        "asked = ' '.join(sys.argv[1:])\n"
        "with open(sys.argv[0] + '.asked', 'a') as log: print(asked, file=log)\n"
        "if text == 'fail' or (text == 'fail-properties' and 'client_prop' in asked):\n"
        "    print('Stack trace:'); print(':function_clause'); sys.exit(70)\n"
        "print('[]' if text.startswith('fail') else text)\n"
    )  # fmt: skip
    command = f"{shlex.quote(sys.executable)} {shlex.quote(str(fake.script))}"
    monkeypatch.setenv("RABBITMQCTL", command)
    return fake


class Api(BaseHTTPRequestHandler):
    """A management API answering GET /api/connections with `body`."""

    body: ClassVar[str] = "[]"
    status: ClassVar[int] = 200
    seen: ClassVar[list[tuple[str, str]]] = []

    def do_GET(self) -> None:
        Api.seen.append((self.path, self.headers.get("Authorization", "")))
        data = self.body.encode()
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def api() -> Iterator[str]:
    """A fake management API on 127.0.0.1; its base URL."""
    Api.body, Api.status, Api.seen = fixture("management-4.0.5.json"), 200, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def no_ctl(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """rabbitmqctl is not there for this user."""
    monkeypatch.delenv("RABBITMQCTL", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))


async def test_rabbitmqctl_answers_first_and_the_record_says_so(
    fake_ctl: FakeCtl,
) -> None:
    view = await broker_view(port_of("fixture-app"), URL)
    assert view.source == "rabbitmqctl"
    assert view.values["timeout"] == 17
    assert view.asked.startswith("rabbitmqctl list_connections name state")
    line = record("127.0.0.1:4242", view)
    assert line["event"] == "broker"
    assert line["connection"] == "127.0.0.1:4242"
    assert line["source"] == "rabbitmqctl"
    assert line["values"] == view.values
    assert "problem" not in line
    json.dumps(line)


async def test_a_connection_to_another_broker_port_is_not_taken(
    fake_ctl: FakeCtl,
) -> None:
    port = port_of("fixture-app")
    # the same client port, to a broker on 5673: not the connection listed
    view = await broker_view(
        port, "amqp://guest:guest@127.0.0.1:5673/", "http://127.0.0.1:9"
    )
    assert view.source == "rabbitmqctl"
    assert not view.listed
    assert f"no connection from port {port} to port 5673" in view.problem
    assert record("x", view)["problem"] == view.problem


async def test_client_properties_that_break_rabbitmqctl_s_json_are_left_out(
    fake_ctl: FakeCtl,
) -> None:
    fake_ctl.answer("fail-properties")
    view = await broker_view(1, URL, "http://127.0.0.1:9")
    assert view.source == "rabbitmqctl"
    asked = fake_ctl.asked()
    assert len(asked) == 2
    assert "client_properties" in asked[0]
    assert "client_properties" not in asked[1]
    assert "client_properties left out" in view.note


async def test_without_rabbitmqctl_the_management_api_answers(
    no_ctl: None, api: str
) -> None:
    url = "amqp://ann:s3cret-pw@127.0.0.1:5673/"
    view = await broker_view(port_of("fixture-app", "4.0.5"), url, api)
    assert view.source == "management"
    assert view.values["timeout"] == 17
    assert "statistics" in view.note
    ((path, authorization),) = Api.seen
    assert path.startswith("/api/connections?columns=name,state,")
    assert base64.b64decode(authorization.split()[1]) == b"ann:s3cret-pw"
    assert "s3cret" not in json.dumps(record("x", view))
    assert view.asked.endswith("(as ann)")


async def test_the_management_url_s_own_credentials_win(no_ctl: None, api: str) -> None:
    given = api.replace("http://", "http://mon:pw2@")
    await broker_view(1, "amqp://ann:s3cret@127.0.0.1:5673/", given)
    ((_, authorization),) = Api.seen
    assert base64.b64decode(authorization.split()[1]) == b"mon:pw2"


async def test_a_refused_login_is_said_without_the_password(
    no_ctl: None, api: str
) -> None:
    Api.status, Api.body = 401, '{"error":"not_authorized"}'
    view = await broker_view(1, "amqp://ann:s3cret@127.0.0.1:5673/", api)
    assert view.source is None
    assert view.problem.startswith("neither answered, because rabbitmqctl is not")
    assert "401" in view.problem
    assert "'ann' may not log in" in view.problem
    assert "s3cret" not in json.dumps(record("x", view))


async def test_neither_answering_is_a_view_saying_why(no_ctl: None) -> None:
    view = await broker_view(1, URL, "http://127.0.0.1:9")
    assert view.source is None
    assert view.values == {}
    assert "rabbitmqctl is not available" in view.problem
    assert "no management API answers at http://127.0.0.1:9" in view.problem
    assert "rabbitmq_management" in view.problem


async def test_rabbitmqctl_failing_is_said_when_the_api_is_not_there(
    fake_ctl: FakeCtl,
) -> None:
    fake_ctl.answer("fail")
    view = await broker_view(1, URL, "http://127.0.0.1:9")
    assert view.source is None
    assert "rabbitmqctl list_connections failed (:function_clause)" in view.problem


@pytest.mark.parametrize(
    ("url", "management", "said"),
    [
        ("amqp://127.0.0.1:99999/", None, "the broker's URL is not usable"),
        (URL, "ftp://127.0.0.1/", "the management URL is not usable"),
    ],
)
async def test_bad_urls_are_a_clear_view(
    no_ctl: None, url: str, management: str | None, said: str
) -> None:
    view = await broker_view(1, url, management)
    assert view.source is None
    assert said in view.problem


# The follower ---


def listing(state: str, recv_oct: int) -> str:
    row = json.loads(fixture("ctl-3.10.8.json"))[0]
    row.update(state=state, recv_oct=recv_oct, peer_port=1000, port=5672)
    return json.dumps([row])


async def test_the_follower_tells_each_change_but_not_the_byte_counts(
    fake_ctl: FakeCtl,
) -> None:
    looks = ["[]", listing("running", 10), listing("running", 99)]
    looks += [listing("blocked", 120), "[]"]
    fake_ctl.answer(*looks)
    told: list[BrokerView] = []
    await asyncio.wait_for(follow(1000, URL, told.append, "http://127.0.0.1:9", 0), 30)
    # not before it is listed; not for the byte count; once gone, told and done
    assert [v.values.get("state") for v in told] == ["running", "blocked", None]
    assert told[0].values["recv_oct"] == 10
    assert told[-1].source == "rabbitmqctl"
    assert "no connection from port 1000" in told[-1].problem


async def test_the_follower_tells_once_why_nobody_answers_and_cancels_cleanly(
    no_ctl: None,
) -> None:
    told: list[BrokerView] = []
    task = asyncio.create_task(follow(1, URL, told.append, "http://127.0.0.1:9", 0.01))
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(told) == 1
    assert told[0].source is None


# The view beside the wire ---

TUNE = commands.Connection.Tune(2047, 131072, 60)
TUNE_OK = commands.Connection.TuneOk(9, 16384, 13)


def handshake(
    response: str = "\0bob\0s3cret-pw",
    mechanism: str = "PLAIN",
    header: bytes = b"AMQP\x00\x00\x09\x01",
    until: str = "Channel.OpenOk",
) -> list[Frame]:
    start_ok = commands.Connection.StartOk(
        {"connection_name": "orders", "product": "demo"}, mechanism, response
    )
    frames = [
        (C2B, ProtocolHeader()),
        (B2C, commands.Connection.Start(mechanisms="PLAIN AMQPLAIN")),
        (C2B, start_ok),
        (B2C, TUNE),
        (C2B, TUNE_OK),
        (C2B, commands.Connection.Open("orders-vhost")),
        (B2C, commands.Connection.OpenOk()),
        (C2B, commands.Channel.Open(), 1),
        (B2C, commands.Channel.OpenOk(), 1),
    ]
    built = wire(*frames)  # type: ignore[arg-type]
    if header != b"AMQP\x00\x00\x09\x01":
        built[0] = built[0]._replace(raw=header)
    names = [f.name for f in built]
    return built[: names.index(until) + 1]


def running_view(**values: Any) -> BrokerView:
    record: dict[str, Any] = {
        "name": "127.0.0.1:5000 -> 127.0.0.1:5672",
        "state": "running",
        "protocol": "AMQP 0-9-1",
        "user": "bob",
        "vhost": "orders-vhost",
        "auth_mechanism": "PLAIN",
        "timeout": 13,
        "frame_max": 16384,
        "channel_max": 9,
        "client_properties": {"connection_name": "orders", "product": "demo"},
        "channels": 1,
        "peer_host": "127.0.0.1",
        "peer_port": 5000,
        "port": 5672,
    }
    record.update(values)
    return BrokerView("rabbitmqctl", record)


def row(rows: list[Difference], field: str) -> Difference:
    (found,) = [r for r in rows if r.field == field]
    return found


def test_timeout_is_tune_ok_s_heartbeat_not_tune_s_proposal() -> None:
    rows = differences(running_view(), handshake())
    timeout = row(rows, "timeout")
    assert (timeout.broker, timeout.wire, timeout.agrees) == (13, 13, True)
    assert "not the one the broker proposed in Tune" in timeout.why
    assert "TuneOk carried heartbeat 13, where Tune proposed 60" in timeout.why
    assert "tune-ok (10.31)" in timeout.source
    assert timeout.seen_on == ("3.10.8", "4.0.5")
    assert row(rows, "frame_max").wire == 16384
    assert row(rows, "channel_max").wire == 9
    assert "Tune proposed 2047" in row(rows, "channel_max").why


def test_before_tune_ok_the_broker_holds_its_handshake_values() -> None:
    view = running_view(state="tuning", timeout=3, frame_max=4096, channel_max=None)
    rows = differences(view, handshake(until="Connection.Tune"))
    assert not row(rows, "timeout").agrees
    assert row(rows, "timeout").wire is None
    assert "no TuneOk has been sent yet" in row(rows, "timeout").why
    assert row(rows, "state").wire == "tuning"
    assert row(rows, "state").agrees


def test_the_name_is_the_endpoints_and_the_client_s_name_is_in_its_properties() -> None:
    name = row(differences(running_view(), handshake()), "name")
    assert not name.agrees
    assert (name.broker, name.wire) == ("127.0.0.1:5000 -> 127.0.0.1:5672", "orders")
    assert "client_properties as connection_name" in name.why


@pytest.mark.parametrize("masked", [False, True])
def test_the_user_is_plain_s_authcid_and_the_password_is_never_shown(
    masked: bool,
) -> None:
    frames = handshake()
    if masked:
        frames = [shown(f) for f in frames]
    rows = differences(running_view(), frames)
    user = row(rows, "user")
    assert (user.broker, user.wire, user.agrees) == ("bob", "bob", True)
    assert "RFC 4616" in user.source
    assert "s3cret" not in json.dumps([r.to_json() for r in rows])


def test_amqplain_s_login_is_the_user() -> None:
    login = "\x05LOGINS\x00\x00\x00\x03bob\x08PASSWORDS\x00\x00\x00\x02pw"
    frames = handshake(response=login, mechanism="AMQPLAIN")
    rows = differences(running_view(auth_mechanism="AMQPLAIN"), frames)
    assert row(rows, "user").wire == "bob"
    assert row(rows, "auth_mechanism").agrees


def test_the_vhost_is_recorded_only_once_open_is_accepted() -> None:
    frames = handshake(until="Connection.Open")
    rows = differences(running_view(state="opening", vhost=None), frames)
    vhost = row(rows, "vhost")
    assert (vhost.broker, vhost.wire, vhost.agrees) == (None, "orders-vhost", False)
    assert row(rows, "state").wire == "opening"
    assert "running only once it sent Connection.OpenOk" in row(rows, "state").why


def test_state_running_follows_open_ok() -> None:
    rows = differences(running_view(), handshake(until="Connection.OpenOk"))
    assert row(rows, "state").wire == "running"
    assert row(rows, "state").agrees
    assert row(rows, "channels").wire == 0
    assert not row(rows, "channels").agrees


def test_0_9_s_header_is_recorded_as_0_9_1() -> None:
    rows = differences(running_view(), handshake(header=b"AMQP\x01\x01\x00\x09"))
    protocol = row(rows, "protocol")
    assert (protocol.broker, protocol.wire, protocol.agrees) == (
        "AMQP 0-9-1",
        "AMQP 0-9",
        False,
    )
    assert "the client sent the header AMQP 1 1 0 9" in protocol.why
    assert row(differences(running_view(), handshake()), "protocol").agrees


def test_a_proxied_connection_s_peer_is_the_proxy() -> None:
    rows = differences(running_view(), handshake(), client="10.1.2.3:40000")
    peer = row(rows, "peer")
    assert (peer.broker, peer.wire, peer.agrees) == (
        "127.0.0.1:5000",
        "10.1.2.3:40000",
        False,
    )
    assert "the proxy's own socket" in peer.why
    assert "peer" not in {r.field for r in differences(running_view(), handshake())}


def test_agreeing_fields_are_listed_as_agreeing() -> None:
    rows = differences(running_view(), handshake())
    agreeing = {r.field for r in rows if r.agrees}
    assert agreeing >= {
        "state",
        "protocol",
        "user",
        "vhost",
        "auth_mechanism",
        "timeout",
        "frame_max",
        "channel_max",
        "channels",
        "client_properties",
    }
    assert all(r.why and r.source for r in rows)


def test_client_properties_name_the_keys_that_differ() -> None:
    view = running_view(client_properties={"connection_name": "orders", "product": 2})
    properties = row(differences(view, handshake()), "client_properties")
    assert not properties.agrees
    assert "they differ in product." in properties.why


def test_byte_counts_are_the_frames_bytes() -> None:
    frames = handshake()
    sent = sum(f.size for f in frames if f.direction is C2B)
    rows = differences(running_view(recv_oct=sent, send_oct=1), frames)
    assert row(rows, "recv_oct").agrees
    assert not row(rows, "send_oct").agrees


def test_a_connection_not_listed_has_no_rows() -> None:
    assert differences(BrokerView("rabbitmqctl", {}, problem="not listed"), []) == []
