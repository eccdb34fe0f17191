"""The `amqp-explorer` command line.

Owns argument parsing and turning every failure into a one-line message and an
exit status: 0 success, 1 the connection or lifecycle failed, 2 bad usage or
input. Nothing here prints a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from explorer import __version__

if TYPE_CHECKING:
    from textual.app import App
from explorer.cli.trace import TextPrinter, replay_trace, trace
from explorer.course.progress import Progress
from explorer.lab import EXPERIMENTS
from explorer.lab.broker import sweep_in_background
from explorer.net.endpoint import Endpoint, EndpointError, chosen_url, parse
from explorer.protocol.lifecycle import Phase
from explorer.recording.capture import CaptureError, load, save
from explorer.recording.pcap import write_pcap
from explorer.recording.recorder import record_lifecycle

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit status."""
    # aiormq logs failures it also raises; the raised error is what we report.
    logging.getLogger("aiormq").addHandler(logging.NullHandler())
    words = list(sys.argv[1:] if argv is None else argv)
    commands = _command_parser()
    is_command = bool(words) and words[0] in _COMMANDS
    args = (commands if is_command else _app_parser()).parse_args(words)
    command: Callable[[argparse.Namespace], int] = args.command
    try:
        return command(args)
    except (EndpointError, CaptureError) as exc:
        _error(str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_FAILED
    except BrokenPipeError:  # the reader went away (| head, say): nothing to say
        sys.stderr.close()
        return EXIT_FAILED


_URL_HELP = "AMQP URL (default: $AMQP_URL, else amqp://guest:guest@localhost:5672/)"
#: Each command and what it does, for its own help and the explorer's epilog.
_COMMANDS: Final = {
    "record": "run a full lifecycle against the broker and write a capture",
    "export": "convert a capture for other tools (a pcap for Wireshark)",
    "trace": "walk every lifecycle phase against the broker and print it",
    "replay": "step through a capture in the explorer, as if it were live",
}


def _app_parser() -> argparse.ArgumentParser:
    width = max(map(len, _COMMANDS))
    commands = "\n".join(
        f"  {name:{width}}  {what}" for name, what in _COMMANDS.items()
    )
    parser = argparse.ArgumentParser(
        prog="amqp-explorer",
        description="Step a real AMQP 0-9-1 connection to RabbitMQ, frame by frame.",
        epilog=f"commands (amqp-explorer COMMAND --help for each):\n{commands}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument("url", nargs="?", help=_URL_HELP)
    parser.add_argument(
        "--reset-progress",
        action="store_true",
        help="forget finished lessons, passed try-it checks and answers, then exit",
    )
    parser.add_argument(
        "--experiment",
        choices=sorted(EXPERIMENTS),
        metavar="NAME",
        help="start with this experiment of the failure lab or a topic lesson "
        f"({', '.join(sorted(EXPERIMENTS))})",
    )
    parser.add_argument(
        "--no-predict",
        dest="predict",
        action="store_false",
        help="do not ask what the broker will answer before the steps that show it",
    )
    phases = [p.value for p in Phase]
    parser.add_argument(
        "--race",
        action="store_true",
        help="hold the handshake step by step against the broker's 10 s "
        "handshake_timeout, instead of running it at wire speed when TCP opens "
        "and revealing it step by step",
    )
    parser.add_argument(
        "--phase",
        choices=phases,
        metavar="PHASE",
        help="step the live connection up to this phase at start "
        f"({', '.join(phases)})",
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no pop-up notifications or predictions, for a demo",
    )
    parser.set_defaults(command=_app)
    return parser


def _command_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="amqp-explorer")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    record = commands.add_parser("record", help=_COMMANDS["record"])
    record.add_argument("url", nargs="?", help=_URL_HELP)
    record.add_argument(
        "-o", "--output", type=Path, required=True, help="capture file to write"
    )
    record.add_argument(
        "--timeout",
        type=_seconds,
        default=5.0,
        help="seconds to wait for the broker at each step (default 5)",
    )
    _scenario_option(record, "record an experiment instead (see trace --scenario)")
    record.set_defaults(command=_record)

    trace_ = commands.add_parser("trace", help=_COMMANDS["trace"])
    trace_.add_argument("url", nargs="?", help=_URL_HELP)
    trace_.add_argument("--json", action="store_true", help="one JSON object per line")
    trace_.add_argument(
        "--reveal-secrets", action="store_true", help="show passwords instead of ***"
    )
    trace_.add_argument(
        "--until",
        choices=[p.value for p in Phase],
        help="stop after this phase (then close the connection quietly)",
    )
    trace_.add_argument(
        "--timeout",
        type=_seconds,
        default=5.0,
        help="seconds to wait for the broker at each step (default 5)",
    )
    _scenario_option(
        trace_,
        "run an experiment of the failure lab or a topic lesson instead; exit 0 "
        "when the broker does what it expects",
    )
    trace_.set_defaults(command=_trace)

    replay = commands.add_parser("replay", help=_COMMANDS["replay"])
    replay.add_argument("capture", type=Path, help="a capture file")
    replay.add_argument(
        "--print", action="store_true", help="print it as `trace` would, no screen"
    )
    replay.add_argument("--json", action="store_true", help="with --print: JSON lines")
    replay.set_defaults(command=_replay)

    export = commands.add_parser("export", help=_COMMANDS["export"])
    export.add_argument("capture", type=Path, help="a capture file")
    export.add_argument("--pcap", type=Path, required=True, help="pcap file to write")
    export.set_defaults(command=_export)
    return parser


def _scenario_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--scenario",
        choices=sorted(EXPERIMENTS),
        metavar="NAME",
        help=f"{what} ({', '.join(sorted(EXPERIMENTS))})",
    )


