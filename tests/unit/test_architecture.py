"""The layers: every package has its place, and what each one loads.

The import-linter contracts in pyproject.toml check every import statement
(`lint-imports`, run by the README's test command). These tests check that the
contracts cover every package, and what importing each package really loads:
the protocol core no I/O, and nothing but the UI any Textual.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IO_MODULES = ("asyncio", "socket", "ssl", "selectors")
UI_MODULES = ("textual", "rich")


def contracts() -> list[dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    found: list[dict[str, object]] = config["tool"]["importlinter"]["contracts"]
    return found


def layered() -> list[str]:
    """The packages the layers contract names, top to bottom."""
    (layers,) = [c["layers"] for c in contracts() if c["type"] == "layers"]
    assert isinstance(layers, list)
    return [name for layer in layers for name in re.split(r"\s*\|\s*", layer)]


PACKAGES = sorted(
    p.name for p in (ROOT / "explorer").iterdir() if (p / "__init__.py").is_file()
)


def imported_after(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return {name.split(".")[0] for name in result.stdout.split()}


def test_every_package_has_a_layer() -> None:
    assert sorted(layered()) == PACKAGES


def test_no_module_lies_outside_the_packages() -> None:
    loose = sorted(
        p.name
        for p in (ROOT / "explorer").glob("*.py")
        if p.name not in {"__init__.py", "__main__.py"}
    )
    assert loose == []


def test_textual_is_forbidden_to_every_package_but_the_ui() -> None:
    (rule,) = [c for c in contracts() if c["name"] == "Only the UI imports Textual"]
    sources = rule["source_modules"]
    assert isinstance(sources, list)
    assert sorted(s.removeprefix("explorer.") for s in sources) == sorted(
        set(PACKAGES) - {"ui"}
    )


def test_protocol_core_imports_no_io_and_no_ui() -> None:
    loaded = imported_after("explorer.protocol")
    assert loaded.isdisjoint(IO_MODULES + UI_MODULES), loaded & set(
        IO_MODULES + UI_MODULES
    )


@pytest.mark.parametrize("package", sorted(set(PACKAGES) - {"ui"}))
def test_only_the_ui_loads_textual(package: str) -> None:
    modules = [
        f"explorer.{package}.{p.stem}"
        for p in sorted((ROOT / "explorer" / package).glob("*.py"))
        if p.stem != "__init__"
    ]
    loaded = imported_after(", ".join(modules))
    assert loaded.isdisjoint(UI_MODULES), loaded & set(UI_MODULES)
