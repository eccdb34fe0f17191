"""What the benchmarks share: sample summaries, aligned tables, goal checks.

Owns the rotation every side-by-side measurement runs in, the formatting of
every number the benchmarks print, the Check rows the summary table is made of,
and the description of the machine they ran on.
"""

from __future__ import annotations

import gc
import math
import os
import platform
import statistics
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final

#: Decimals of the values in the summary; pass or miss is judged on them.
DECIMALS: Final = 3


@dataclass(frozen=True, slots=True)
class Samples:
    """Repeated measurements of one thing, in seconds (or in any one unit)."""

    values: tuple[float, ...]

    @property
    def best(self) -> float:
        """The smallest value: the least disturbed run."""
        return min(self.values)

    @property
    def median(self) -> float:
        """The middle value: what a typical run looks like."""
        return statistics.median(self.values)

    @property
    def p95(self) -> float:
        """The 95th percentile, nearest rank: 95 % of the values are at most this."""
        ordered = sorted(self.values)
        return ordered[math.ceil(0.95 * len(ordered)) - 1]


@dataclass(frozen=True, slots=True)
class Check:
    """One measured number against its goal, for the summary table."""

    #: What was measured, e.g. ``decoder / pamqp, 64 KiB chunks``.
    name: str
    #: The measured number.
    value: float
    #: The goal it is compared with.
    goal: float
    #: True when the value must be at least the goal, False when at most.
    at_least: bool
    #: How to print value and goal: ``x`` for ratios, ``ms`` for times.
    unit: str

    @property
    def passed(self) -> bool:
        """Whether the value, as printed (3 decimals), meets the goal."""
        shown = round(self.value, DECIMALS)
        return shown >= self.goal if self.at_least else shown < self.goal

    def row(self) -> list[str]:
        """Name, value, goal and marker as table cells."""
        relation = ">=" if self.at_least else "<"
        return [
            self.name,
            _with_unit(self.value, self.unit),
            f"{relation} {_with_unit(self.goal, self.unit)}",
            "pass" if self.passed else "MISS",
        ]


def rotation(names: Sequence[str], rounds: int) -> Iterator[str]:
    """Every name once per round, each round starting one name later, so that
    none always runs first (or always right after the same one)."""
    for round_ in range(rounds):
        shift = round_ % len(names)
        yield from [*names[shift:], *names[:shift]]


def interleaved(
    modes: dict[str, Callable[[], float]], rounds: int
) -> dict[str, Samples]:
    """Run every mode once per round, in rotation; each returns its measurement.

    The garbage collector stays on, as it is in the app, so its cost counts;
    a collection before each run only makes every run start from the same state.
    """
    times: dict[str, list[float]] = {name: [] for name in modes}
    for name in rotation(list(modes), rounds):
        gc.collect()
        times[name].append(modes[name]())
    return {name: Samples(tuple(values)) for name, values in times.items()}


def _with_unit(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.{DECIMALS}f}x"
    return f"{value:.{DECIMALS}f} {unit}"


def ratio_check(name: str, ratio: float, goal: float = 0.9) -> Check:
    """A ratio that should be at least `goal` (1.0 means no overhead)."""
    return Check(name, ratio, goal, at_least=True, unit="x")


def time_check(name: str, seconds: float, goal_ms: float) -> Check:
    """A duration that should stay under `goal_ms` milliseconds."""
    return Check(name, seconds * 1e3, goal_ms, at_least=False, unit="ms")


def ceiling_check(name: str, value: float, goal: float, unit: str) -> Check:
    """A number that should stay under `goal`: a slowdown ratio, megabytes ..."""
    return Check(name, value, goal, at_least=False, unit=unit)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Rows under headers in aligned columns; the first column is left-aligned."""
    widths = [
        max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)
    ]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(padded).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def summary(checks: Sequence[Check]) -> str:
    """The table of goals with a pass/MISS marker on each row."""
    return table(["check", "measured", "goal", ""], [check.row() for check in checks])


def heading(title: str) -> str:
    """A section title, underlined."""
    return f"\n{title}\n{'=' * len(title)}"


def machine() -> str:
    """Platform, CPU count and Python version, on one line."""
    cpus = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus
    return (
        f"{platform.platform()}, {platform.machine()}, "
        f"{cpus} CPUs ({usable} usable), "
        f"{platform.python_implementation()} {platform.python_version()}"
    )


def as_ratio(ratio: float) -> str:
    """A ratio for the detail tables: ``0.93x``."""
    return f"{ratio:.2f}x"


def per_second(count: float, seconds: float) -> str:
    """A rate with a thousands separator: ``212,800/s``."""
    return f"{count / seconds:,.0f}/s"


def megabytes_per_second(size: int, seconds: float) -> str:
    """A throughput in decimal megabytes per second."""
    return f"{size / seconds / 1e6:,.1f} MB/s"


def milliseconds(seconds: float) -> str:
    """A duration in milliseconds."""
    return f"{seconds * 1e3:,.1f} ms"


def megabytes(size: float) -> str:
    """A size in decimal megabytes: ``104.2 MB``."""
    return f"{size / 1e6:,.1f} MB"


def microseconds(seconds: float) -> str:
    """A short duration in microseconds."""
    return f"{seconds * 1e6:,.1f} µs"
