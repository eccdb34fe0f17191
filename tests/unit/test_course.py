"""Content lint for the lessons: manifest, sections, placeholders, links, shape.

Every check collects all the problems it finds and reports them together, so
one run of this file lists everything a lesson writer has to fix.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from string import punctuation
from typing import Final

import pytest

from explorer.course import placeholders as filling
from explorer.course.checks import CHECKS
from explorer.course.lessons import (
    NOT_SEEN,
    PROTOCOLS,
    Course,
    Lesson,
    experiment_heading,
    lessons_dir,
    load_course,
    placeholders,
    render,
)
from explorer.lab.registry import EXPERIMENTS
from explorer.protocol import Direction
from explorer.protocol.amqp10.descriptors import COMPOSITES, Role
from explorer.protocol.amqp10.frames import HEARTBEAT
from explorer.protocol.amqp10.lifecycle import ANYTIME
from explorer.protocol.dialect import DIALECTS
from explorer.protocol.frames import Frame
from explorer.protocol.lifecycle import LifecycleModel, Phase
from explorer.recording.capture import load
from tests.conftest import (
    CAPTURE_FILES,
    FRAME_NAMES,
    METHODS,
    SPECIAL_FRAMES,
    load_capture,
    named_frame,
)
from tests.unit.test_amqp10_lifecycle import FIXTURE, observe_all

#: Frames a lesson may name in a placeholder although the happy path never
#: carries them: they render as NOT_SEEN until a learner's connection does.
RARE_FRAMES: Final = frozenset(
    {
        "Connection.Secure",
        "Connection.SecureOk",
        "Connection.Blocked",
        "Connection.Unblocked",
    }
)
#: The frame names of AMQP 1.0: performatives, SASL bodies, headers, empty frame.
AMQP10_NAMES: Final = frozenset(
    {c.name for c in COMPOSITES if c.role in (Role.PERFORMATIVE, Role.SASL)}
    | {"sasl-header", "amqp-header", HEARTBEAT}
)
#: Phases a 1.0 run has no lesson of its own for: 0-9-1's lesson (no 1.0 TLS yet).
SHARED_PHASES: Final = (Phase.TLS,)
TRY_IT: Final = "Try it"
MIN_WORDS, MAX_WORDS = 150, 450
#: A topic lesson may be longer; each experiment section adds to the budget.
MAX_TOPIC_WORDS, WORDS_PER_EXPERIMENT = 900, 220
#: A lesson is read in a terminal pane about this wide; fenced lines do not wrap.
PANE_COLUMNS: Final = 60
MAX_TABLE_COLUMNS: Final = 3

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)
SLUG_DROP = re.compile(
    "[" + re.escape(punctuation.replace("-", "").replace("_", "")) + "]"
)


@pytest.fixture(scope="module")
def course() -> Course:
    """The course as the app loads it."""
    return load_course()


@pytest.fixture(scope="module")
def amqp10_frames() -> list[Frame]:
    """Both directions of the recorded AMQP 1.0 lifecycle, in wire order."""
    capture = load(FIXTURE)
    frames = [f for d in Direction for f in capture.decode(d) if isinstance(f, Frame)]
    return sorted(frames, key=lambda f: f.t)


def names_of(protocol: str) -> frozenset[str]:
    """The frame names a lesson of `protocol` may explain."""
    return FRAME_NAMES if protocol == PROTOCOLS[0] else AMQP10_NAMES


def prose_lines(text: str) -> Iterator[tuple[bool, str]]:
    """Each line of a lesson, and whether it sits inside a fenced code block."""
    fenced = False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            yield True, line
            continue
        yield fenced, line


def headings(text: str, level: int | None = None) -> list[str]:
    """The heading texts of a lesson (of one level, if given), code skipped."""
    found = []
    for fenced, line in prose_lines(text):
        match = HEADING.match(line)
        if not fenced and match and (level is None or len(match.group(1)) == level):
            found.append(match.group(2))
    return found


def looks_like_frame(title: str) -> bool:
    """A heading a reader would take for a frame name (typos included)."""
    if title.startswith("Experiment: "):
        return False  # an experiment's name may hold a dot (amqp-1.0)
    return "." in title or title in SPECIAL_FRAMES


def slugs(text: str) -> set[str]:
    """Anchors of a lesson's headings, as Textual's Markdown widget makes them."""
    used: dict[str, int] = {}
    anchors = set()
    for title in headings(text):
        slug = re.sub(r"\s", "-", SLUG_DROP.sub("", title.strip().lower()))
        count = used.get(slug, 0)
        used[slug] = count + 1
        anchors.add(f"{slug}-{count}" if count else slug)
    return anchors


def frame_of(path: str) -> str | None:
    """The frame a placeholder path names: its longest prefix that is a frame."""
    parts = path.split(".")
    for split in range(len(parts), 0, -1):
        name = ".".join(parts[:split])
        if name in FRAME_NAMES:
            return name
    return None


def check(problems: list[str]) -> None:
    assert not problems, "\n".join(problems)


def test_manifest_format_version_is_1() -> None:
    data = tomllib.loads((lessons_dir() / "course.toml").read_text(encoding="utf-8"))
    assert data["format_version"] == 1
    assert str(data.get("title", "")).strip(), "the course needs a title"


def test_every_phase_has_exactly_one_lesson_in_phase_order(course: Course) -> None:
    taught = [
        lesson.phase.value
        for lesson in course.lessons
        if lesson.phase and lesson.protocol == PROTOCOLS[0]
    ]
    twice = sorted({phase for phase in taught if taught.count(phase) > 1})
    untaught = [phase.value for phase in Phase if phase.value not in taught]
    assert not twice, f"more than one lesson teaches {twice}"
    assert not untaught, f"no lesson teaches {untaught}"
    assert taught == [phase.value for phase in Phase], f"out of phase order: {taught}"


def test_amqp10_lessons_teach_its_plan_in_order_the_rest_is_0_9_1s(
    course: Course,
) -> None:
    """Each phase of the 1.0 plan has one 1.0 lesson, in plan order, except
    those a 1.0 connection goes through as a 0-9-1 one: 0-9-1's lesson."""
    plan = DIALECTS["1.0"].plan_for(True)
    taught = [x.phase for x in course.lessons if x.protocol == "1.0" and x.phase]
    assert taught == [phase for phase in plan if phase not in SHARED_PHASES]
    assert set(PROTOCOLS) == set(DIALECTS)
    for phase in plan:
        lesson = course.lesson_for(phase, "1.0")
        assert lesson.phase is phase
        assert lesson.protocol == ("0-9-1" if phase in SHARED_PHASES else "1.0")
    assert course.lesson_for(Phase.OPEN).protocol == "0-9-1"


