"""Lessons filled from the learner's frames: a value not seen leaves no hole.

`render` replaces a placeholder whose frame (or field) is missing together with
its unit: a table cell reads NOT_SEEN, a sentence of prose becomes a note of
its own (NO_FRAME or NO_FIELD). What "no fallback mid-sentence" means here,
checked on every lesson rendered with no frames, with the frames of the two
failed captures and with the happy path:

- no ``{{`` is left outside code;
- NOT_SEEN only ever fills a whole table cell;
- a note starts where a sentence may start (the start of a paragraph or list
  item, or after a sentence's end) and is followed by the end of the text, or
  by whitespace and a character that is not a lower-case letter.
"""

from __future__ import annotations

import re
from typing import Final

import pytest
from pamqp import commands
from pamqp.common import FieldTable

from explorer.course.lessons import (
    NO_FIELD,
    NO_FRAME,
    NOT_SEEN,
    Course,
    load_course,
    placeholders,
    render,
)
from explorer.protocol.frames import B2C, Frame
from tests.conftest import capture_frames, wire

NAME = r"[\w.]+"
NOTE: Final = re.compile(
    "|".join(
        re.escape(note).replace(r"\{frame\}", NAME).replace(r"\{field\}", NAME)
        for note in (NO_FRAME, NO_FIELD)
    )
)
#: What may come right before a note: the start, a paragraph break, a list
#: item's marker, or a sentence's end.
BEFORE: Final = re.compile(
    r"(?:\A|\n[ \t]*\n|\n[ \t]*(?:[-*+]|\d+\.)[ \t]+|^(?:[-*+]|\d+\.)[ \t]+"
    r"|[.!?][)\"'*`]*\s+)\Z"
)
AFTER: Final = re.compile(r"\s*\Z|\s+[^\sa-z]")
#: Runs whose frames the lessons are rendered from.
RUNS: Final = ("none", "wrong-password", "unknown-vhost", "happy-path")
FENCE: Final = re.compile(r"^\s*(```|~~~)")


@pytest.fixture(scope="module")
def course() -> Course:
    return load_course()


def frames_of(run: str) -> list[Frame]:
    return [] if run == "none" else capture_frames(run)


