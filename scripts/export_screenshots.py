"""Write the README pictures: screenshots/NN-<name>.svg, at 120x40.

One per phase of the bundled recording, one of a recorded failure-lab
experiment, then the bundled AMQP 1.0 recording's auth and open. Owns
regenerating screenshots/ from the recordings, with the same shots as the
snapshot tests (explorer.ui.shots), so the pictures are never drawn by hand.
Run it from anywhere as `.venv/bin/python scripts/export_screenshots.py`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from explorer.ui.shots import WIDE, Shot, all_shots, bundled_app, show_phase

SCREENSHOTS = Path(__file__).resolve().parent.parent / "screenshots"


def file_name(number: int, shot: Shot) -> str:
    """The picture's file name, numbered from 01 in lifecycle order."""
    return f"{number:02d}-{shot.name}.svg"


async def export(shot: Shot, filename: str) -> Path:
    """Step a fresh app through `shot` and save the screen as an SVG."""
    app = bundled_app(shot)
    async with app.run_test(size=WIDE) as pilot:
        await show_phase(pilot, shot)
        return Path(app.save_screenshot(filename=filename, path=str(SCREENSHOTS)))


async def export_all(shots: tuple[Shot, ...]) -> list[Path]:
    """Write every shot, removing numbered pictures no shot makes any more."""
    names = [file_name(number, shot) for number, shot in enumerate(shots, 1)]
    SCREENSHOTS.mkdir(exist_ok=True)
    for stale in SCREENSHOTS.glob("[0-9][0-9]-*.svg"):
        if stale.name not in names:
            stale.unlink()
    return [await export(shot, name) for shot, name in zip(shots, names, strict=True)]


def main() -> None:
    """Write the pictures and name each one."""
    for path in asyncio.run(export_all(all_shots())):
        print(path.relative_to(SCREENSHOTS.parent))  # noqa: T201


if __name__ == "__main__":
    main()
