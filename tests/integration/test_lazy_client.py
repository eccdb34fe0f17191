"""The lazy-client experiment on each live broker: what it records at each stage.

One `amqp-explorer trace --scenario lazy-client --json` per broker (the
module's `stages` fixture); each test reads what the broker listed, counted
and logged at one of its four stages. What is asserted is what RabbitMQ
3.10.8 and 4.0.5 were seen to do: nothing listed, counted (3.x) but not
logged while TCP is open and silent; listed as `starting` with an empty user
from the protocol header on; `running` as the login user after the first
publish. Where the versions differ (the Sockets line, the log's wording) the
claim is asserted per version.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from yarl import URL

from tests.conftest import run_cli
from tests.integration.conftest import records

Stages = dict[int, dict[str, Any]]


@pytest.fixture(scope="module")
def run(broker_url: str) -> list[dict[str, Any]]:
    """The records of one run of the experiment on this broker."""
    result = run_cli("trace", broker_url, "--scenario", "lazy-client", "--json")
    assert result.returncode == 0, result.stderr + result.stdout
    return records(result.stdout)


@pytest.fixture(scope="module")
def stages(run: list[dict[str, Any]]) -> Stages:
    """Each stage's facts, by stage number."""
    return {
        r["facts"]["stage"]: r["facts"]
        for r in run
        if r["event"] == "report" and "stage" in r["facts"]
    }


def test_the_four_stages_come_in_order_at_their_phases(
    run: list[dict[str, Any]],
) -> None:
    reports = [r for r in run if r["event"] == "report" and "stage" in r["facts"]]
    assert [(r["facts"]["stage"], r["phase"]) for r in reports] == [
        (1, "endpoint"), (2, "tcp"), (3, "header"), (4, "operations"),
    ]  # fmt: skip
    assert not [r for r in run if r["event"] == "failed"]
    assert run[-1]["facts"]["as_expected"] is True
    tcp = next(r["facts"] for r in run if r["phase"] == "tcp")
    ports = {reports[i]["facts"]["client_port"] for i in (1, 2, 3)}
    assert ports == {int(tcp["local"].rsplit(":", 1)[1])}


def test_nothing_is_listed_or_logged_before_the_protocol_header(
    stages: Stages,
) -> None:
    assert stages[1]["client_port"] is None
    for stage in (1, 2):
        assert stages[stage]["list_connections"] == []
        assert stages[stage]["broker_log"] == []


def test_the_header_makes_a_starting_connection_with_no_user(
    stages: Stages, broker_major: int
) -> None:
    (row,) = stages[3]["list_connections"]
    port = stages[3]["client_port"]
    assert row["name"].startswith(f"127.0.0.1:{port} -> ")
    assert (row["user"], row["state"], row["vhost"], row["channels"]) == (
        "", "starting", "none", "0",
    )  # fmt: skip
    (line,) = stages[3]["broker_log"]
    # 3.10.8 names the pid and puts the addresses in parentheses; 4.0.5 does not.
    pid = r"<\d+\.\d+\.\d+> \(" if broker_major < 4 else ""
    assert re.search(rf"accepting AMQP connection {pid}127\.0\.0\.1:{port} -> ", line)


def test_the_first_publish_leaves_a_running_connection_of_the_login_user(
    stages: Stages, broker_url: str
) -> None:
    (row,) = stages[4]["list_connections"]
    user = URL(broker_url).user
    assert (row["user"], row["state"], row["vhost"], row["channels"]) == (
        user, "running", "/", "1",
    )  # fmt: skip
    accepting, authenticated = stages[4]["broker_log"]
    assert "accepting AMQP connection" in accepting
    assert f"user '{user}' authenticated and granted access to vhost '/'" in (
        authenticated
    )


def test_rabbitmqctl_status_counts_sockets_on_3x_only(
    stages: Stages, broker_major: int
) -> None:
    for stage in stages.values():
        assert int(stage["broker_version"].split(".")[0]) == broker_major
        if broker_major >= 4:
            assert stage["sockets"] is None
            continue
        assert stage["sockets"]["limit"] > 0
        # From TCP accept on, this connection is one of them: counted, not listed.
        assert stage["sockets"]["used"] >= (1 if stage["stage"] > 1 else 0)


def test_the_connection_is_gone_once_the_run_ends(
    stages: Stages, ctl: Callable[..., str]
) -> None:
    listed = ctl("list_connections", "peer_port", "--no-table-headers").split()
    assert str(stages[4]["client_port"]) not in listed