def test_every_lesson_has_a_title_and_opens_with_it(course: Course) -> None:
    problems = []
    for lesson in course.everything:
        if not lesson.title.strip():
            problems.append(f"{lesson.file}: the manifest gives no title")
        first = lesson.text.lstrip().splitlines()[0] if lesson.text.strip() else ""
        if not first.startswith("# "):
            problems.append(f"{lesson.file}: does not open with a '# Title' line")
    check(problems)


def test_listed_files_exist_and_no_lesson_is_unlisted(course: Course) -> None:
    root = lessons_dir()
    listed = [lesson.file for lesson in course.everything]
    assert len(listed) == len(set(listed)), f"a file is listed twice: {listed}"
    missing = [name for name in listed if not (root / name).is_file()]
    assert not missing, f"listed but missing: {missing}"
    unlisted = sorted({p.name for p in root.glob("*.md")} - set(listed))
    assert not unlisted, f"in lessons/ but not in course.toml: {unlisted}"


def test_listed_frames_are_real_and_have_a_section(course: Course) -> None:
    problems = []
    for lesson in course.everything:
        sections = headings(lesson.text, level=2)
        if len(lesson.frames) != len(set(lesson.frames)):
            problems.append(f"{lesson.file}: a frame is listed twice")
        for name in lesson.frames:
            if name not in names_of(lesson.protocol):
                problems.append(f"{lesson.file}: {name!r} is not a frame name")
            if name not in sections:
                problems.append(f"{lesson.file}: no '## {name}' section")
    check(problems)


