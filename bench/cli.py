"""The command line against bare aiormq: a whole `trace`, and `--version` alone.

Owns timing commands in fresh interpreters (every command once per round, the
order rotating, so that each ratio is measured side by side in one run), the
bare aiormq script that performs the operations `trace` walks against the live
broker, where trace's imports go (``python -X importtime``, by package), and
the section's tables and check. Every command runs with its bytecode cached, as
an installed package has it, whatever PYTHONDONTWRITEBYTECODE says.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from functools import partial
from time import perf_counter
from typing import Final

from bench.report import (
    Check,
    as_ratio,
    ceiling_check,
    heading,
    interleaved,
    milliseconds,
    table,
)
from bench.tap import url

ROUNDS: Final = 7
#: Runs of ``-X importtime``; each module's least self time counts.
IMPORT_RUNS: Final = 5
#: The libraries trace imports besides the explorer and the standard library.
CLIENT: Final = ("aiormq", "pamqp", "yarl", "multidict", "propcache", "idna")
IMPORT_LINE: Final = re.compile(r"import time:\s+(\d+) \|\s+\d+ \|\s+(\S+)")
TRACE_GOAL: Final = 2.0

#: What `amqp-explorer trace` does on the wire, done with aiormq alone: connect,
#: channel 1 (aiormq adds Confirm.Select), declare a server-named exclusive
#: queue, publish, consume one message and cancel, publish and poll until
#: Basic.GetEmpty, close the channel and the connection.
BARE_TRACE: Final = """
import asyncio, sys
import aiormq

async def main(url):
    connection = aiormq.Connection(url)
    await connection.connect()
    channel = await connection.channel()
    queue = (await channel.queue_declare(exclusive=True)).queue
    await channel.basic_publish(b"hello from amqp-explorer", routing_key=queue)
    delivered = asyncio.get_running_loop().create_future()

    async def on_message(message):
        if not delivered.done():
            delivered.set_result(message)

    consuming = await channel.basic_consume(queue, on_message)
    await channel.basic_ack((await delivered).delivery_tag)
    await channel.basic_cancel(consuming.consumer_tag)
    await channel.basic_publish(b"waiting to be polled", routing_key=queue)
    polled = await channel.basic_get(queue)
    await channel.basic_ack(polled.delivery_tag)
    await channel.basic_get(queue)
    await channel.close()
    await connection.close()

asyncio.run(main(sys.argv[1]))
"""


#: The rows: each command line's name.
INTERPRETER: Final = "python -c pass (the interpreter alone)"
IMPORT: Final = "python -c 'import aiormq'"
VERSION: Final = "amqp-explorer --version"
BARE: Final = "bare aiormq script, trace's operations"
TRACE: Final = "amqp-explorer trace"
#: Each of the explorer's commands and the bare one it is measured against.
AGAINST: Final = {VERSION: IMPORT, TRACE: BARE}


def commands(address: str) -> dict[str, list[str]]:
    """Each timed command line, by its row's name."""
    python = sys.executable
    return {
        INTERPRETER: [python, "-c", "pass"],
        IMPORT: [python, "-c", "import aiormq"],
        VERSION: [python, "-m", "explorer", "--version"],
        BARE: [python, "-c", BARE_TRACE, address],
        TRACE: [python, "-m", "explorer", "trace", address],
    }


def cached_bytecode(prefix: str) -> dict[str, str]:
    """This environment, with bytecode written to and read from `prefix`.

    Where PYTHONDONTWRITEBYTECODE is set (as on the project's machine), a
    checkout never caches the explorer's bytecode: each start would compile
    every module again, which an installed package never does.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPYCACHEPREFIX": prefix}


def wall_time(command: Sequence[str], env: dict[str, str]) -> float:
    """Seconds from starting `command` to its exit; it must exit 0."""
    started = perf_counter()
    result = subprocess.run(command, capture_output=True, check=False, env=env)
    elapsed = perf_counter() - started
    if result.returncode != 0:
        error = result.stderr.decode(errors="replace").strip().splitlines()
        raise RuntimeError(f"{command[2:]} exited {result.returncode}: {error[-1:]}")
    return elapsed


def import_self_times(command: Sequence[str], env: dict[str, str]) -> dict[str, float]:
    """Seconds each module took to import itself (its imports apart) in
    `command`, the least of IMPORT_RUNS runs under ``python -X importtime``."""
    least: dict[str, float] = {}
    for _ in range(IMPORT_RUNS):
        run = [command[0], "-X", "importtime", *command[1:]]
        result = subprocess.run(
            run, capture_output=True, text=True, check=True, env=env
        )
        for found in IMPORT_LINE.finditer(result.stderr):
            seconds, module = int(found[1]) / 1e6, found[2]
            least[module] = min(least.get(module, seconds), seconds)
    return least


def import_rows(least: dict[str, float]) -> list[list[str]]:
    """Modules and import time by who owns them: the explorer, the client, Python."""
    owners: defaultdict[str, list[float]] = defaultdict(list)
    for module, seconds in least.items():
        top = module.partition(".")[0]
        owner = top if top == "explorer" else "client" if top in CLIENT else "stdlib"
        owners[owner].append(seconds)
    names = {
        "explorer": "explorer's own modules",
        "client": f"the client ({', '.join(CLIENT)})",
        "stdlib": "the standard library",
    }
    rows = [
        [names[owner], str(len(owners[owner])), milliseconds(sum(owners[owner]))]
        for owner in names
    ]
    return [*rows, ["all", str(len(least)), milliseconds(sum(least.values()))]]


def run() -> list[Check]:
    """Time the command lines side by side; print the tables, return the check."""
    print(heading("cli: amqp-explorer against bare aiormq, wall time"))
    lines = commands(url())
    with tempfile.TemporaryDirectory() as prefix:
        env = cached_bytecode(prefix)
        for line in lines.values():  # untimed: compiles and caches the bytecode
            wall_time(line, env)
        results = interleaved(
            {name: partial(wall_time, line, env) for name, line in lines.items()},
            ROUNDS,
        )
        least = import_self_times(lines[TRACE], env)

    def ratio(name: str) -> float:
        return results[name].median / results[AGAINST[name]].median

    rows = [
        [
            name,
            f"{samples.median * 1e3:,.0f} ms",
            f"{samples.best * 1e3:,.0f} ms",
            as_ratio(ratio(name)) if name in AGAINST else "",
        ]
        for name, samples in results.items()
    ]
    print(
        "Each command in a fresh interpreter, its output to a pipe, its bytecode "
        f"cached (one untimed round first), {ROUNDS} interleaved rounds; "
        "`amqp-explorer` is `python -m explorer` "
        "(what the console script runs); the bare script does trace's operations "
        "against the same broker. Ratios are of medians, against the row above."
    )
    print(table([f"{ROUNDS} rounds", "median", "best", "vs the row above"], rows))
    print(
        table(
            [f"{TRACE}: imports (least of {IMPORT_RUNS})", "modules", "self time"],
            import_rows(least),
        )
    )
    return [
        ceiling_check(
            "cli: trace / bare aiormq script, same operations, median",
            ratio(TRACE),
            TRACE_GOAL,
            "x",
        ),
    ]
