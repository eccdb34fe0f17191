"""AMQP URIs parsed as RabbitMQ specifies them, with where each value came from."""

from __future__ import annotations

import pytest
from yarl import URL

from explorer.net.endpoint import EndpointError, parse, redact


def sources(url: str) -> dict[str, tuple[object, str]]:
    return {s.name: (s.value, s.source) for s in parse(url).settings}


def test_defaults_fill_what_the_url_leaves_out() -> None:
    endpoint = parse("amqp://")
    assert (endpoint.user, endpoint.password) == ("guest", "guest")
    assert (endpoint.host, endpoint.port, endpoint.vhost) == ("localhost", 5672, "/")
    assert (endpoint.heartbeat, endpoint.auth, endpoint.tls) == (60, "PLAIN", False)
    assert all(
        source == "default"
        for name, (_, source) in sources("amqp://").items()
        if name != "scheme"
    )


def test_everything_given_in_the_url_is_marked_as_such() -> None:
    url = (
        "amqps://us%40er:p%3Ass@broker.example:5999/my%2Fvhost?heartbeat=5"
        "&frame_max=8192&channel_max=16&connection_name=demo&auth=external"
        "&connection_timeout=2500&cafile=/tmp/ca.pem"
    )
    endpoint = parse(url)
    assert (endpoint.user, endpoint.password) == ("us@er", "p:ss")
    assert (endpoint.host, endpoint.port, endpoint.vhost) == (
        "broker.example",
        5999,
        "my/vhost",
    )
    assert (endpoint.heartbeat, endpoint.frame_max, endpoint.channel_max) == (
        5,
        8192,
        16,
    )
    assert (endpoint.connection_name, endpoint.auth, endpoint.connect_timeout) == (
        "demo", "EXTERNAL", 2.5,
    )  # fmt: skip
    assert endpoint.tls
    given = sources(url)
    for name in ("user", "host", "port", "vhost", "heartbeat", "frame_max", "cafile"):
        assert given[name][1] == "url", name
    assert given["password"] == ("***", "url")


def test_amqps_defaults_to_5671_and_aliases_are_read() -> None:
    endpoint = parse("amqps://h/?name=app&auth_mechanism=plain")
    assert endpoint.port == 5671
    assert endpoint.connection_name == "app"


def test_the_url_handed_to_aiormq_round_trips() -> None:
    endpoint = parse("amqp://u:p%2Fw@h/v%20h?heartbeat=7&connection_name=x%20y")
    handed = URL(endpoint.aiormq_url())
    assert handed.password == "p/w"
    assert handed.path == "/v h"
    assert handed.query["heartbeat"] == "7"
    assert handed.query["name"] == "x y"
    assert "p/w" not in endpoint.redacted
    assert "p%2Fw" not in endpoint.redacted


def test_unknown_options_are_listed_as_ignored() -> None:
    (setting,) = [
        s for s in parse("amqp://h/?colour=blue").settings if s.name == "colour"
    ]
    assert "ignored" in setting.note


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://h/", "the scheme is 'http'"),
        ("h:5672", "an AMQP URL starts with amqp:// or amqps://"),
        ("amqp://h:99999/", "is not a valid URL: the port is not a number from 1"),
        ("amqp://h:0/", "port 0 is not a number from 1 to 65535"),
        ("amqp://u:secret@:5672/", "names no host"),
        (f"amqp://{'a' * 300}/", "the host 'a{39}…' is 300 characters long"),
        (f"amqp://{'a' * 64}.example/", "a part between dots 64 characters long"),
        ("amqp://a..b/", "a part between dots 0 characters long"),
        ("amqp://h/a/b", "more than one segment"),
        ("amqp://h/?heartbeat=-1", "heartbeat=-1 is out of range"),
        ("amqp://h/?frame_max=big", "frame_max='big' is not a whole number"),
        ("amqp://h/?auth=kerberos", "auth=kerberos is not a mechanism"),
        ("amqp://u:secret@[::1/", "is not a valid URL"),
    ],
)
def test_bad_uris_name_the_bad_part(url: str, message: str) -> None:
    with pytest.raises(EndpointError, match=message) as caught:
        parse(url)
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize(
    "host", ["localhost.", "[::1]", "127.0.0.1", f"{'a' * 63}.example", "ä.example"]
)
def test_host_names_dns_can_carry_are_accepted(host: str) -> None:
    assert parse(f"amqp://{host}:5673/").port == 5673


def test_redact_hides_passwords_even_in_broken_urls() -> None:
    assert redact("amqp://u:secret@h/") == "amqp://u:***@h/"
    assert redact("amqp://u:secret@[::1/") == "amqp://u:***@[::1/"
    assert redact("amqp://h/") == "amqp://h/"
