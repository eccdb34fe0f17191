"""The help screen's text: every binding of the app, in words people use."""

from __future__ import annotations

import re

from textual.binding import Binding

from explorer.ui.app import ExplorerApp
from explorer.ui.help import DESCRIPTIONS, HelpScreen, key_names


def bindings() -> list[Binding]:
    return [b for b in ExplorerApp.BINDINGS if isinstance(b, Binding)]


def test_every_binding_of_the_app_is_listed() -> None:
    text = HelpScreen(ExplorerApp.BINDINGS).text
    for binding in bindings():
        described = DESCRIPTIONS.get(binding.action, binding.description)
        assert f"| `{key_names(binding.key)}` | {described} |" in text


def test_keys_are_written_as_people_write_them() -> None:
    text = HelpScreen(ExplorerApp.BINDINGS).text
    keys = re.findall(r"^\| `([^`]+)` \|", text, flags=re.MULTILINE)
    assert "?" in keys
    assert not [key for key in keys if re.search(r"[a-z]_[a-z]", key)]
    assert "question_mark" not in text
    assert key_names("space,n") == "space, n"
    assert key_names("ctrl+r") == "ctrl+r"
    assert key_names("p,left") == "p, left"
    assert key_names("ctrl+question_mark,full_stop") == "ctrl+?, ."


def test_descriptions_are_sentences_for_newcomers() -> None:
    text = HelpScreen(ExplorerApp.BINDINGS).text
    assert "Step: run the next phase of the lifecycle against the broker" in text
    assert [b.action for b in bindings() if b.action not in DESCRIPTIONS] == []


def test_a_binding_without_a_long_description_keeps_its_own() -> None:
    text = HelpScreen([Binding("z", "zap", "Zap the frame list")]).text
    assert "| `z` | Zap the frame list |" in text


def test_the_race_binding_is_explained() -> None:
    text = HelpScreen([Binding("c", "race", "Race the clock")]).text
    assert "| `c` | Race the clock" in text
    assert "handshake_timeout" in text
