"""The `amqp-explorer` command line's parsers: the app's and every command's.

Owns the options, their help and their choices, read from their modules only
when argparse asks (so `--version` and `--help` import no engine, lab or UI),
and `protocol_option`: ``--protocol {0-9-1,1.0}``, the dialect the app,
`trace` and `record` speak (explorer.protocol.dialect.DIALECTS). What each
command does is explorer.cli.main's.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Final

#: What runs a parsed command line, returning its exit status.
Command = Callable[[argparse.Namespace], int]


class Choices:
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


def experiment_names() -> list[str]:
    """The experiments of the failure lab and the topic lessons, by name
    (explorer.lab.registry), for --experiment and --scenario."""
    from explorer.lab.registry import EXPERIMENTS

    return sorted(EXPERIMENTS)


def phase_names() -> list[str]:
    """Every lifecycle phase, by its value, in order, for --phase and --until
    (of either protocol: explorer.cli.main checks a phase against the
    dialect's plan)."""
    from explorer.protocol.lifecycle import Phase

    return [p.value for p in Phase]


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

        sys.stdout.write(f"{__version__}\n")
        parser.exit()


URL_HELP = "AMQP URL (default: $AMQP_URL, else amqp://guest:guest@localhost:5672/)"
#: Each command and what it does, for its own help and the explorer's epilog.
COMMANDS: Final = {
    "record": "run a full lifecycle against the broker and write a capture",
    "export": "convert a capture for other tools (a pcap for Wireshark)",
    "trace": "walk every lifecycle phase against the broker and print it",
    "replay": "step through a capture in the explorer, as if it were live",
    "watch": "relay any application's connection to the broker and show it",
}


def app_parser(run: Command) -> argparse.ArgumentParser:
    """The explorer's own parser (no command): the app, run by `run`."""
    width = max(map(len, COMMANDS))
    commands = "\n".join(f"  {name:{width}}  {what}" for name, what in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="amqp-explorer",
        description="Step a real AMQP 0-9-1 (or 1.0) connection to RabbitMQ, frame "
        "by frame.",
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
    parser.add_argument("url", nargs="?", help=URL_HELP)
    protocol_option(parser)
    parser.add_argument(
        "--reset-progress",
        action="store_true",
        help="forget finished lessons, passed try-it checks and answers, then exit",
    )
    parser.add_argument(
        "--experiment",
        choices=Choices(experiment_names),
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
        choices=Choices(phase_names),
        metavar="PHASE",
        help="step the live connection up to this phase at start (%(choices)s)",
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no pop-up notifications or predictions, for a demo",
    )
    parser.set_defaults(command=run)
    return parser


def command_parser(run: Mapping[str, Command]) -> argparse.ArgumentParser:
    """The commands' parser: each command run by `run[name]`."""
    parser = argparse.ArgumentParser(prog="amqp-explorer")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    record = commands.add_parser("record", help=COMMANDS["record"])
    record.add_argument("url", nargs="?", help=URL_HELP)
    protocol_option(record)
    record.add_argument(
        "-o", "--output", type=Path, required=True, help="capture file to write"
    )
    record.add_argument(
        "--timeout",
        type=seconds,
        default=5.0,
        help="seconds to wait for the broker at each step (default 5)",
    )
    scenario_option(record, "record an experiment instead (see trace --scenario)")
    record.set_defaults(command=run["record"])

    trace_ = commands.add_parser("trace", help=COMMANDS["trace"])
    trace_.add_argument("url", nargs="?", help=URL_HELP)
    protocol_option(trace_)
    trace_.add_argument("--json", action="store_true", help="one JSON object per line")
    trace_.add_argument(
        "--reveal-secrets", action="store_true", help="show passwords instead of ***"
    )
    trace_.add_argument(
        "--until",
        choices=Choices(phase_names),
        help="stop after this phase (then close the connection quietly)",
    )
    trace_.add_argument(
        "--timeout",
        type=seconds,
        default=5.0,
        help="seconds to wait for the broker at each step (default 5)",
    )
    scenario_option(
        trace_,
        "run an experiment of the failure lab or a topic lesson instead; exit 0 "
        "when the broker does what it expects",
    )
    trace_.set_defaults(command=run["trace"])

    replay = commands.add_parser("replay", help=COMMANDS["replay"])
    replay.add_argument(
        "capture", type=Path, help="a capture, or a pcap or pcapng file (tcpdump ...)"
    )
    replay.add_argument(
        "--print", action="store_true", help="print it as `trace` would, no screen"
    )
    replay.add_argument("--json", action="store_true", help="with --print: JSON lines")
    replay.set_defaults(command=run["replay"])

    export = commands.add_parser("export", help=COMMANDS["export"])
    export.add_argument("capture", type=Path, help="a capture file")
    export.add_argument("--pcap", type=Path, required=True, help="pcap file to write")
    export.set_defaults(command=run["export"])
    from explorer.cli.watch import add_parser

    add_parser(commands, COMMANDS["watch"])
    return parser


def scenario_option(parser: argparse.ArgumentParser, what: str) -> None:
    """``--scenario NAME``: an experiment to run instead, `what` saying how."""
    parser.add_argument(
        "--scenario",
        choices=Choices(experiment_names),
        metavar="NAME",
        help=f"{what} (%(choices)s)",
    )


def seconds(text: str) -> float:
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


def dialect_keys() -> list[str]:
    """The protocols the explorer speaks, by the key the learner chooses."""
    from explorer.protocol.dialect import DIALECTS

    return list(DIALECTS)


def protocol_option(parser: argparse.ArgumentParser) -> None:
    """``--protocol``: which AMQP to speak (default 0-9-1)."""
    parser.add_argument(
        "--protocol",
        choices=Choices(dialect_keys),
        metavar="PROTOCOL",
        default="0-9-1",
        help="the AMQP to speak (%(choices)s): 0-9-1 with aiormq, or 1.0 with "
        "Qpid Proton (RabbitMQ 4.x speaks it natively, 3.x only with its "
        "rabbitmq_amqp1_0 plugin); default %(default)s",
    )
