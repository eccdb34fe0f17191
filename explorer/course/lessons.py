"""The course: lesson text for every phase, filled in from the learner's own frames.

Owns loading `lessons/course.toml` (the ordered manifest: a lesson per phase
and the topic lessons, each with its file, title, the frames it explains, its
try-it checks and the experiments it offers) and the Markdown files it lists,
finding the lesson for a phase of either protocol (AMQP 1.0's falls back to
0-9-1's where the phase is the same on both: endpoint, resolve, tcp, tls)
and the section about a frame or an experiment. Filling a lesson from the
learner's own frames is explorer.course.placeholders'.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Final

from explorer.course.placeholders import (
    NO_FIELD,
    NO_FRAME,
    NOT_SEEN,
    placeholders,
    render,
)
from explorer.protocol.lifecycle import Phase

__all__ = [
    "NOT_SEEN",
    "NO_FIELD",
    "NO_FRAME",
    "PROTOCOLS",
    "Course",
    "CourseError",
    "Lesson",
    "experiment_heading",
    "experiment_title",
    "lessons_dir",
    "load_course",
    "placeholders",
    "render",
]

FORMAT_VERSION: Final = 1
#: The protocols a phase lesson may teach (explorer.protocol.dialect's keys);
#: the first is the default, and every phase has a lesson for it.
PROTOCOLS: Final = ("0-9-1", "1.0")


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
    #: The protocol whose phase it teaches: "0-9-1" or "1.0" (PROTOCOLS).
    protocol: str = PROTOCOLS[0]

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

    def lesson_for(self, phase: Phase, protocol: str = PROTOCOLS[0]) -> Lesson:
        """The lesson that teaches `phase` of `protocol`: its own, else 0-9-1's.

        A phase no 1.0 lesson teaches (tls: the 1.0 client has none yet)
        falls back to 0-9-1's lesson.

        Raises:
            CourseError: no lesson teaches it (the content lint prevents this).
        """
        for wanted in dict.fromkeys((protocol, PROTOCOLS[0])):
            for lesson in self.lessons:
                if lesson.phase is phase and lesson.protocol == wanted:
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
    protocol = str(entry.get("protocol", PROTOCOLS[0]))
    if protocol not in PROTOCOLS:
        raise CourseError(f"{name}: protocol {protocol!r} is not one of {PROTOCOLS}")
    return Lesson(phase, title, name, frames, text, checks, experiments, slug, protocol)
