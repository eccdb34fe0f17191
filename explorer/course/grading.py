"""Lenient grading: does what the learner typed say the same as the right answer?

Owns reading an answer the way a person means it: case and spacing do not
matter, numbers compare as numbers ("131072", "131 072", "128 KiB"), sets of
names in any order with any separators, and a choice is answered by its
letter, number or text. Sans-I/O, and it knows nothing of frames.
"""

from __future__ import annotations

import re
import string
from typing import Final

_SPACES: Final = re.compile(r"\s+")
#: A number with thousands separators and an optional unit: "131 072", "128 KiB".
_NUMBER: Final = re.compile(r"(\d[\d\s_,']*?(?:\.\d+)?)\s*([a-z]+)?")
#: A number and then words: "530 not-allowed", "2047 channels".
_LEADING_NUMBER: Final = re.compile(r"(\d[\d_,']*)\s+\D.*")
_UNITS: Final[dict[str, int]] = {
    **dict.fromkeys(("b", "byte", "bytes", "s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("k", "kb", "ki", "kib"), 1024),
    **dict.fromkeys(("m", "mb", "mi", "mib"), 1024 * 1024),
    **dict.fromkeys(("min", "mins", "minute", "minutes"), 60),
    # Only AMQP 1.0's idle-time-out is asked in milliseconds: its answer is in ms.
    **dict.fromkeys(("ms", "msec", "millisecond", "milliseconds"), 1),
}
_SEPARATORS: Final = re.compile(r"[\s,;|+]+|\band\b")


def letter(index: int) -> str:
    """The letter of the choice at `index`: a, b, c ..."""
    return string.ascii_lowercase[index]


def _text(value: str) -> str:
    """Case and spacing folded, surrounding quotes and a final full stop dropped."""
    folded = _SPACES.sub(" ", value.casefold()).strip()
    return folded.strip("\"'`").removesuffix(".").strip()


def number(value: str) -> int | None:
    """`value` read as a whole number, or None: "131 072" and "128 KiB" are 131072."""
    text = _text(value)
    whole = _NUMBER.fullmatch(text)
    if whole is not None and (whole.group(2) or "b") in _UNITS:
        digits, unit = whole.groups()
        amount = float(re.sub(r"[\s_,']", "", digits)) * _UNITS[unit or "b"]
        return int(amount) if amount.is_integer() else None
    leading = _LEADING_NUMBER.fullmatch(text)  # "530 not-allowed", "1 frame"
    if leading is not None:
        return int(re.sub(r"[_,']", "", leading.group(1)))
    return None


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
    said = number(given)
    for right in accepted:
        if right.isdigit() and said is not None:
            if said == int(right):
                return True
        elif _text(given) == _text(right):
            return True
    return False
