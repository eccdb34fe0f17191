"""The course: lesson text for every phase, filled in from the learner's own frames.

Owns loading `lessons/course.toml` (the ordered manifest: a lesson per phase
and the topic lessons, each with its file, title, the frames it explains, its
try-it checks and the experiments it offers) and the Markdown files it lists,
finding the section about a frame or an experiment, and filling
`{{Frame.Name.field}}` placeholders with the values that frame carried on the
learner's own connection.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Final

from explorer.protocol.fields import JSON
from explorer.protocol.frames import Frame
from explorer.protocol.lifecycle import Phase
from explorer.protocol.queries import server_product
from explorer.protocol.values import value_at

FORMAT_VERSION: Final = 1
PLACEHOLDER: Final = re.compile(r"\{\{\s*([A-Za-z]+(?:\.[A-Za-z_][\w.-]*)+)\s*\}\}")
#: What a table cell (or a bare value) shows for a value not seen.
NOT_SEEN: Final = "(not on the wire yet)"
#: What a sentence of prose becomes when a value in it was not seen.
NO_FRAME: Final = "(No {frame} has crossed the wire yet.)"
NO_FIELD: Final = "(The {frame} on the wire carried no {field}.)"
#: A sentence ends at ., ! or ? (closing marks may follow) before whitespace
#: and a character that is not lower case, or at the end; "e.g." ends none.
SENTENCE_END: Final = re.compile(
    r"(?<!e\.g)(?<!i\.e)[.!?][)\"'*`]*(?=\s+[^\sa-z]|\s*$)"
)
LIST_ITEM: Final = re.compile(r"^\s*(?:[-*+]|\d+\.)\s+")
FENCE: Final = re.compile(r"^\s*(```|~~~)")
#: A paragraph or list item about one major version of RabbitMQ starts with
#: its tag, e.g. ``[4.x] RabbitMQ 4.x also offers ANONYMOUS ...``.
VERSION_TAG: Final = re.compile(r"\[(\d+)\.x\]\s*")
CODE_SPAN: Final = re.compile(r"`[^`\n]*`")


class CourseError(Exception):
    """The manifest or a lesson file is missing or wrong."""


@dataclass(frozen=True, slots=True)
class Lesson:
    """One lesson: the phase (or topic) it teaches and its Markdown text."""

    #: The phase it teaches; None for a topic lesson.
    phase: Phase | None
    title: str
    file: str
    #: Frame names with a ``## Name`` section in the text.
    frames: tuple[str, ...]
    text: str
    #: Names of the try-it checks (explorer.course.checks) that judge its task.
    checks: tuple[str, ...] = ()
    #: Names of the experiments (explorer.lab) it offers.
    experiments: tuple[str, ...] = ()
    #: A short name for a topic lesson ("" for phase lessons).
    slug: str = ""

    def anchor_for(self, frame_name: str) -> str | None:
        """The heading text of the section about `frame_name`, if there is one."""
        return frame_name if frame_name in self.frames else None

    def has_section(self, experiment: str) -> bool:
        """Whether the text has the section about `experiment`."""
        return f"\n{experiment_heading(experiment)}\n" in f"\n{self.text}\n"


@dataclass(frozen=True, slots=True)
class Course:
    """All lessons, in order."""

    title: str
    lessons: tuple[Lesson, ...]
    topics: tuple[Lesson, ...] = ()

    @property
    def everything(self) -> tuple[Lesson, ...]:
        """Phase lessons, then topic lessons."""
        return self.lessons + self.topics

    def teaching(self, experiment: str) -> Lesson | None:
        """The lesson with the section about `experiment`."""
        return next((x for x in self.everything if x.has_section(experiment)), None)

    def lesson_for(self, phase: Phase) -> Lesson:
        """The lesson that teaches `phase`.

        Raises:
            CourseError: no lesson teaches it (the content lint prevents this).
        """
        for lesson in self.lessons:
            if lesson.phase is phase:
                return lesson
        raise CourseError(f"no lesson teaches the {phase.value} phase")


def lessons_dir() -> Path:
    """Where the lessons are: inside the installed package, else the checkout."""
    packaged = Path(str(files("explorer"))) / "_lessons"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "lessons"


def load_course(directory: Path | None = None) -> Course:
    """Read the manifest and every lesson it lists.

    Raises:
        CourseError: naming the file and what is wrong with it.
    """
    root = directory or lessons_dir()
    manifest = root / "course.toml"
    try:
        data = tomllib.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CourseError(f"cannot read {manifest}: {exc}") from exc
    if data.get("format_version") != FORMAT_VERSION:
        raise CourseError(f"{manifest}: format_version must be {FORMAT_VERSION}")
    lessons = tuple(_lesson(root, entry) for entry in data.get("lesson", []))
    topics = tuple(_lesson(root, entry, topic=True) for entry in data.get("topic", []))
    return Course(str(data.get("title", "")), lessons, topics)


def experiment_heading(name: str) -> str:
    """The heading of the section about the experiment `name`."""
    return f"## {experiment_title(name)}"


def experiment_title(name: str) -> str:
    """The title of that section (what the lesson pane scrolls to)."""
    return f"Experiment: {name}"


def _lesson(root: Path, entry: dict[str, object], topic: bool = False) -> Lesson:
    try:
        phase = None if topic else Phase(str(entry["phase"]))
        slug = str(entry["slug"]) if topic else ""
        name = str(entry["file"])
        text = (root / name).read_text(encoding="utf-8")
    except KeyError as exc:
        raise CourseError(f"a lesson entry has no {exc.args[0]!r}") from exc
    except ValueError as exc:
        raise CourseError(f"unknown phase {entry.get('phase')!r}") from exc
    except OSError as exc:
        raise CourseError(f"cannot read lesson {entry.get('file')!r}: {exc}") from exc
    lists = [entry.get(key, []) for key in ("frames", "checks", "experiments")]
    if not all(isinstance(listed, list) for listed in lists):
        raise CourseError(f"{name}: frames, checks and experiments must be lists")
    frames, checks, experiments = (tuple(map(str, x)) for x in lists)  # type: ignore[call-overload]
    title = str(entry.get("title", ""))
    return Lesson(phase, title, name, frames, text, checks, experiments, slug)


def render(text: str, frames: Iterable[Frame]) -> str:
    """Fill ``{{Frame.Name.field}}`` placeholders from the first such frame seen.

    ``{{Connection.Tune.frame_max}}`` becomes the frame_max the broker's Tune
    carried; nested fields go on with dots, e.g.
    ``{{Connection.Start.server_properties.version}}``. A value not seen takes
    its whole unit with it, so no sentence is left with a hole: a table cell
    (or a unit that is nothing but the value) reads NOT_SEEN, and a sentence
    of prose is replaced by one that says which frame or field is missing.
    """
    seen: dict[str, Frame] = {}
    for frame in frames:
        seen.setdefault(frame.name, frame)
    return "\n".join(_rendered(kind, unit, seen) for kind, unit in _units(text))


def placeholders(text: str) -> list[str]:
    """The placeholder paths a lesson uses, for the content lint."""
    return PLACEHOLDER.findall(text)


def _units(text: str) -> Iterator[tuple[str, str]]:
    """The text cut into "code" lines, table "row"s and "prose" units.

    A prose unit is a paragraph or a list item, however many lines it takes;
    headings, blank lines and fenced lines count as code.
    """
    prose: list[str] = []
    fenced = False
    for line in text.split("\n"):
        fence = bool(FENCE.match(line))
        bare = line.strip()
        breaks = fence or fenced or not bare or bare.startswith(("|", "#"))
        if prose and (breaks or LIST_ITEM.match(line)):
            yield "prose", "\n".join(prose)
            prose = []
        fenced ^= fence
        if breaks:
            yield ("row" if bare.startswith("|") and not fence else "code"), line
        else:
            prose.append(line)
    if prose:
        yield "prose", "\n".join(prose)


def _rendered(kind: str, unit: str, seen: dict[str, Frame]) -> str:
    if kind == "row":
        return "|".join(_rendered("cell", cell, seen) for cell in unit.split("|"))
    if kind == "prose":
        return _prose(unit, seen)
    if kind == "cell" and any(_lookup(seen, p) is None for p in placeholders(unit)):
        return f" {NOT_SEEN} "
    return _filled(unit, seen)


def _filled(text: str, seen: dict[str, Frame]) -> str:
    """Every placeholder replaced by its value, or by NOT_SEEN."""

    def value(match: re.Match[str]) -> str:
        found = _lookup(seen, match.group(1))
        return NOT_SEEN if found is None else found

    return PLACEHOLDER.sub(value, text)


def _prose(text: str, seen: dict[str, Frame]) -> str:
    """Prose filled in, each sentence with a value not seen replaced whole.

    Sentences in a row that lose their values to the same note say it once. A
    unit tagged for a version says whether it is the learner's broker's.
    """
    marker = LIST_ITEM.match(text)
    start = marker.end() if marker else 0
    tag = VERSION_TAG.match(text, start)
    if tag is not None:
        text = text[:start] + _version_note(int(tag.group(1)), seen) + text[tag.end() :]
    masked = CODE_SPAN.sub(lambda m: "`" + "x" * (len(m.group()) - 2) + "`", text)
    pieces, said = [text[:start]], ""
    for end in [m.end() for m in SENTENCE_END.finditer(masked)] + [len(text)]:
        if end <= start:
            continue
        segment = text[start:end]
        sentence = segment.lstrip()
        rendered = _sentence(sentence, seen)
        if rendered != said or rendered == sentence:
            pieces.append(segment[: len(segment) - len(sentence)] + rendered)
        said, start = rendered, end
    return "".join(pieces)


def _version_note(major: int, seen: dict[str, Frame]) -> str:
    """What a `[major.x]` tag becomes: whether it speaks of the learner's broker."""
    start = seen.get("Connection.Start")
    product, version = server_product(start) if start is not None else ("", "")
    if not version:
        return f"**RabbitMQ {major}.x:** "
    if version.split(".")[0] == str(major):
        return f"**Your broker, {product or 'RabbitMQ'} {version}:** "
    return f"*(RabbitMQ {major}.x; yours is {version})* "


