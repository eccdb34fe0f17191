"""Lenient grading: does what the learner typed say the same as the right answer?

Owns reading an answer the way a person means it: case and spacing do not
matter, numbers compare as numbers ("131072", "131 072", "128 KiB"), a unit by its
scale within its family (sizes in bytes, times in seconds: "30000 ms" is
"30 s", never "30000 s"), sets of
names in any order with any separators, and a choice is answered by its
letter, number or text. Sans-I/O, and it knows nothing of frames.
"""

from __future__ import annotations

import re
import string
from fractions import Fraction
from typing import Final, NamedTuple

_SPACES: Final = re.compile(r"\s+")
#: A number with thousands separators and an optional unit: "131 072", "128 KiB".
_NUMBER: Final = re.compile(r"(\d[\d\s_,']*?(?:\.\d+)?)\s*([a-z]+)?")
#: A number and then words: "530 not-allowed", "2047 channels".
_LEADING_NUMBER: Final = re.compile(r"(\d[\d_,']*)\s+\D.*")

#: Sizes count bytes, times seconds: a unit is its family and its scale there.
_SIZE: Final = "size"
_TIME: Final = "time"
_UNITS: Final[dict[str, tuple[str, Fraction]]] = {
    **dict.fromkeys(("b", "byte", "bytes"), (_SIZE, Fraction(1))),
    **dict.fromkeys(("k", "kb", "ki", "kib"), (_SIZE, Fraction(1024))),
    **dict.fromkeys(("m", "mb", "mi", "mib"), (_SIZE, Fraction(1024 * 1024))),
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), (_TIME, Fraction(1))),
    **dict.fromkeys(("min", "mins", "minute", "minutes"), (_TIME, Fraction(60))),
    **dict.fromkeys(
        ("ms", "msec", "millisecond", "milliseconds"), (_TIME, Fraction(1, 1000))
    ),
}
_SEPARATORS: Final = re.compile(r"[\s,;|+]+|\band\b")


def letter(index: int) -> str:
    """The letter of the choice at `index`: a, b, c ..."""
    return string.ascii_lowercase[index]


def _text(value: str) -> str:
    """Case and spacing folded, surrounding quotes and a final full stop dropped."""
    folded = _SPACES.sub(" ", value.casefold()).strip()
    return folded.strip("\"'`").removesuffix(".").strip()


class Quantity(NamedTuple):
    """A number as a learner wrote it: its amount and its unit's family."""

    #: In the family's base unit (bytes or seconds); as written if no unit.
    amount: Fraction
    #: "size", "time", or None for a bare number ("131072", "1 frame").
    family: str | None


def quantity(value: str) -> Quantity | None:
    """`value` read as a number and its unit, or None: "128 KiB" is 131072 bytes,
    "30000 ms" 30 seconds, "131 072" a bare 131072."""
    measured = _measure(value)
    if measured is not None:
        return measured
    leading = _LEADING_NUMBER.fullmatch(_text(value))  # "530 not-allowed", "1 frame"
    if leading is not None:
        return Quantity(Fraction(re.sub(r"[_,']", "", leading.group(1))), None)
    return None


def _measure(value: str) -> Quantity | None:
    """`value` read as a number alone, or a number and a unit, else None."""
    whole = _NUMBER.fullmatch(_text(value))
    if whole is None or (whole.group(2) is not None and whole.group(2) not in _UNITS):
        return None
    digits, unit = whole.groups()
    amount = Fraction(re.sub(r"[\s_,']", "", digits))
    if unit is None:
        return Quantity(amount, None)
    family, scale = _UNITS[unit]
    return Quantity(amount * scale, family)


def number(value: str) -> int | None:
    """`value` read as a whole number in its family's base unit, or None:
    "131 072" and "128 KiB" are 131072, "2 minutes" 120, "500 ms" none."""
    said = quantity(value)
    if said is None or said.amount.denominator != 1:
        return None
    return int(said.amount)


def names(value: str) -> frozenset[str]:
    """`value` read as a set of names, whatever the order and separators."""
    found = {n.replace("-", "_") for n in _SEPARATORS.split(_text(value)) if n}
    return frozenset(found - {"none", "nothing"})


def _chosen(choices: tuple[str, ...], given: str) -> str | None:
    """The choice `given` names by its letter, number or text."""
    text = _text(given)
    mark = text.strip("()[]").rstrip(").:")  # "b", "(b)", "b)", "2."
    for index, choice in enumerate(choices):
        if mark in (letter(index), str(index + 1)) or text == _text(choice):
            return choice
    return None


def matches(
    given: str,
    accepted: tuple[str, ...],
    *,
    choices: tuple[str, ...] = (),
    unordered: bool = False,
) -> bool:
    """Whether `given` says one of the `accepted` answers, read leniently.

    Args:
        given: What the learner typed or chose.
        accepted: Every accepted form of the right answer.
        choices: The choices of a multiple-choice question (given may name one
            by its letter, number or text); empty for a free-text answer.
        unordered: The answer is a set of names: order and separators do not
            matter.
    """
    if choices:
        chosen = _chosen(choices, given)
        return chosen is not None and chosen in accepted
    if unordered:
        return any(names(given) == names(right) for right in accepted)
    return any(_text(given) == _text(right) for right in accepted) or _same_number(
        quantity(given), accepted
    )


def _same_number(said: Quantity | None, accepted: tuple[str, ...]) -> bool:
    """Whether `said` is the number one of the `accepted` answers gives.

    A bare number is compared with the bare numbers. A number with a unit is
    compared with the answers in its unit's family ("30000 ms" with "30 s");
    when no answer names a unit, with the bare numbers, read in the family's
    base unit ("128 KiB" is "131072", "1 min" "60"). An answer that is a
    number and words ("530 NOT_ALLOWED") is matched by its text only.
    """
    if said is None:
        return False
    rights = [q for q in map(_measure, accepted) if q is not None]
    if said.family is not None and any(q.family is not None for q in rights):
        rights = [q for q in rights if q.family == said.family]
    else:
        rights = [q for q in rights if q.family is None]
    return any(said.amount == right.amount for right in rights)
