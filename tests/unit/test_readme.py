"""The README's test command is the one CI runs, word for word."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def fenced_commands(text: str) -> list[str]:
    lines = text.splitlines()
    return [
        lines[i + 1]
        for i, line in enumerate(lines)
        if line.strip() == "```sh" and i + 1 < len(lines)
    ]


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Test it", 1)[1]
    test_command = fenced_commands(section)[0]
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command in ci_lines


def test_readme_run_command_installs_and_starts_the_explorer() -> None:
    readme = (ROOT / "README.md").read_text()
    run_command = fenced_commands(readme.split("## Run it", 1)[1])[0]
    assert "pip install -e ." in run_command
    assert ".venv/bin/amqp-explorer" in run_command


def test_readme_lists_every_experiment() -> None:
    from explorer.lab.registry import EXPERIMENTS

    readme = (ROOT / "README.md").read_text()
    missing = [name for name in EXPERIMENTS if f"| `{name}` |" not in readme]
    assert not missing, f"the README's experiment table lacks {missing}"
