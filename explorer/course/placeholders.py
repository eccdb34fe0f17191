"""Lesson text filled from the learner's own frames, with no hole left behind.

Owns the placeholder syntax of the lessons and `render`, which fills it. A
placeholder names a frame and a path of fields in it, and takes the value the
first such frame carried on the learner's connection:

- ``{{Connection.Tune.frame_max}}``: an AMQP 0-9-1 frame is named by its
  capitalised parts (pamqp's name), its fields follow, e.g.
  ``{{Connection.Start.server_properties.version}}``.
- ``{{sasl-outcome.code}}``: an AMQP 1.0 frame is named by its first part,
  the spec's performative name in lower case (``sasl-init``, ``open``,
  ``attach`` ...); its fields follow by the spec's names, down into described
  values and maps, e.g. ``{{attach.target.address}}``,
  ``{{open.properties.version}}``.
- ``{{broker.open.max-frame-size}}``, ``{{client.open.max-frame-size}}``: a
  leading ``broker.`` or ``client.`` names the sender, for a frame both sides
  send (either protocol); without it the first frame of that name from either
  side is read.

A value not seen takes its whole unit with it: a table cell (or a unit that
is nothing but the value) reads NOT_SEEN, and a sentence of prose is replaced
by one that says which frame or field is missing. A 1.0 field that is null on
the wire counts as not carried. Values are read from the frame as it may be
shown (explorer.protocol.fields.shown): a masked password stays masked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Final

from explorer.protocol.amqp10.frames import Body
from explorer.protocol.amqp10.values import Array, Described
from explorer.protocol.fields import JSON, shown
from explorer.protocol.frames import B2C, C2B, Direction, Frame
from explorer.protocol.queries import server_product
from explorer.protocol.values import text_of, value_at

PLACEHOLDER: Final = re.compile(
    r"\{\{\s*([A-Za-z][\w-]*(?:\.[A-Za-z_][\w.-]*)+)\s*\}\}"
)
#: The leading part of a placeholder that names the frame's sender.
SENDERS: Final = {"client": C2B, "broker": B2C}
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

#: The frames seen, by (sender, name) and by (None, name): the first of each.
Seen = dict[tuple[Direction | None, str], Frame]


def render(text: str, frames: Iterable[Frame]) -> str:
    """Fill the placeholders of `text` from the first frame of each name seen.

    Args:
        text: A lesson's Markdown.
        frames: The frames of the learner's connection, in wire order.

    Returns:
        The text with every placeholder filled, or its unit replaced by a
        note saying what is not on the wire yet.
    """
    seen: Seen = {}
    for frame in frames:
        seen.setdefault((None, frame.name), frame)
        seen.setdefault((frame.direction, frame.name), frame)
    return "\n".join(_rendered(kind, unit, seen) for kind, unit in _units(text))


def placeholders(text: str) -> list[str]:
    """The placeholder paths a lesson uses, for the content lint."""
    return PLACEHOLDER.findall(text)


def split(path: str) -> tuple[Direction | None, str, list[str]]:
    """A placeholder path as the sender it names (None: either), the frame's
    name and the fields' path within it."""
    parts = path.split(".")
    sender = SENDERS.get(parts[0])
    if sender is not None:
        parts = parts[1:]
    if not parts[0][:1].isupper():  # AMQP 1.0: the performative's name
        return sender, parts[0], parts[1:]
    named = next((i for i, part in enumerate(parts) if not part[:1].isupper()), None)
    cut = len(parts) if named is None else named
    return sender, ".".join(parts[:cut]), parts[cut:]


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


def _rendered(kind: str, unit: str, seen: Seen) -> str:
    if kind == "row":
        return "|".join(_rendered("cell", cell, seen) for cell in unit.split("|"))
    if kind == "prose":
        return _prose(unit, seen)
    if kind == "cell" and any(_lookup(seen, p) is None for p in placeholders(unit)):
        return f" {NOT_SEEN} "
    return _filled(unit, seen)


def _filled(text: str, seen: Seen) -> str:
    """Every placeholder replaced by its value, or by NOT_SEEN."""

    def value(match: re.Match[str]) -> str:
        found = _lookup(seen, match.group(1))
        return NOT_SEEN if found is None else found

    return PLACEHOLDER.sub(value, text)


def _prose(text: str, seen: Seen) -> str:
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


def _version_note(major: int, seen: Seen) -> str:
    """What a `[major.x]` tag becomes: whether it speaks of the learner's broker."""
    start = seen.get((None, "Connection.Start"))
    product, version = server_product(start) if start is not None else ("", "")
    if not version:
        return f"**RabbitMQ {major}.x:** "
    if version.split(".")[0] == str(major):
        return f"**Your broker, {product or 'RabbitMQ'} {version}:** "
    return f"*(RabbitMQ {major}.x; yours is {version})* "


def _sentence(sentence: str, seen: Seen) -> str:
    missing = [p for p in placeholders(sentence) if _lookup(seen, p) is None]
    if not missing or not re.search(r"\w", PLACEHOLDER.sub("", sentence)):
        return _filled(sentence, seen)
    notes = dict.fromkeys(_absent(seen, path) for path in missing)
    return " ".join(notes)


def _lookup(seen: Seen, path: str) -> str | None:
    """The value at `path` on the wire, shown as text; None if not seen."""
    sender, name, keys = split(path)
    frame = seen.get((sender, name))
    if frame is None:
        return None
    try:  # only that field's bytes are read: a frame may be frame_max of tables
        if isinstance(frame.payload, Body):
            return _amqp10_value(shown(frame), keys)
        return _shown(value_at(frame, keys))
    except KeyError:
        return None


def _absent(seen: Seen, path: str) -> str:
    """A sentence saying why `path` has no value: which frame or field is missing."""
    sender, name, keys = split(path)
    noun = name
    if sender is not None:
        noun = f"{name} from the {'client' if sender is C2B else 'broker'}"
    if (sender, name) in seen:
        return NO_FIELD.format(frame=noun, field=".".join(keys))
    return NO_FRAME.format(frame=noun)


def _shown(value: JSON) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value)
    return "" if value is None else str(value)


def _amqp10_value(frame: Frame, keys: list[str]) -> str:
    """The 1.0 performative's field at `keys`, as text.

    Raises:
        KeyError: no such field, or it is null (not carried).
    """
    assert isinstance(frame.payload, Body), "a 1.0 frame"
    found: object = frame.payload.fields
    for key in keys:
        if isinstance(found, Described):
            found = found.fields if isinstance(found.value, list) else found.value
        if not isinstance(found, dict):
            raise KeyError(key)
        found = next((v for k, v in found.items() if str(k) == key), None)
        if found is None:
            raise KeyError(key)
    return _amqp10_text(found)


def _amqp10_text(value: object) -> str:
    """A 1.0 value as a lesson shows it: a described value by its type's name."""
    if isinstance(value, Described):
        return value.name if value.type else str(value.descriptor)
    if isinstance(value, Array):
        return ", ".join(_amqp10_text(v) for v in value.items)
    if isinstance(value, list | tuple):
        return ", ".join(_amqp10_text(v) for v in value)
    if isinstance(value, bytes):
        return text_of(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
