"""The `amqp-explorer` command line.

Owns argument parsing and turning every failure into a one-line message and an
exit status: 0 success, 1 the connection or lifecycle failed, 2 bad usage or
input. Nothing here prints a traceback. Each command imports only what it runs
(the engine for trace and record, the lab for an experiment, the UI for the
app, pcap for export), so `--version` and `--help` import none of them.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from textual.app import App

    from explorer.net.endpoint import Endpoint
    from explorer.protocol.lifecycle import Phase

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit status."""
    words = list(sys.argv[1:] if argv is None else argv)
    is_command = bool(words) and words[0] in _COMMANDS
    args = (_command_parser() if is_command else _app_parser()).parse_args(words)
    command: Callable[[argparse.Namespace], int] = args.command
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


def _usage_errors() -> tuple[type[Exception], ...]:
    """A bad URL or capture: exit 2. Evaluated only when a command raised."""
    from explorer.net.endpoint import EndpointError
    from explorer.recording.capture import CaptureError

    return EndpointError, CaptureError


class _Choices:
    """Names argparse checks a value against and lists in help and errors, read
    from their module only when argparse asks (`--version` never does)."""

    def __init__(self, names: Callable[[], Iterable[str]]) -> None:
        """The names `names()` returns."""
        self._names = names

    def __iter__(self) -> Iterator[str]:
        """The names, in order."""
        return iter(self._names())

    def __contains__(self, name: object) -> bool:
        """Whether `name` is one of them."""
        return name in list(self._names())


def _experiment_names() -> list[str]:
    from explorer.lab.registry import EXPERIMENTS

    return sorted(EXPERIMENTS)


def _phase_names() -> list[str]:
    from explorer.protocol.lifecycle import Phase

    return [p.value for p in Phase]


def _phase(name: str | None) -> Phase | None:
    """The phase a --phase or --until option names, if it does."""
    from explorer.protocol.lifecycle import Phase

    return Phase(name) if name else None


class _Version(argparse.Action):
    """--version: the installed version, read from its metadata only when asked."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        """Print the version and exit 0."""
        from explorer import __version__

        print(__version__)
        parser.exit()


_URL_HELP = "AMQP URL (default: $AMQP_URL, else amqp://guest:guest@localhost:5672/)"
#: Each command and what it does, for its own help and the explorer's epilog.
_COMMANDS: Final = {
    "record": "run a full lifecycle against the broker and write a capture",
    "export": "convert a capture for other tools (a pcap for Wireshark)",
    "trace": "walk every lifecycle phase against the broker and print it",
    "replay": "step through a capture in the explorer, as if it were live",
    "watch": "relay any application's connection to the broker and show it",
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
    parser.add_argument(
        "--version",
        action=_Version,
        nargs=0,
        default=argparse.SUPPRESS,
        help="show program's version number and exit",
    )
    parser.add_argument("url", nargs="?", help=_URL_HELP)
    parser.add_argument(
        "--reset-progress",
        action="store_true",
        help="forget finished lessons, passed try-it checks and answers, then exit",
    )
    parser.add_argument(
        "--experiment",
        choices=_Choices(_experiment_names),
        metavar="NAME",
        help="start with this experiment of the failure lab or a topic lesson "
        "(%(choices)s)",
    )
    parser.add_argument(
        "--no-predict",
        dest="predict",
        action="store_false",
        help="do not ask what the broker will answer before the steps that show it",
    )
    parser.add_argument(
        "--race",
        action="store_true",
        help="hold the handshake step by step against the broker's 10 s "
        "handshake_timeout, instead of running it at wire speed when TCP opens "
        "and revealing it step by step",
    )
    parser.add_argument(
        "--phase",
        choices=_Choices(_phase_names),
        metavar="PHASE",
        help="step the live connection up to this phase at start (%(choices)s)",
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
        choices=_Choices(_phase_names),
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
    replay.add_argument(
        "capture", type=Path, help="a capture, or a pcap or pcapng file (tcpdump ...)"
    )
    replay.add_argument(
        "--print", action="store_true", help="print it as `trace` would, no screen"
    )
    replay.add_argument("--json", action="store_true", help="with --print: JSON lines")
    replay.set_defaults(command=_replay)

    export = commands.add_parser("export", help=_COMMANDS["export"])
    export.add_argument("capture", type=Path, help="a capture file")
    export.add_argument("--pcap", type=Path, required=True, help="pcap file to write")
    export.set_defaults(command=_export)
    from explorer.cli.watch import add_parser

    add_parser(commands, _COMMANDS["watch"])
    return parser


def _scenario_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--scenario",
        choices=_Choices(_experiment_names),
        metavar="NAME",
        help=f"{what} (%(choices)s)",
    )


def _record(args: argparse.Namespace) -> int:
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
    url, endpoint = _live(args.url)
    from explorer.ui.app import ExplorerApp, live

    app = ExplorerApp(
        live(url, race=args.race),
        source=endpoint.redacted,
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
