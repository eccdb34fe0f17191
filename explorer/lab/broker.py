"""The broker's side of an experiment: rabbitmqctl, and the broker's log.

Owns what experiments ask of the local broker beyond AMQP: a throwaway user
(removed afterwards, and swept up later if a run was killed: at the next
experiment that makes one, and in the background at every start), closing a
connection as an operator would, and the log lines about one connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Final

#: Every user an experiment creates starts with this, then its process id.
USER_PREFIX: Final = "amqp-explorer-lab-"
#: Where RabbitMQ keeps its log on common installs ($RABBITMQ_LOGS wins).
LOG_PATTERNS: Final = (
    "/var/log/rabbitmq/rabbit@*.log",
    "/usr/local/var/log/rabbitmq/rabbit@*.log",
    "/opt/homebrew/var/log/rabbitmq/rabbit@*.log",
)
#: Seconds rabbitmqctl may take (it starts an Erlang VM each time).
CTL_TIMEOUT: Final = 30.0
#: What the background sweep runs: a fresh interpreter, detached, so that it
#: outlives a short command (a trace takes about as long as one rabbitmqctl).
SWEEPER: Final = "from explorer.lab.broker import sweep_quietly; sweep_quietly()"
#: Seconds between two sweeps at start (each costs rabbitmqctl's Erlang VM).
SWEEP_EVERY: Final = 60.0
_TIMESTAMP: Final = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d")
#: A full timestamp, shortened to the time of day to the millisecond.
_STAMP: Final = re.compile(
    r"^\d{4}-\d\d-\d\d[ T](\d\d:\d\d:\d\d\.\d{3})\d*(?:[+-]\d\d:\d\d|Z)?",
    re.MULTILINE,
)
_PID: Final = re.compile(r"<\d+\.\d+\.\d+>")


class LabError(Exception):
    """The broker cannot be asked to do what the experiment needs."""


def ctl_command() -> list[str] | None:
    """How to run the broker's rabbitmqctl: $RABBITMQCTL, else the one on PATH.

    $RABBITMQCTL is a command line, split as a shell would, for a broker whose
    rabbitmqctl is not the one on PATH (`scripts/rabbitmq4 ctl` for the
    project's RabbitMQ 4.0 in its chroot).

    Raises:
        LabError: $RABBITMQCTL cannot be read as a command line.
    """
    configured = os.environ.get("RABBITMQCTL", "").strip()
    if configured:
        try:
            return shlex.split(configured)
        except ValueError as exc:
            raise LabError(
                f"$RABBITMQCTL is not a command line ({exc}): {configured}"
            ) from None
    found = shutil.which("rabbitmqctl")
    return None if found is None else [found]


async def rabbitmqctl(*args: str, stdin: str = "") -> str:
    """Run rabbitmqctl and return what it printed.

    Raises:
        LabError: it is not installed, not permitted, or failed.
    """
    command = ctl_command()
    if command is None:
        raise LabError(
            "this experiment needs rabbitmqctl (it comes with RabbitMQ) on this "
            "machine, for a broker running here"
        )
    starting = asyncio.ensure_future(
        asyncio.create_subprocess_exec(
            *command,
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
    )
    try:
        # Shielded: a run cancelled while the process starts still gets its
        # handle, to stop it (else its transport outlives the event loop).
        process = await asyncio.shield(starting)
    except OSError as exc:  # $RABBITMQCTL names a program that is not there
        raise LabError(
            f"rabbitmqctl could not be started ({command[0]}: {exc.strerror or exc})"
        ) from None
    except asyncio.CancelledError:
        with contextlib.suppress(OSError):
            await _stop(await starting)
        raise
    try:
        async with asyncio.timeout(CTL_TIMEOUT):
            out, _ = await process.communicate(stdin.encode())
    except TimeoutError:
        await _stop(process)
        raise LabError(
            f"rabbitmqctl {args[0]} gave no answer in {CTL_TIMEOUT:g} s"
        ) from None
    except asyncio.CancelledError:
        await _stop(process)  # the run was interrupted: leave no rabbitmqctl behind
        raise
    text = out.decode(errors="replace")
    if process.returncode != 0:
        last = text.strip().splitlines()[-1:] or ["no output"]
        raise LabError(
            f"rabbitmqctl {args[0]} failed ({last[0]}); it needs to run as root or "
            "as the rabbitmq user"
        )
    return text


async def _stop(process: asyncio.subprocess.Process) -> None:
    """Kill rabbitmqctl and what it started, and reap it while the loop runs.

    Debian's rabbitmqctl is a shell script that, run as root, starts its
    Erlang VM through `su`, in a session of its own: killing the script alone
    leaves the VM holding the pipes, whose transport then outlives the event
    loop ('Event loop is closed' at exit). So every process it started goes,
    and its output is read to the end. Each is stopped (SIGSTOP) before its
    children are looked for, so none forks one more, nor is orphaned out of
    sight, between the look and the kill.
    """
    frozen: set[int] = set()
    found = [process.pid]
    while found:
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGSTOP)
        frozen.update(found)
        found = [pid for pid in _descendants(process.pid) if pid not in frozen]
    for pid in frozen:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(TimeoutError, OSError):
        async with asyncio.timeout(CTL_TIMEOUT):
            if process.stdout is not None:
                await process.stdout.read()
            await process.wait()


def _descendants(pid: int) -> list[int]:
    """The processes `pid` started, and theirs, as /proc tells (none elsewhere)."""
    parents: dict[int, int] = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(stat).read_text().rpartition(")")[2].split()
            parents[int(stat.split("/")[2])] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


async def temporary_user(
    vhost: str, permissions: tuple[str, str, str]
) -> tuple[str, str, Callable[[], Awaitable[None]]]:
    """A new user with `permissions` (configure, write, read) on `vhost`.

    Returns the name, the password and the coroutine function that removes it.
    Users left behind by runs that were killed are removed first.
    """
    await sweep()
    name = f"{USER_PREFIX}{os.getpid()}-{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(12)

    async def remove() -> None:
        await rabbitmqctl("delete_user", name)

    try:
        await rabbitmqctl("add_user", name, stdin=password)
        await rabbitmqctl("set_permissions", "-p", vhost, name, *permissions)
    except BaseException:  # LabError, or cancelled (Ctrl-C, the app quitting)
        with contextlib.suppress(LabError):  # it may never have been created
            await remove()
        raise
    return name, password, remove


async def sweep() -> list[str]:
    """Remove experiment users whose process is gone; return their names."""
    listed = await rabbitmqctl("list_users", "--quiet", "--no-table-headers")
    removed = []
    for line in listed.splitlines():
        name = line.split("\t")[0].strip()
        if name.startswith(USER_PREFIX) and not _alive(name):
            with contextlib.suppress(LabError):  # another run swept it first
                await rabbitmqctl("delete_user", name)
                removed.append(name)
    return removed


def ctl_available() -> bool:
    """Whether rabbitmqctl is here and this user may run it, judged without running it.

    rabbitmqctl reaches the broker with its Erlang cookie: root may (Debian's
    wrapper runs it as the rabbitmq user), and so may a user who can read
    ~/.erlang.cookie (the broker's own user, a Homebrew install's owner) or who
    has $RABBITMQ_ERLANG_COOKIE set. A $RABBITMQCTL given is taken at its word.
    """
    if os.environ.get("RABBITMQCTL", "").strip():
        return True
    if shutil.which("rabbitmqctl") is None:
        return False
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    cookie = os.path.expanduser("~/.erlang.cookie")
    given = "RABBITMQ_ERLANG_COOKIE" in os.environ
    return root or given or os.access(cookie, os.R_OK)


def sweep_in_background() -> None:
    """Start removing users left by killed experiments, and return at once.

    Only where rabbitmqctl is available to this user; in a detached process, so
    no start waits for it, a command that ends first does not cut it short,
    and nothing it meets (rabbitmqctl refusing, a broker down) can fail a start.
    """
    stamp = sweep_stamp()
    with contextlib.suppress(OSError):
        if time.time() - stamp.stat().st_mtime < SWEEP_EVERY:
            return  # swept a moment ago: starts in a row start one sweep
    if not ctl_available():
        return
    with contextlib.suppress(OSError):
        stamp.touch()
    with warnings.catch_warnings(), contextlib.suppress(OSError):
        # Never waited for, on purpose: Popen would warn that it still runs.
        warnings.simplefilter("ignore", ResourceWarning)
        subprocess.Popen(
            [sys.executable, "-c", SWEEPER],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )


def sweep_stamp() -> Path:
    """The file whose time says when this user's last sweep started."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"amqp-explorer-sweep-{uid}"


def sweep_quietly() -> None:
    """Sweep, saying nothing: the body of the background sweep."""
    with contextlib.suppress(LabError):
        asyncio.run(sweep())


def _alive(user: str) -> bool:
    """Whether the process that created `user` still runs (if unsure: yes)."""
    pid = user.removeprefix(USER_PREFIX).split("-")[0]
    if not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, but is not ours to signal
        return True
    return True


async def close_connection(client_port: int, reason: str) -> None:
    """Close the connection from `client_port` as an operator would (320).

    Raises:
        LabError: rabbitmqctl failed, or no such connection is listed.
    """
    listed = await rabbitmqctl(
        "list_connections", "pid", "peer_port", "--quiet", "--no-table-headers"
    )
    for line in listed.splitlines():
        pid, _, port = line.partition("\t")
        if port.strip() == str(client_port):
            await rabbitmqctl("close_connection", pid.strip(), reason)
            return
    raise LabError(f"the broker lists no connection from port {client_port}")


def log_file() -> Path | None:
    """The broker's log file, if one is found and readable here."""
    configured = os.environ.get("RABBITMQ_LOGS")
    candidates = [configured] if configured and configured != "-" else []
    for pattern in LOG_PATTERNS:
        candidates += sorted(glob.glob(pattern))
    for candidate in candidates:
        path = Path(candidate)
        if path.is_file() and os.access(path, os.R_OK):
            return path
    return None


def log_lines(
    path: Path, client: str, since: datetime | None = None, tail: int = 1 << 20
) -> list[str]:
    """The log entries about the connection from `client` (``host:port``).

    An entry is a timestamped line and any untimestamped lines that continue
    it. The broker names a connection by ``client -> broker`` and by its
    Erlang process id, so entries naming that process id are included too.
    Only the last `tail` bytes are read, entries logged before `since` are
    left out, and so is everything before the latest connection accepted from
    `client` (a port is reused, in time).
    """
    with path.open("rb") as log:
        log.seek(max(0, path.stat().st_size - tail))
        text = log.read().decode(errors="replace")
    entries: list[str] = []
    for line in text.splitlines():
        if _TIMESTAMP.match(line) or not entries:
            entries.append(line)
        else:
            entries[-1] += "\n" + line
    if since is not None:
        entries = [e for e in entries if _logged_at(e, since) >= since]
    marker = f"{client} -> "
    accepted = [
        i
        for i, e in enumerate(entries)
        if "accepting AMQP connection" in e and marker in e
    ]
    entries = entries[accepted[-1] :] if accepted else entries
    pids = {pid for e in entries if marker in e for pid in _PID.findall(e)}
    return [
        _STAMP.sub(r"\1", entry)
        for entry in entries
        if marker in entry or any(pid in entry for pid in pids)
    ]


def _logged_at(entry: str, otherwise: datetime) -> datetime:
    """When the broker logged `entry` (`otherwise` when it does not say)."""
    try:
        logged = datetime.fromisoformat(entry.split(" [", 1)[0])
    except ValueError:
        return otherwise
    return logged if logged.tzinfo else logged.astimezone()  # naive: local time
