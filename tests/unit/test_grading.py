"""Lenient grading of numbers with units: each unit keeps its scale, and a
number is compared within its unit's family (sizes in bytes, times in seconds)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from explorer.course.grading import Quantity, matches, number, quantity

#: How explorer.course.answers10 accepts the broker's idle-time-out of 30000 ms.
IDLE = ("30000", "30000 ms")


@pytest.mark.parametrize(
    ("said", "read"),
    [("30000 ms", Quantity(Fraction(30), "time")),
     ("30 s", Quantity(Fraction(30), "time")),
     ("2 minutes", Quantity(Fraction(120), "time")),
     ("128 KiB", Quantity(Fraction(131072), "size")),
     ("131 072", Quantity(Fraction(131072), None)),
     ("1 frame", Quantity(Fraction(1), None)),
     ("500 ms", Quantity(Fraction(1, 2), "time")), ("3.10.8", None), ("sixty", None)],
)  # fmt: skip
def test_a_quantity_is_its_amount_in_its_family_s_base_unit(
    said: str, read: Quantity | None
) -> None:
    assert quantity(said) == read


def test_a_number_is_whole_in_its_base_unit() -> None:
    assert number("30000 ms") == 30
    assert number("500 ms") is None
    assert number("60s") == 60


@pytest.mark.parametrize(
    ("given", "accepted", "right"),
    [
        # milliseconds are a thousandth of a second, not a second
        ("60 ms", ("60",), False),
        ("60 s", ("60",), True),
        ("1 min", ("60",), True),
        ("30000 s", ("30000", "30 s"), False),
        ("30000 ms", ("30000", "30 s"), True),
        ("30000", ("30000", "30 s"), True),
        # the 1.0 idle-time-out question's own forms
        ("30000", IDLE, True),
        ("30000 ms", IDLE, True),
        ("30 000 ms", IDLE, True),
        ("30 s", IDLE, True),
        ("30 seconds", IDLE, True),
        ("30000 s", IDLE, False),
        ("60 ms", IDLE, False),
        ("30", IDLE, False),
        # a size is no time, and a time no size
        ("128 KiB", ("131072",), True),
        ("128 KiB", IDLE, False),
        ("30000 bytes", IDLE, False),
        # a number and words is matched by its text
        ("530 ACCESS_REFUSED", ("530 NOT_ALLOWED",), False),
        ("530 not_allowed", ("530 NOT_ALLOWED",), True),
    ],
)
def test_units_compare_within_their_family(
    given: str, accepted: tuple[str, ...], right: bool
) -> None:
    assert matches(given, accepted) is right
