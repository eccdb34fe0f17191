"""Import rules: the protocol core is sans-I/O, and only the UI imports Textual."""

from __future__ import annotations

import subprocess
import sys

import pytest

IO_MODULES = ("asyncio", "socket", "ssl", "selectors")
UI_MODULES = ("textual", "rich")


def imported_after(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return {name.split(".")[0] for name in result.stdout.split()}


def test_protocol_core_imports_no_io_and_no_ui() -> None:
    loaded = imported_after("explorer.protocol")
    assert loaded.isdisjoint(IO_MODULES + UI_MODULES), loaded & set(
        IO_MODULES + UI_MODULES
    )


@pytest.mark.parametrize(
    "module",
    ["explorer.capture", "explorer.net.tap", "explorer.recorder", "explorer.cli"],
)
def test_only_the_ui_imports_textual(module: str) -> None:
    loaded = imported_after(module)
    assert loaded.isdisjoint(UI_MODULES), loaded & set(UI_MODULES)
