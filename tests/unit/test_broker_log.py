"""Finding one connection's lines in the broker's log (explorer.lab.broker)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from explorer.lab.broker import log_lines

LOG = "".join(
    line + "\n"
    for line in (
        "2026-11-25 00:13:43.042579+00:00 [info] <0.870.0> accepting AMQP"
        " connection <0.870.0> (127.0.0.1:47998 -> 127.0.0.1:5672)",
        "2026-11-25 00:13:43.085705+00:00 [info] <0.870.0> connection"
        " <0.870.0> (127.0.0.1:47998 -> 127.0.0.1:5672): user 'guest'"
        " authenticated and granted access to vhost '/'",
        "2026-11-25 00:13:43.100000+00:00 [info] <0.871.0> accepting AMQP"
        " connection <0.871.0> (127.0.0.1:47999 -> 127.0.0.1:5672)",
        "2026-11-25 00:13:43.150000+00:00 [error] <0.880.0> Channel error on"
        " connection <0.870.0> (127.0.0.1:47998 -> 127.0.0.1:5672, vhost: '/',"
        " user: 'guest'), channel 1:",
        "2026-11-25 00:13:43.150000+00:00 [error] <0.880.0> operation"
        " queue.declare caused a channel exception access_refused",
        "2026-11-25 00:13:43.181077+00:00 [info] <0.870.0> closing AMQP"
        " connection <0.870.0> (127.0.0.1:47998 -> 127.0.0.1:5672, vhost: '/',"
        " user: 'guest')",
        "2026-11-25 00:20:00.000000+00:00 [info] <0.990.0> accepting AMQP"
        " connection <0.990.0> (127.0.0.1:50000 -> 127.0.0.1:5672)",
        "2026-11-25 00:20:01.000000+00:00 [error] <0.990.0> closing AMQP"
        " connection <0.990.0> (127.0.0.1:50000 -> 127.0.0.1:5672):",
        "  a continuation line without a timestamp",
    )
)


def write(tmp_path: Path, text: str = LOG) -> Path:
    path = tmp_path / "rabbit@test.log"
    path.write_text(text, encoding="utf-8")
    return path


def test_lines_of_one_connection_include_its_process_and_channel_errors(
    tmp_path: Path,
) -> None:
    lines = log_lines(write(tmp_path), "127.0.0.1:47998")
    assert [line.split("] ", 1)[1][:24] for line in lines] == [
        "<0.870.0> accepting AMQP",
        "<0.870.0> connection <0.",
        "<0.880.0> Channel error ",
        "<0.880.0> operation queu",
        "<0.870.0> closing AMQP c",
    ], "the other connection's lines are left out, the channel's are kept"
    assert lines[0].startswith("00:13:43.042 [info]"), "the date is shortened"


def test_continuation_lines_stay_with_their_entry(tmp_path: Path) -> None:
    lines = log_lines(write(tmp_path), "127.0.0.1:50000")
    assert len(lines) == 2
    assert lines[1].endswith("\n  a continuation line without a timestamp")


def test_a_reused_port_shows_only_the_latest_connection(tmp_path: Path) -> None:
    again = LOG.replace("47999", "47998").replace("<0.871.0>", "<0.990.1>")
    reused = again + (
        "2026-11-25 00:30:00.000000+00:00 [info] <0.995.0> accepting AMQP connection "
        "<0.995.0> (127.0.0.1:47998 -> 127.0.0.1:5672)\n"
    )
    lines = log_lines(write(tmp_path, reused), "127.0.0.1:47998")
    assert len(lines) == 1
    assert "<0.995.0>" in lines[0]


def test_a_connection_the_log_never_saw_has_no_lines(tmp_path: Path) -> None:
    assert log_lines(write(tmp_path), "127.0.0.1:1") == []


def test_entries_logged_before_the_connection_began_are_left_out(
    tmp_path: Path,
) -> None:
    """A port reused later: the earlier connection's lines are not this one's."""
    since = datetime(2026, 11, 25, 0, 15, tzinfo=UTC)
    assert log_lines(write(tmp_path), "127.0.0.1:47998", since) == []
    later = log_lines(write(tmp_path), "127.0.0.1:50000", since)
    assert len(later) == 2