def _record(args: argparse.Namespace) -> int:
    url, _ = _endpoint(args.url)
    sweep_in_background()
    try:  # written as it goes: a recorder killed mid-run leaves what it saw
        journal = args.output.open("w", encoding="utf-8")
    except OSError as exc:
        _error(f"cannot write {args.output}: {exc.strerror or exc}")
        return EXIT_FAILED
    # SIGTERM stops a recording as ctrl+c does: the connection is closed first.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with journal:
            recording = asyncio.run(
                record_lifecycle(url, args.timeout, args.scenario, journal=journal)
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
    capture = load(args.capture)
    try:
        write_pcap(capture, args.pcap)
    except OSError as exc:
        _error(f"cannot write {args.pcap}: {exc.strerror or exc}")
        return EXIT_FAILED
    print(f"wrote {args.pcap}")
    return EXIT_OK


def _trace(args: argparse.Namespace) -> int:
    url, _ = _endpoint(args.url)
    sweep_in_background()
    until = Phase(args.until) if args.until else None
    return asyncio.run(
        trace(
            url,
            as_json=args.json,
            reveal_secrets=args.reveal_secrets,
            until=until,
            wait=args.timeout,
            experiment=args.scenario,
        )
    )


def _replay(args: argparse.Namespace) -> int:
    capture = load(args.capture)
    if args.print or args.json:
        return asyncio.run(replay_trace(capture, as_json=args.json))
    from explorer.ui.app import ExplorerApp, replay

    return _run_app(ExplorerApp(replay(args.capture), source=str(args.capture)))


def _app(args: argparse.Namespace) -> int:
    if args.reset_progress:
        progress = Progress.load()
        progress.reset()
        print(f"progress reset ({progress.path})")
        return EXIT_OK
    url, endpoint = _endpoint(args.url)
    sweep_in_background()
    from explorer.ui.app import ExplorerApp, live

    app = ExplorerApp(
        live(url, race=args.race),
        source=endpoint.redacted,
        predict=args.predict and not args.quiet,
        url=url,
        experiment=args.experiment,
        race=args.race,
        phase=Phase(args.phase) if args.phase else None,
        quiet=args.quiet,
    )
    return _run_app(app)


def _endpoint(argument: str | None) -> tuple[str, Endpoint]:
    """The URL chosen (see chosen_url) and its endpoint, checked before anything runs.

    Raises:
        EndpointError: the URL is bad; main() says why and exits 2.
    """
    url = chosen_url(argument)
    return url, parse(url)


def _run_app(app: App[int]) -> int:
    """Run the full-screen explorer (imported only here: the CLI needs no Textual)."""
    return app.run() or EXIT_OK


def _seconds(text: str) -> float:
    """A positive number of seconds, for argparse."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a positive number of seconds"
        )
    return value


def _error(message: str) -> None:
    print(f"amqp-explorer: {message}", file=sys.stderr)
