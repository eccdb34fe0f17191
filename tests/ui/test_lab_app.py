"""Experiments in the app: from a lesson or the palette, on the live broker."""

from __future__ import annotations

import asyncio
import re

from textual.widgets import Markdown, OptionList

from explorer.course.lessons import experiment_title, load_course
from explorer.lab.experiment import Scenario
from explorer.lab.registry import EXPERIMENTS
from explorer.protocol import Frame
from explorer.protocol.lifecycle import Phase
from explorer.recording.replay import bundled_recording, recorded_experiment
from explorer.ui.app import ExplorerApp, live, replay
from explorer.ui.picker import ExperimentPicker
from explorer.ui.widgets.frame_list import FrameList
from explorer.ui.widgets.panels import ExperimentPanel
from tests.ui.conftest import running, settle


def panel_text(app: ExplorerApp) -> str:
    """All the experiment panel says (more than the screen may show)."""
    panel = app.query_one(ExperimentPanel)
    return str(panel.content) if panel.has_class("-shown") else ""


def spoilers(scenario: Scenario, text: str) -> list[str]:
    """What in `text` gives away the outcome `scenario` expects of the broker.

    Its expected outcome, the reply frame and code it expects, and the names
    of reply codes (ACCESS_REFUSED ...) that the outcome mentions.
    """
    tells = [scenario.expect, *re.findall(r"\b[A-Z]+(?:_[A-Z]+)+\b", scenario.expect)]
    codes = []
    if scenario.reply is not None:
        frame, code = scenario.reply
        # 0-9-1's frames have names no sentence uses (Connection.Close); 1.0's
        # are English words ("end", "close"): its code or condition tells.
        if frame[:1].isupper():
            tells.append(frame)
        codes.append(code)
    # Each tell as a whole word: "sender" does not give away an `end`.
    given = [t for t in tells if re.search(rf"(?<![\w-]){re.escape(t)}(?![\w-])", text)]
    # A code is a whole number, not a part of a version ("AMQP 1.0", "0-9-1"
    # give away no sasl-outcome code 1).
    return given + [
        str(c) for c in codes if re.search(rf"(?<![\w.-]){c}(?![\w-]|\.\d)", text)
    ]


async def run_to_the_end(app: ExplorerApp) -> None:
    app.action_run_all()
    async with asyncio.timeout(30):  # the slowest experiment waits about 10 s
        await settle(app)
    if not app.stepper.finished or app.stepping:
        raise AssertionError("the experiment never finished")


async def test_an_experiment_runs_from_the_app_and_shows_its_outcome(
    broker_url: str,
) -> None:
    app = ExplorerApp(live(broker_url), source="live", url=broker_url)
    async with running(app):
        scenario = EXPERIMENTS["unknown-vhost"]
        app.experiments.run("unknown-vhost")
        await settle(app)
        assert app.sub_title.startswith("live: experiment unknown-vhost")
        # Before the run: what it changes, never what the broker should answer.
        assert scenario.title in panel_text(app)
        assert spoilers(scenario, panel_text(app)) == []
        await run_to_the_end(app)
        names = [f.name for f in app.query_one(FrameList).items if isinstance(f, Frame)]
        assert "Connection.Close" in names
        assert "✓ as expected" in panel_text(app)
        assert "vhost amqp-explorer-no-such-vhost not found" in panel_text(app)
        # After it: what was expected, beside what the broker did.
        assert f"expected {scenario.expect}\nAfter Connection.Open: " in panel_text(app)
        assert "Connection.Close 530" in panel_text(app)
        lesson = app.query_one("#lesson", Markdown).source
        assert f"## {experiment_title('unknown-vhost')}" in lesson, "its lesson stays"
        assert "guest:***@" in app.sub_title, "the password is not in the title"


async def test_the_broker_timer_is_shown_while_the_experiment_waits(
    broker_url: str,
) -> None:
    app = ExplorerApp(live(broker_url), source="live", url=broker_url)
    async with running(app):
        app.experiments.run("wrong-password-silent")
        await settle(app)
        app.action_run_all()
        seen: set[str] = set()
        for _ in range(120):
            await asyncio.sleep(0.1)
            if app.rail.timer is not None:
                seen.add(app.rail.timer[0])
                assert "waiting" in app.sub_title
            if app.stepper.finished and not app.stepping:
                break
        await settle(app)
        assert any("3 s delay" in what for what in seen), seen
        assert app.rail.timer is None, "the bar goes once the broker acted"
        assert "✓ as expected" in panel_text(app)
        assert app.rail.states[Phase.AUTH] == "failed"