def phases_filing(name: str) -> set[Phase]:
    """Every phase the lifecycle table files a frame called `name` under."""
    filed = set()
    for before in Phase:
        for direction in Direction:
            transition = LifecycleModel(before).observe(named_frame(direction, name))
            if not transition.violation:
                filed.add(transition.phase)
    return filed


def amqp10_phases_filing(frames: list[Frame], name: str) -> set[Phase]:
    """Every phase the 1.0 table files `name` under in the recorded lifecycle,
    and those it allows it in at any time."""
    filed = {t.phase for t in observe_all(frames) if t.frame.name == name}
    for (_, anytime), (_, phases, _) in ANYTIME.items():
        filed |= set(phases) if anytime == name else set()
    return filed


def test_a_phase_lessons_frames_lead_to_or_occur_in_its_phase(
    course: Course, amqp10_frames: list[Frame]
) -> None:
    problems = [
        f"{lesson.file}: {name} is in its frames, but the lifecycle table never "
        f"files it under the {lesson.phase.value} phase"
        for lesson in course.lessons
        if lesson.phase is not None
        for name in lesson.frames
        if lesson.phase
        not in (
            phases_filing(name)
            if lesson.protocol == PROTOCOLS[0]
            else amqp10_phases_filing(amqp10_frames, name)
        )
    ]
    check(problems)


def test_frame_like_headings_are_listed_in_frames(course: Course) -> None:
    problems = [
        f"{lesson.file}: '## {title}' looks like a frame but is not in its "
        f"frames (a typo, or a frame missing from course.toml?)"
        for lesson in course.everything
        for title in headings(lesson.text, level=2)
        if (looks_like_frame(title) or title in names_of(lesson.protocol))
        and title not in lesson.frames
    ]
    check(problems)


@pytest.mark.parametrize("path", CAPTURE_FILES, ids=[p.stem for p in CAPTURE_FILES])
def test_every_captured_frame_has_a_section(course: Course, path: Path) -> None:
    capture = load_capture(path.stem)
    seen = {
        item.name
        for direction in Direction
        for item in capture.decode(direction)
        if isinstance(item, Frame)
    }
    taught = {name for lesson in course.everything for name in lesson.frames}
    assert not seen - taught, f"no lesson has a section for {sorted(seen - taught)}"


def test_every_frame_of_the_amqp10_capture_has_a_1_0_section(
    course: Course, amqp10_frames: list[Frame]
) -> None:
    seen = {frame.name for frame in amqp10_frames}
    taught = {n for x in course.lessons if x.protocol == "1.0" for n in x.frames}
    assert not seen - taught, f"no 1.0 lesson has a section for {seen - taught}"


def test_placeholders_resolve_on_the_happy_path(
    course: Course, happy_frames: list[Frame], amqp10_frames: list[Frame]
) -> None:
    """A 0-9-1 placeholder on the 0-9-1 happy path (or a rare frame's field), a
    1.0 one on the recorded 1.0 lifecycle."""
    assert frozenset(METHODS) >= RARE_FRAMES, "the allowance names real frames"
    on_happy_path = {frame.name for frame in happy_frames}
    problems = []
    for lesson in course.everything:
        for path in placeholders(lesson.text):
            name = frame_of(path)
            where = f"{lesson.file}: {{{{{path}}}}}"
            if filling.split(path)[1] in AMQP10_NAMES:
                if render(f"{{{{{path}}}}}", amqp10_frames) == NOT_SEEN:
                    problems.append(f"{where}: not on the recorded 1.0 lifecycle")
            elif name is None:
                problems.append(f"{where} names no frame")
            elif name in on_happy_path:
                if render(f"{{{{{path}}}}}", happy_frames) == NOT_SEEN:
                    problems.append(f"{where}: {name} has no such field")
            elif name in RARE_FRAMES:
                field = path[len(name) + 1 :].split(".")[0]
                if field not in METHODS[name].__slots__:
                    problems.append(f"{where}: {name} has no field {field!r}")
            else:
                problems.append(f"{where}: {name} is not in the happy path")
    check(problems)


