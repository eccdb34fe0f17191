"""Reading a pcap: explorer.recording.sniffed against tshark on the same file.

Owns the synthetic packet file (bench.flood's consume flood, built by
bench.stream, exported by explorer.recording.pcap.write_pcap: one TCP segment
per chunk, about 10,000 of them), the tiny one (the bundled recording,
exported the same way) that shows what starting each program costs, the
commands timed on both (the explorer in a fresh interpreter and in this one,
tshark as a process), the check that both found the same AMQP methods, and the
section's table and check. What the explorer's side does is bench.sniffing's.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from time import perf_counter
from typing import Final

from bench.cli import cached_bytecode, wall_time
from bench.flood import synthetic_flood
from bench.report import (
    Check,
    as_ratio,
    ceiling_check,
    heading,
    interleaved,
    milliseconds,
    per_second,
    table,
)
from bench.sniffing import methods
from explorer.recording.capture import load
from explorer.recording.packetfile import PacketFile
from explorer.recording.pcap import write_pcap
from explorer.recording.replay import bundled_recording
from explorer.recording.sniffed import sniffed

ROUNDS: Final = 7
#: Frames of the flood: each delivery (three frames) and each ack is one
#: segment, so this makes about 10,000 segments.
FRAMES: Final = 20_000
#: The ratio of the explorer's whole run to tshark's, from file to every method.
GOAL: Final = 1.0

#: The rows: what each command does.
E_METHODS: Final = "explorer: open_captures + every frame decoded"
T_METHODS: Final = "tshark -Y amqp -T fields -e amqp.method.method"
E_CAPTURES: Final = "explorer: open_captures (connections only)"
T_CONV: Final = "tshark -q -z conv,tcp"
IN_METHODS: Final = "in this interpreter: sniffed + every frame decoded"
IN_CAPTURES: Final = "in this interpreter: sniffed only"
TINY: Final = ", tiny file"
#: Each command and the one it is measured against.
AGAINST: Final = {
    E_METHODS: T_METHODS,
    E_CAPTURES: T_CONV,
    IN_METHODS: T_METHODS,
    IN_CAPTURES: T_CONV,
    E_METHODS + TINY: T_METHODS + TINY,
}


def explorer_command(path: Path, *what: str) -> list[str]:
    """The explorer reading `path` in a fresh interpreter (bench.sniffing)."""
    return [sys.executable, "-m", "bench.sniffing", str(path), *what]


def tshark_commands(tshark: str, path: Path) -> dict[str, list[str]]:
    """tshark naming every AMQP method of `path`, and tallying its conversations."""
    return {
        T_METHODS: [
            tshark, "-r", str(path), "-Y", "amqp", "-T", "fields",
            "-e", "amqp.method.method",
        ],
        T_CONV: [tshark, "-r", str(path), "-q", "-z", "conv,tcp"],
    }  # fmt: skip


def timed(work: Callable[[], object]) -> float:
    """Seconds `work()` takes."""
    start = perf_counter()
    work()
    return perf_counter() - start


def same_methods(explorer: list[str], tshark: list[str], env: dict[str, str]) -> int:
    """Run both once, untimed: the method count both found (they must agree)."""

    def output(command: list[str]) -> str:
        return subprocess.run(
            command, capture_output=True, text=True, check=True, env=env
        ).stdout

    ours = int(output(explorer))
    # One line per packet, a packet's methods separated by commas.
    theirs = sum(len(line.split(",")) for line in output(tshark).splitlines() if line)
    if ours != theirs:
        raise RuntimeError(f"the explorer found {ours} methods, tshark {theirs}")
    return ours


def run() -> list[Check]:
    """Time both readers side by side; print the table, return the check."""
    print(heading("pcap: explorer.recording.sniffed vs tshark, same file"))
    tshark = shutil.which("tshark")
    if tshark is None:
        print("tshark is not installed: skipped")
        return []
    started = perf_counter()
    flood = synthetic_flood(frames=FRAMES)
    with tempfile.TemporaryDirectory() as folder:
        big, tiny = Path(folder, "flood.pcap"), Path(folder, "bundled.pcap")
        write_pcap(flood, big)
        write_pcap(load(bundled_recording()), tiny)
        del flood
        data = big.read_bytes()
        packets = sum(1 for _ in PacketFile(data))
        env = cached_bytecode(str(Path(folder, "pycache")))
        found = same_methods(
            explorer_command(big, "methods"), tshark_commands(tshark, big)[T_METHODS],
            env,
        )  # fmt: skip
        print(
            f"file: {packets:,} packets, {len(data) / 1e6:.1f} MB, one AMQP "
            f"connection of {FRAMES:,} frames, {found:,} of them methods (both "
            f"found them all); built in {perf_counter() - started:.1f} s"
        )
        commands = {
            E_METHODS: explorer_command(big, "methods"),
            E_CAPTURES: explorer_command(big),
            **tshark_commands(tshark, big),
        }
        modes: dict[str, Callable[[], float]] = {
            name: partial(wall_time, line, env) for name, line in commands.items()
        }
        modes[IN_METHODS] = partial(timed, lambda: methods(sniffed(data, big.name)))
        modes[IN_CAPTURES] = partial(timed, partial(sniffed, data, big.name))
        small = {
            E_METHODS + TINY: explorer_command(tiny, "methods"),
            T_METHODS + TINY: tshark_commands(tshark, tiny)[T_METHODS],
        }
        for name, line in small.items():
            modes[name] = partial(wall_time, line, env)
        results = interleaved(modes, ROUNDS)

    def ratio(name: str) -> float:
        return results[name].median / results[AGAINST[name]].median

    rows = [
        [
            name,
            milliseconds(samples.median),
            milliseconds(samples.best),
            "" if name.endswith(TINY) else per_second(packets, samples.median),
            as_ratio(ratio(name)) if name in AGAINST else "",
        ]
        for name, samples in results.items()
    ]
    print(
        "Each command in a fresh process, its output to a pipe (the explorer's "
        "script with its bytecode cached), or in this interpreter on the file's "
        f"bytes already read; {ROUNDS} interleaved rounds. The explorer reads "
        "the file into one Capture per AMQP connection (packets, TCP "
        "reassembly, secrets masked), then decodes every frame; tshark "
        "dissects every packet (TCP reassembly, AMQP on port 5672) and prints "
        "each method's id, or only tallies the TCP conversations. The tiny file "
        "is the bundled recording (one connection, a few dozen packets): "
        "mostly what starting each costs. Ratios are of medians, of time taken "
        "(below 1x: the explorer is faster)."
    )
    print(
        table(
            [f"{ROUNDS} rounds", "median", "best", "packets/s", "vs tshark"],
            rows,
        )
    )
    return [
        ceiling_check(
            "pcap: explorer / tshark, file to every AMQP method, median",
            ratio(E_METHODS),
            GOAL,
            "x",
        ),
    ]