async def test_x_in_a_lesson_offering_several_lists_them(broker_url: str) -> None:
    course = load_course()
    app = ExplorerApp(live(broker_url), source="live", url=broker_url, course=course)
    async with running(app) as pilot:
        app.lessons.show(course.lesson_for(Phase.AUTH))
        app.action_experiment()
        await pilot.pause()
        assert isinstance(app.screen, ExperimentPicker)
        options = app.screen.query_one(OptionList)
        offered = [
            options.get_option_at_index(i).id for i in range(options.option_count)
        ]
        assert offered == list(course.lesson_for(Phase.AUTH).experiments)
        await pilot.press("escape")
        assert not isinstance(app.screen, ExperimentPicker)
        assert app.sub_title.startswith("live: live"), "escape runs nothing"


async def test_x_in_a_lesson_without_experiments_says_where_they_are() -> None:
    course = load_course()
    app = ExplorerApp(replay(bundled_recording()), source="bundled", course=course)
    async with running(app):
        app.lessons.show(course.lesson_for(Phase.START))
        app.action_experiment()
        await settle(app)
        assert any("offers no experiment" in n.message for n in app.notifications)


async def test_the_palette_lists_every_experiment_and_topic_lesson() -> None:
    course = load_course()
    app = ExplorerApp(replay(bundled_recording()), source="bundled", course=course)
    async with running(app):
        titles = {command.title for command in app.get_system_commands(app.screen)}
        assert {f"Experiment: {name}" for name in EXPERIMENTS} <= titles
        assert {f"Lesson: {topic.title}" for topic in course.topics} <= titles
        assert "Plain lifecycle" in titles


async def test_back_to_the_plain_lifecycle_after_an_experiment(broker_url: str) -> None:
    app = ExplorerApp(live(broker_url), source="live", url=broker_url)
    async with running(app):
        app.experiments.run("unknown-vhost")
        await settle(app)
        await app.connections.plain_lifecycle()
        await settle(app)
        assert "experiment" not in app.sub_title
        assert "Experiment" not in panel_text(app)
        await run_to_the_end(app)
        assert app.rail.states[Phase.CLOSE] == "done"


async def test_the_app_can_start_with_an_experiment(broker_url: str) -> None:
    app = ExplorerApp(
        live(broker_url), source="live", url=broker_url, experiment="unknown-vhost"
    )
    async with running(app):
        await settle(app)
        assert app.sub_title.startswith("live: experiment unknown-vhost")
        await run_to_the_end(app)
        assert "✓ as expected" in panel_text(app)


async def test_nothing_shown_before_an_experiment_runs_gives_its_outcome_away() -> None:
    course = load_course()
    app = ExplorerApp(
        replay(bundled_recording()),
        source="bundled",
        course=course,
        url="amqp://guest:guest@127.0.0.1:5672/",  # nothing connects until a step
    )
    async with running(app):
        # The palette.
        palette = {c.title: c.help for c in app.get_system_commands(app.screen)}
        for name, scenario in EXPERIMENTS.items():
            entry = f"Experiment: {name} {palette[f'Experiment: {name}']}"
            assert scenario.title in entry
            assert spoilers(scenario, entry) == [], entry
        # The picker of every lesson that offers several.
        several = [
            lesson for lesson in course.everything if len(lesson.experiments) > 1
        ]
        assert several
        for lesson in several:
            app.lessons.show(lesson)
            app.action_experiment()
            await settle(app)
            picker = app.screen
            assert isinstance(picker, ExperimentPicker)
            options = picker.query_one(OptionList)
            for index, name in enumerate(lesson.experiments):
                choice = str(options.get_option_at_index(index).prompt)
                assert spoilers(EXPERIMENTS[name], choice) == [], choice
            picker.action_cancel()
            await settle(app)
        # The panel and the notifications once an experiment is set up.
        for name, scenario in EXPERIMENTS.items():
            app.experiments.run(name)
            await settle(app)
            assert app.sub_title.startswith(f"live: experiment {name}")
            assert app.pump.seen.frames == [], "set up, not run yet"
            told = [f"{n.title} {n.message}" for n in app.notifications]
            shown = "\n".join([panel_text(app), *told])
            assert scenario.title in panel_text(app)
            assert spoilers(scenario, shown) == [], shown


async def test_the_expected_outcome_is_shown_after_the_run() -> None:
    scenario = EXPERIMENTS["no-permission"]
    app = ExplorerApp(replay(recorded_experiment()), source="recorded")
    async with running(app):
        assert panel_text(app) == ""
        await run_to_the_end(app)
        # What was expected, beside what the broker did.
        assert f"✓ as expected\nexpected {scenario.expect}\n" in panel_text(app)
        assert "\nAfter Queue.Declare: Channel.Close 403: " in panel_text(app)