def test_every_lesson_ends_with_try_it(course: Course) -> None:
    problems = []
    for lesson in course.everything:
        sections = headings(lesson.text, level=2)
        if sections.count(TRY_IT) != 1:
            problems.append(f"{lesson.file}: needs exactly one '## {TRY_IT}'")
        elif sections[-1] != TRY_IT:
            problems.append(f"{lesson.file}: '## {TRY_IT}' must be the last section")
    check(problems)


def test_links_resolve(course: Course) -> None:
    root = lessons_dir()
    problems = []
    for lesson in course.everything:
        for fenced, line in prose_lines(lesson.text):
            if fenced:
                continue
            for target in LINK.findall(line):
                if SCHEME.match(target):
                    continue  # an outside address: not ours to check
                location, _, anchor = target.partition("#")
                text = lesson.text
                if location:
                    file = (root / lesson.file).parent / location
                    if not file.is_file():
                        problems.append(f"{lesson.file}: link to missing {target}")
                        continue
                    if file.suffix != ".md":
                        continue
                    text = file.read_text(encoding="utf-8")
                if anchor and anchor not in slugs(text):
                    problems.append(f"{lesson.file}: no heading for #{anchor}")
    check(problems)


def test_lessons_are_short_enough_to_read_in_a_pane(course: Course) -> None:
    problems = []
    for lesson in course.everything:
        words = len(lesson.text.split())
        sections = sum(lesson.has_section(name) for name in EXPERIMENTS)
        most = (MAX_TOPIC_WORDS if lesson.phase is None else MAX_WORDS) + (
            sections * WORDS_PER_EXPERIMENT
        )
        if not MIN_WORDS <= words <= most:
            problems.append(f"{lesson.file}: {words} words, not {MIN_WORDS}-{most}")
        for fenced, line in prose_lines(lesson.text):
            if fenced and len(line) > PANE_COLUMNS:
                problems.append(
                    f"{lesson.file}: code line wider than {PANE_COLUMNS}: {line!r}"
                )
            cells = line.strip().strip("|").split("|")
            is_row = not fenced and line.lstrip().startswith("|")
            if is_row and len(cells) > MAX_TABLE_COLUMNS:
                problems.append(
                    f"{lesson.file}: table with {len(cells)} columns: {line!r}"
                )
    check(problems)


def test_lesson_anchor_is_the_section_heading(course: Course) -> None:
    lesson: Lesson = course.lesson_for(Phase.TUNE)
    assert lesson.anchor_for("Connection.Tune") == "Connection.Tune"
    assert lesson.anchor_for("Basic.Publish") is None


def test_every_named_check_exists_and_every_check_is_used(course: Course) -> None:
    named = [name for lesson in course.everything for name in lesson.checks]
    assert sorted(set(named)) == sorted(CHECKS), "each check judges one lesson's task"
    assert len(named) == len(set(named))


def test_every_experiment_has_one_section_and_a_lesson_offering_it(
    course: Course,
) -> None:
    problems = []
    offered = {name for lesson in course.everything for name in lesson.experiments}
    for name in EXPERIMENTS:
        with_section = [x.file for x in course.everything if x.has_section(name)]
        if len(with_section) != 1:
            problems.append(f"{name}: {len(with_section)} '{experiment_heading(name)}'")
        if name not in offered:
            problems.append(f"{name}: no lesson offers it (experiments = [...])")
    for lesson in course.everything:
        problems += [
            f"{lesson.file}: offers {name!r}, which is not an experiment"
            for name in lesson.experiments
            if name not in EXPERIMENTS
        ]
        problems += [
            f"{lesson.file}: '## {title}' names no experiment"
            for title in headings(lesson.text, level=2)
            if title.startswith("Experiment: ")
            and title.removeprefix("Experiment: ") not in EXPERIMENTS
        ]
    check(problems)


def test_topics_have_unique_slugs_and_no_phase(course: Course) -> None:
    slugs_seen = [topic.slug for topic in course.topics]
    assert course.topics, "the course has topic lessons"
    assert all(slugs_seen), slugs_seen
    assert len(slugs_seen) == len(set(slugs_seen)), slugs_seen
    assert all(topic.phase is None for topic in course.topics)
