"""The `amqp-explorer` command line.

Owns running what the command line asks (its parsers are explorer.cli.parsers)
and turning every failure into a one-line message and an exit status: 0
success, 1 the connection or lifecycle failed, 2 bad usage or input. Nothing
here prints a traceback. Each command imports only what it runs (the engine
for trace and record, the lab for an experiment, the UI for the app, pcap for
export), so `--version` and `--help` import none of them.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from explorer.cli.parsers import COMMANDS, Command, app_parser, command_parser

if TYPE_CHECKING:
    from textual.app import App

    from explorer.net.endpoint import Endpoint
    from explorer.protocol.dialect import Dialect
    from explorer.protocol.lifecycle import Phase

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Options that do not go together (argparse cannot tell)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit status."""
    words = list(sys.argv[1:] if argv is None else argv)
    is_command = bool(words) and words[0] in COMMANDS
    args = (_command_parser() if is_command else _app_parser()).parse_args(words)
    command: Command = args.command
    try:
        return command(args)
    except _usage_errors() as exc:
        _error(str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_FAILED
    except BrokenPipeError:  # the reader went away (| head, say): nothing to say
        sys.stderr.close()
        return EXIT_FAILED


def _app_parser() -> argparse.ArgumentParser:
    """The explorer's parser, for the app."""
    return app_parser(_app)


def _command_parser() -> argparse.ArgumentParser:
    """The commands' parser, each run here."""
    return command_parser(
        {"record": _record, "trace": _trace, "replay": _replay, "export": _export}
    )


def _usage_errors() -> tuple[type[Exception], ...]:
    """A bad URL, capture or combination of options: exit 2.

    Evaluated only when a command raised.
    """
    from explorer.net.endpoint import EndpointError
    from explorer.recording.capture import CaptureError

    return EndpointError, CaptureError, UsageError


def _phase(name: str | None) -> Phase | None:
    """The phase a --phase or --until option names, if it does."""
    from explorer.protocol.lifecycle import Phase

    return Phase(name) if name else None


def _dialect(args: argparse.Namespace) -> Dialect:
    """The AMQP --protocol names, checked against the options given with it.

    Raises:
        UsageError: it is given with --scenario or --experiment, whose
            experiment speaks its own, or with a --phase or --until its plan
            has no such phase (1.0 has no start or tune).
    """
    from explorer.protocol.dialect import AMQP_0_9_1, DIALECTS

    dialect = DIALECTS[args.protocol]
    if dialect is AMQP_0_9_1:
        return dialect
    for option in ("scenario", "experiment"):
        if getattr(args, option, None):
            raise UsageError(
                f"--protocol chooses the plain lifecycle's AMQP; an experiment "
                f"(--{option}) speaks its own"
            )
    phases = [p.value for p in dialect.plan_for(True)]
    for option in ("phase", "until"):
        named = getattr(args, option, None)
        if named and named not in phases:
            raise UsageError(
                f"--{option} {named}: {dialect.name} has no {named} phase; its "
                f"phases are {', '.join(phases)}"
            )
    return dialect


def _record(args: argparse.Namespace) -> int:
    dialect = _dialect(args)
    url, _ = _live(args.url)
    try:  # written as it goes: a recorder killed mid-run leaves what it saw
        journal = args.output.open("w", encoding="utf-8")
    except OSError as exc:
        _error(f"cannot write {args.output}: {exc.strerror or exc}")
        return EXIT_FAILED
    import asyncio

    from explorer.cli.trace import TextPrinter
    from explorer.recording.capture import save
    from explorer.recording.recorder import record_lifecycle

    # SIGTERM stops a recording as ctrl+c does: the connection is closed first.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with journal:
            recording = asyncio.run(
                record_lifecycle(
                    url, args.timeout, args.scenario, journal=journal, dialect=dialect
                )
            )
    except KeyboardInterrupt:
        _error(f"interrupted: what was recorded up to then is in {args.output}")
        return EXIT_FAILED
    try:
        save(recording.capture, args.output)
    except OSError as exc:
        _error(f"cannot write {args.output}: {exc.strerror or exc}")
        return EXIT_FAILED
    chunks = len(recording.capture.events)
    if args.scenario and recording.outcome:
        print(f"recorded {args.scenario}: {chunks} chunks to {args.output}")
        return EXIT_OK
    if recording.failures:
        for failure in recording.failures:
            TextPrinter(sys.stderr)(failure)
        _error(f"what was seen is in {args.output}")
        return EXIT_FAILED
    print(f"recorded {chunks} chunks from {recording.capture.broker} to {args.output}")
    return EXIT_OK


def _interrupt(signum: int, frame: object) -> None:
    """A signal handler that stops what runs as ctrl+c would."""
    raise KeyboardInterrupt


def _export(args: argparse.Namespace) -> int:
    from explorer.recording.capture import load
    from explorer.recording.pcap import write_pcap

    capture = load(args.capture)
    try:
        write_pcap(capture, args.pcap)
    except OSError as exc:
        _error(f"cannot write {args.pcap}: {exc.strerror or exc}")
        return EXIT_FAILED
    print(f"wrote {args.pcap}")
    return EXIT_OK


def _trace(args: argparse.Namespace) -> int:
    dialect = _dialect(args)
    url, _ = _live(args.url)
    import asyncio

    from explorer.cli.trace import trace

    return asyncio.run(
        trace(
            url,
            as_json=args.json,
            reveal_secrets=args.reveal_secrets,
            until=_phase(args.until),
            wait=args.timeout,
            experiment=args.scenario,
            dialect=dialect,
        )
    )


def _replay(args: argparse.Namespace) -> int:
    from explorer.cli.several import replay_file

    printing = args.print or args.json
    return replay_file(args.capture, printing=printing, as_json=args.json)


def _app(args: argparse.Namespace) -> int:
    if args.reset_progress:
        from explorer.course.progress import Progress

        progress = Progress.load()
        progress.reset()
        print(f"progress reset ({progress.path})")
        return EXIT_OK
    dialect = _dialect(args)
    url, _ = _live(args.url)
    from explorer.ui.app import ExplorerApp
    from explorer.ui.connections import live, live_source

    app = ExplorerApp(
        live(url, race=args.race, dialect=dialect),
        source=live_source(url, dialect),
        predict=args.predict and not args.quiet,
        url=url,
        experiment=args.experiment,
        race=args.race,
        phase=_phase(args.phase),
        quiet=args.quiet,
    )
    return _run_app(app)


def _live(argument: str | None) -> tuple[str, Endpoint]:
    """The URL chosen (see chosen_url) and its endpoint, checked before anything
    runs; then what every command that connects needs first.

    Raises:
        EndpointError: the URL is bad; main() says why and exits 2.
    """
    from explorer.net.endpoint import chosen_url, parse

    url = chosen_url(argument)
    endpoint = parse(url)
    import logging

    from explorer.lab.broker import sweep_in_background

    # aiormq logs failures it also raises; the raised error is what we report.
    logging.getLogger("aiormq").addHandler(logging.NullHandler())
    sweep_in_background()
    return url, endpoint


def _run_app(app: App[int]) -> int:
    """Run the full-screen explorer (imported only here: the CLI needs no Textual)."""
    return app.run() or EXIT_OK


def _error(message: str) -> None:
    print(f"amqp-explorer: {message}", file=sys.stderr)