def outside_code(text: str) -> list[str]:
    """The lines of `text` outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def misplaced(rendered: str) -> list[str]:
    """Every fallback that does not stand where a sentence or a cell does."""
    problems = []
    prose = "\n".join(outside_code(rendered))
    for line in prose.splitlines():
        if "{{" in line:
            problems.append(f"placeholder left: {line!r}")
        for match in re.finditer(re.escape(NOT_SEEN), line):
            cell = line.startswith("|") and line[: match.start()].endswith("| ")
            if not (cell and line[match.end() :].startswith(" |")):
                problems.append(f"{NOT_SEEN} outside a whole table cell: {line!r}")
    for match in NOTE.finditer(prose):
        before, after = prose[: match.start()], prose[match.end() :]
        line_start = prose.rfind("\n", 0, match.start()) + 1
        if not (
            BEFORE.search(before) or BEFORE.search(prose[line_start : match.start()])
        ):
            problems.append(f"a note after a sentence's start: {before[-60:]!r}")
        if not AFTER.match(after):
            problems.append(f"a note before a sentence's end: {after[:60]!r}")
    return problems


@pytest.mark.parametrize("run", RUNS)
def test_no_lesson_has_a_fallback_mid_sentence(course: Course, run: str) -> None:
    frames = frames_of(run)
    problems = [
        f"{lesson.file} ({run}): {problem}"
        for lesson in course.everything
        for problem in misplaced(render(lesson.text, frames))
    ]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("run", RUNS)
def test_every_note_is_true_of_the_run(course: Course, run: str) -> None:
    """A note names a frame the lesson's placeholders use, and tells the truth:
    "No X" when the run has no X, "The X ... carried no y" when it has one."""
    names = {frame.name for frame in frames_of(run)}
    problems = []
    for lesson in course.everything:
        used = " ".join(placeholders(lesson.text))
        for note in NOTE.findall(render(lesson.text, frames_of(run))):
            named = note.split(" ")[1]
            seen = named in names
            if named not in used or seen != note.startswith("(The "):
                problems.append(f"{lesson.file} ({run}): {note}")
    assert not problems, "\n".join(problems)


TUNE: Final = wire((B2C, commands.Connection.Tune(2047, 131072, 60)))


@pytest.mark.parametrize(
    ("text", "frames", "expected"),
    [
        ("{{Connection.Tune.frame_max}}", TUNE, "131072"),
        ("{{Connection.Tune.frame_max}}", [], NOT_SEEN),
        ("{{Connection.Tune.nothing}}", TUNE, NOT_SEEN),
        ("| 13-16 | {{Connection.Tune.frame_max}} |", [], f"| 13-16 | {NOT_SEEN} |"),
        (
            "Bytes 13-16 are frame_max. Yours is {{Connection.Tune.frame_max}}.",
            TUNE,
            "Bytes 13-16 are frame_max. Yours is 131072.",
        ),
        (
            "Bytes 13-16 are frame_max. Yours is {{Connection.Tune.frame_max}}.\n"
            "The client answers.",
            [],
            "Bytes 13-16 are frame_max. (No Connection.Tune has crossed the wire "
            "yet.)\nThe client answers.",
        ),
        (
            "- frame_max, e.g. `{{Connection.Tune.frame_max}}` here. Then more.",
            [],
            "- (No Connection.Tune has crossed the wire yet.) Then more.",
        ),
        (
            "It is {{Connection.Tune.frame_max}}. And {{Connection.Tune.heartbeat}}.",
            [],
            "(No Connection.Tune has crossed the wire yet.)",
        ),
        (
            "Your broker names {{Connection.Tune.cluster}}.",
            TUNE,
            "(The Connection.Tune on the wire carried no cluster.)",
        ),
        (
            "```\n{{Connection.Tune.frame_max}} in code\n```",
            [],
            f"```\n{NOT_SEEN} in code\n```",
        ),
    ],
    ids=[
        "value",
        "bare-missing",
        "bare-no-field",
        "cell",
        "sentence-filled",
        "sentence-replaced",
        "list-item-and-e.g.",
        "one-note-for-two",
        "field-missing",
        "code",
    ],
)
def test_render(text: str, frames: list[Frame], expected: str) -> None:
    assert render(text, frames) == expected


def test_misplaced_finds_a_note_in_the_middle_of_a_sentence() -> None:
    """The check itself: what the old fallback did is caught."""
    note = NO_FRAME.format(frame="Channel.Close")
    assert misplaced(f"Bytes 11-12 hold the reply code, {note} (`00 C8` is 200).")
    assert misplaced(f"reply code {NOT_SEEN}, text")
    assert not misplaced(f"Bytes 11-12 hold the reply code. {note}\n\nNext.")


def started_by(version: str) -> list[Frame]:
    """A broker's Connection.Start naming RabbitMQ `version`."""
    properties: FieldTable = {"product": "RabbitMQ", "version": version}
    return wire((B2C, commands.Connection.Start(server_properties=properties)))


@pytest.mark.parametrize(
    ("frames", "shown"),
    [
        ([], "**RabbitMQ 4.x:** ANONYMOUS is offered."),
        (started_by("4.0.5"), "**Your broker, RabbitMQ 4.0.5:** ANONYMOUS is offered."),
        (
            started_by("3.10.8"),
            "*(RabbitMQ 4.x; yours is 3.10.8)* ANONYMOUS is offered.",
        ),
    ],
    ids=["no-start-yet", "the-learners-version", "another-version"],
)
def test_a_version_tag_says_whether_it_is_the_learners_broker(
    frames: list[Frame], shown: str
) -> None:
    assert render("[4.x] ANONYMOUS is offered.", frames) == shown
    assert render("- [4.x] ANONYMOUS is offered.", frames) == f"- {shown}"


@pytest.mark.parametrize("run", RUNS)
def test_every_version_tag_opens_its_paragraph(course: Course, run: str) -> None:
    """No `[N.x]` is left in a rendered lesson: each starts a paragraph or item."""
    for lesson in course.everything:
        rendered = render(lesson.text, frames_of(run))
        assert not re.search(r"\[\d+\.x\]", rendered), lesson.file