def _sentence(sentence: str, seen: dict[str, Frame]) -> str:
    missing = [p for p in placeholders(sentence) if _lookup(seen, p) is None]
    if not missing or not re.search(r"\w", PLACEHOLDER.sub("", sentence)):
        return _filled(sentence, seen)
    notes = dict.fromkeys(_absent(seen, path) for path in missing)
    return " ".join(notes)


def _split(path: str) -> tuple[str, list[str]]:
    """A placeholder path as the frame's name (its capitalised parts) and fields."""
    parts = path.split(".")
    named = next((i for i, part in enumerate(parts) if not part[:1].isupper()), None)
    cut = len(parts) if named is None else named
    return ".".join(parts[:cut]), parts[cut:]


def _lookup(seen: dict[str, Frame], path: str) -> str | None:
    """The value at `path` on the wire, shown as text; None if not seen."""
    name, keys = _split(path)
    if name not in seen:
        return None
    try:  # only that field's bytes are read: a frame may be frame_max of tables
        return _shown(value_at(seen[name], keys))
    except KeyError:
        return None


def _absent(seen: dict[str, Frame], path: str) -> str:
    """A sentence saying why `path` has no value: which frame or field is missing."""
    name, keys = _split(path)
    if name in seen:
        return NO_FIELD.format(frame=name, field=".".join(keys))
    return NO_FRAME.format(frame=name)


def _shown(value: JSON) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value)
    return "" if value is None else str(value)
