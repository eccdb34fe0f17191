"""Experiments of the failure lab in the app: offered, set up and concluded.

Owns choosing an experiment (the one the lesson on screen offers, or a picker
of its several), setting one up on the live broker once the learner has made
their predictions, and telling its outcome against what it expected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.worker import Worker

from explorer.engine.events import PhaseReport
from explorer.lab.registry import EXPERIMENTS, lab_engine
from explorer.net.endpoint import redact
from explorer.ui.connections import StepperFactory
from explorer.ui.picker import ExperimentPicker

if TYPE_CHECKING:
    from explorer.ui.app import ExplorerApp


def experiment(url: str, name: str, *, race: bool = False) -> StepperFactory:
    """A factory for an experiment of the lab on the live broker.

    An experiment about the broker's handshake clock is held whatever `race`.
    """
    return lambda listener: lab_engine(url, name, listener, live_handshake=race)


class Experiments:
    """The experiments `app` offers, runs and concludes."""

    def __init__(self, app: ExplorerApp) -> None:
        """Offer the experiments of `app`'s lessons."""
        self.app = app

    def offer(self) -> None:
        """Run an experiment the lesson on screen offers (a list when several)."""
        app = self.app
        lesson = app.lessons.lesson
        if lesson is None or not lesson.experiments:
            app.notify(
                "This lesson offers no experiment: ctrl+p, 'Experiment' lists them all."
            )
        elif len(lesson.experiments) == 1:
            self.run(lesson.experiments[0])
        else:
            choices = [(n, EXPERIMENTS[n].title) for n in lesson.experiments]
            picker = ExperimentPicker(f"Experiments of “{lesson.title}”", choices)
            app.push_screen(picker, self._picked)

    def _picked(self, name: str | None) -> None:
        if name is not None:
            self.run(name)

    def run(self, name: str) -> Worker[None]:
        """Ask the learner's predictions, then set up the experiment `name`.

        The learner steps it like any connection (space), or runs it to the
        end (g); its lesson stays on screen, scrolled to its section. One
        experiment is set up at a time: a newer one cancels this.
        """
        return self.app.run_worker(
            self._set_up(name), group="experiment", exclusive=True
        )

    async def _set_up(self, name: str) -> None:
        app = self.app
        scenario = EXPERIMENTS[name]
        await app.quizmaster.before_experiment(name)
        source = f"experiment {name} · {redact(app.url)}"
        await app.replace(experiment(app.url, name, race=app.race), source)
        app.panes.experiment.start(name, scenario.title)
        app.lessons.pin(name)
        app.notify(
            f"{scenario.title}.\nSpace steps it; g runs it to the end.",
            title=f"Experiment: {name}",
            timeout=8,
        )

    def concluded(self, report: PhaseReport) -> None:
        """An experiment ended: show what the broker did against what it expected.

        A recording of an experiment ends the same way, so its lesson is then
        kept on screen too.
        """
        app = self.app
        app.panes.experiment.show(report.facts, report.notes)
        name = str(report.facts.get("experiment", ""))
        if not app.lessons.pinned and name in EXPERIMENTS:
            app.lessons.pin(name)
        passed = report.facts.get("as_expected") is True
        app.notify(
            "\n".join(report.notes) or str(report.facts.get("expected", "")),
            title=f"Experiment {report.facts.get('experiment')}: "
            + ("as expected" if passed else "NOT as expected"),
            severity="information" if passed else "warning",
            timeout=15,
            markup=False,
        )
