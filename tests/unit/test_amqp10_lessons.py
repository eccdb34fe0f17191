"""The AMQP 1.0 lessons' placeholders, filled from a recorded 1.0 connection.

A 1.0 frame is named by its performative (``{{sasl-outcome.code}}``), its
sender optionally first (``{{broker.open.max-frame-size}}``); fields go on
down into described values and maps. Values come from the recorded lifecycle
tests/captures/amqp10/lifecycle.jsonl (RabbitMQ 4.0.5, Proton 0.40.0); a
missing frame or a null field leaves a note naming it, never a hole.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explorer.course.lessons import (
    NO_FIELD,
    NO_FRAME,
    NOT_SEEN,
    Course,
    CourseError,
    load_course,
    placeholders,
    render,
)
from explorer.course.placeholders import split
from explorer.protocol.frames import B2C, C2B, Direction, Frame
from explorer.protocol.lifecycle import Phase
from explorer.recording.capture import load
from tests.conftest import capture_frames
from tests.unit.test_amqp10_lifecycle import FIXTURE


@pytest.fixture(scope="module")
def frames() -> list[Frame]:
    capture = load(FIXTURE)
    found = [f for d in Direction for f in capture.decode(d) if isinstance(f, Frame)]
    return sorted(found, key=lambda f: f.t)


@pytest.fixture(scope="module")
def course() -> Course:
    return load_course()


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("sasl-outcome.code", (None, "sasl-outcome", ["code"])),
        ("broker.open.max-frame-size", (B2C, "open", ["max-frame-size"])),
        ("client.attach.target.address", (C2B, "attach", ["target", "address"])),
        ("Connection.Tune.frame_max", (None, "Connection.Tune", ["frame_max"])),
        (
            "broker.Connection.Close.reply_code",
            (B2C, "Connection.Close", ["reply_code"]),
        ),
        ("ProtocolHeader.major", (None, "ProtocolHeader", ["major"])),
    ],
)
def test_a_path_names_its_sender_frame_and_fields(
    path: str, expected: tuple[Direction | None, str, list[str]]
) -> None:
    assert split(path) == expected
    assert placeholders(f"x {{{{{path}}}}} y") == [path]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{broker.open.max-frame-size}}", "131072"),
        ("{{client.open.max-frame-size}}", "32768"),
        ("{{open.max-frame-size}}", "32768"),  # the first open: the client's
        ("{{broker.open.channel-max}}", "63"),
        ("{{client.open.hostname}}", "vhost:/"),
        ("{{broker.open.properties.product}}", "RabbitMQ"),
        ("{{sasl-mechanisms.sasl-server-mechanisms}}", "PLAIN, AMQPLAIN, ANONYMOUS"),
        ("{{sasl-outcome.code}}", "0"),
        ("{{broker.begin.remote-channel}}", "0"),
        ("{{broker.begin.handle-max}}", "255"),
        ("{{client.attach.role}}", "false"),
        ("{{broker.attach.role}}", "true"),
        ("{{client.transfer.delivery-tag}}", "tag-1"),
        ("{{broker.disposition.state}}", "accepted"),
        ("{{broker.flow.link-credit}}", "170"),
    ],
)
def test_values_are_read_from_the_recorded_frames(
    frames: list[Frame], text: str, expected: str
) -> None:
    assert render(text, frames) == expected


def test_the_password_stays_masked(frames: list[Frame]) -> None:
    response = render("{{sasl-init.initial-response}}", frames)
    user, password = response.split("\x00")[1:]
    assert user.startswith("explorer-a10-")
    assert password
    assert set(password) == {"*"}


@pytest.mark.parametrize(
    ("text", "note"),
    [
        ("It was {{broker.open.hostname}}.", NO_FIELD.format(
            frame="open from the broker", field="hostname")),
        ("It was {{client.begin.remote-channel}}.", NO_FIELD.format(
            frame="begin from the client", field="remote-channel")),
        ("It was {{sasl-challenge.challenge}}.", NO_FRAME.format(
            frame="sasl-challenge")),
        ("It was {{open.no-such-field}}.", NO_FIELD.format(
            frame="open", field="no-such-field")),
    ],
)  # fmt: skip
def test_a_null_field_or_a_missing_frame_leaves_a_note(
    frames: list[Frame], text: str, note: str
) -> None:
    """Null on the wire is a field not carried (the broker's hostname)."""
    assert render(text, frames) == note
    assert render(f"| {text} |", frames) == f"| {NOT_SEEN} |"


def test_the_1_0_lessons_are_filled_whole_from_a_1_0_connection(
    course: Course, frames: list[Frame]
) -> None:
    for lesson in course.lessons:
        if lesson.protocol == "1.0":
            rendered = render(lesson.text, frames)
            assert "{{" not in rendered, lesson.file
            assert NOT_SEEN not in rendered, lesson.file
            assert "(No " not in rendered, lesson.file
            assert "(The " not in rendered, lesson.file


def test_before_any_frame_a_1_0_lesson_says_which_frame_is_awaited(
    course: Course,
) -> None:
    lesson = course.lesson_for(Phase.OPEN, "1.0")
    rendered = render(lesson.text, [])
    assert NO_FRAME.format(frame="open from the client") in rendered
    assert f"| max-frame-size | {NOT_SEEN} | {NOT_SEEN} |" in rendered


def test_a_0_9_1_connection_leaves_the_1_0_values_unseen(course: Course) -> None:
    happy = capture_frames("happy-path")
    rendered = render(course.lesson_for(Phase.AUTH, "1.0").text, happy)
    assert NO_FRAME.format(frame="sasl-mechanisms") in rendered


def test_lesson_for_picks_the_protocols_lesson_else_0_9_1s(course: Course) -> None:
    assert course.lesson_for(Phase.OPEN, "1.0").file == "23-amqp10-open.md"
    assert course.lesson_for(Phase.OPEN).file == "09-open.md"
    assert course.lesson_for(Phase.TCP, "1.0").file == "30-amqp10-tcp.md"
    assert course.lesson_for(Phase.TCP).file == "03-tcp.md"
    assert course.lesson_for(Phase.TLS, "1.0").file == "04-tls.md"
    assert course.lesson_for(Phase.TUNE, "1.0").file == "08-tune.md"
    assert course.lesson_for(Phase.HEARTBEAT, "1.0").anchor_for("heartbeat")


def test_a_protocol_no_dialect_has_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# A\n", encoding="utf-8")
    (tmp_path / "course.toml").write_text(
        'format_version = 1\n[[lesson]]\nphase = "open"\nfile = "a.md"\n'
        'protocol = "0-10"\n',
        encoding="utf-8",
    )
    with pytest.raises(CourseError, match="protocol '0-10'"):
        load_course(tmp_path)
