"""Which runs count for a try-it check: the learner's own, or the experiment
its task names, never another experiment's; and what the reports say.

The runs are built in memory (tests/unit/conftest); each judge's own verdicts
are tests/unit/test_judges.py's.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from explorer.course.checks import CHECKS, Seen, judge
from explorer.engine.events import PhaseFailed, PhaseReport
from explorer.protocol.lifecycle import Phase
from tests.unit.conftest import (
    HELLO,
    RAN_OUT,
    concluded,
    endpoint,
    named,
    passing,
    seen,
    tcp,
)


@pytest.mark.parametrize("name", sorted(CHECKS))
@pytest.mark.parametrize("report", [concluded, named], ids=["at-the-end", "early"])
def test_another_experiments_run_passes_nothing(
    name: str, report: Callable[[str], PhaseReport]
) -> None:
    done = passing()[name]
    other = "prefetch-size"  # an experiment no try-it asks for
    assert other not in CHECKS[name].counts_in
    verdict = judge(
        name, Seen(done.frames, done.failures, (*done.reports, report(other)))
    )
    assert not verdict.passed
    assert "prefetch-size" in verdict.detail


@pytest.mark.parametrize(
    "name", sorted(name for name, check in CHECKS.items() if check.counts_in)
)
def test_the_experiment_a_task_asks_for_counts(name: str) -> None:
    done = passing()[name]
    for experiment in CHECKS[name].counts_in:
        reports = (*done.reports, concluded(experiment))
        verdict = judge(name, Seen(done.frames, done.failures, reports))
        assert verdict.passed, verdict.detail


def test_the_handshake_timeout_experiment_counts_at_any_pace() -> None:
    run = seen(
        HELLO,
        endpoint(),
        tcp("learner"),
        concluded("handshake-timeout"),
        failures=(PhaseFailed(Phase.AUTH, RAN_OUT),),
    )
    assert judge("handshake-timed-out", run).passed


def test_what_the_reports_say() -> None:
    run = Seen(
        (),
        (),
        (endpoint(heartbeat=5), tcp("race"), tcp("learner"), concluded("body-split")),
    )
    assert run.experiment == "body-split"
    assert run.pace == "race"
    assert run.asked("heartbeat") == 5
    assert run.asked("host") is None  # defaulted, not written in the URL
    assert Seen(()).experiment is None
    assert Seen(()).pace is None
