"""The command line: its help, its flags, and a bad URL refused before anything runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from explorer.cli.main import (
    EXIT_USAGE,
    _app_parser,
    _command_parser,
    _dialect,
    main,
)
from explorer.cli.parsers import COMMANDS
from explorer.protocol.dialect import AMQP_1_0
from tests.conftest import CAPTURES

#: URLs the CLI refuses before connecting, each with what its message must say.
BAD_URLS = [
    pytest.param("amqp://guest:secret@:5672/", "names no host", id="no-host"),
    pytest.param("http://localhost/", "the scheme is 'http'", id="http"),
    pytest.param("amqp://localhost:70000/", "the port is not", id="port-70000"),
    pytest.param("amqp://localhost:0/", "port 0 is not", id="port-0"),
    pytest.param(f"amqp://{'a' * 300}/", "the host 'aaa", id="long-host"),
    pytest.param("amqp://h/?channel_max=x", "not a whole number", id="option"),
]


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    for name, what in COMMANDS.items():
        assert any(line.split() == [name, *what.split()] for line in lines), name


@pytest.mark.parametrize("output", [[], ["--json"]], ids=["text", "json"])
@pytest.mark.parametrize(("url", "message"), BAD_URLS)
def test_trace_refuses_a_bad_url_in_one_line(
    url: str, message: str, output: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["trace", url, *output]) == EXIT_USAGE
    out, err = capsys.readouterr()
    assert out == ""  # no lifecycle output, before the error or after it
    (line,) = err.splitlines()
    assert line.startswith("amqp-explorer: ")
    assert message in line
    assert "secret" not in line


@pytest.mark.parametrize(("url", "message"), BAD_URLS)
def test_record_refuses_a_bad_url(
    url: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = tmp_path / "x.jsonl"
    assert main(["record", url, "-o", str(capture)]) == EXIT_USAGE
    (line,) = capsys.readouterr().err.splitlines()
    assert message in line
    assert not capture.exists()


def test_the_app_flags_are_parsed() -> None:
    args = _app_parser().parse_args(["--race", "--phase", "tune", "--quiet"])
    assert (args.race, args.phase, args.quiet) == (True, "tune", True)
    default = _app_parser().parse_args([])
    assert (default.race, default.phase, default.quiet) == (False, None, False)


@pytest.mark.parametrize("command", [[], ["trace"], ["record", "-o", "x.jsonl"]])
def test_protocol_chooses_the_dialect(command: list[str]) -> None:
    parser = _command_parser() if command else _app_parser()
    assert parser.parse_args(command).protocol == "0-9-1"
    args = parser.parse_args([*command, "--protocol", "1.0"])
    assert _dialect(args) is AMQP_1_0


def test_protocol_with_a_scenario_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["trace", "--protocol", "1.0", "--scenario", "wrong-password"]) == 2
    assert "an experiment (--scenario) speaks its own" in capsys.readouterr().err


PHASES_1_0 = ", ".join(p.value for p in AMQP_1_0.plan_for(True))
EXPERIMENT_SPEAKS = (
    "--protocol chooses the plain lifecycle's AMQP; an experiment (--experiment) "
    "speaks its own"
)


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--protocol", "1.0", "--experiment", "wrong-password"], EXPERIMENT_SPEAKS),
     (["--protocol", "1.0", "--experiment", "amqp10-wrong-password"],
      EXPERIMENT_SPEAKS),
     (["--protocol", "1.0", "--phase", "start"],
      f"--phase start: AMQP 1.0 has no start phase; its phases are {PHASES_1_0}"),
     (["--protocol", "1.0", "--phase", "tune"],
      f"--phase tune: AMQP 1.0 has no tune phase; its phases are {PHASES_1_0}"),
     (["trace", "--protocol", "1.0", "--until", "tune"],
      f"--until tune: AMQP 1.0 has no tune phase; its phases are {PHASES_1_0}")],
    ids=["experiment", "1.0-experiment", "phase-start", "phase-tune", "until-tune"],
)  # fmt: skip
def test_what_1_0_does_not_take_is_refused_in_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == EXIT_USAGE
    (line,) = capsys.readouterr().err.splitlines()
    assert line == f"amqp-explorer: {message}"
    assert "header, auth, open, channel" in PHASES_1_0


def test_a_phase_of_the_1_0_plan_is_accepted() -> None:
    args = _app_parser().parse_args(["--protocol", "1.0", "--phase", "open"])
    assert _dialect(args) is AMQP_1_0
    zero = _app_parser().parse_args(
        ["--phase", "tune", "--experiment", "wrong-password"]
    )
    assert _dialect(zero).key == "0-9-1"  # 0-9-1 checks neither


def test_an_unknown_phase_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        _app_parser().parse_args(["--phase", "lunch"])
    assert exited.value.code == EXIT_USAGE
    assert "invalid choice: 'lunch'" in capsys.readouterr().err


def imported_by(*args: str) -> set[str]:
    """The modules loaded once `amqp-explorer ARGS` has run, in a fresh interpreter."""
    code = (
        "import sys\n"
        "from explorer.cli.main import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "print('\\n'.join(sys.modules), file=sys.stderr)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
    )
    return set(result.stderr.split())


def loaded(modules: set[str], *packages: str) -> list[str]:
    """Which of `packages` (or their submodules) are among `modules`."""
    return [
        p for p in packages if any(m == p or m.startswith(p + ".") for m in modules)
    ]


def test_version_imports_no_client_lab_ui_or_protocol() -> None:
    modules = imported_by("--version")
    heavy = ("aiormq", "asyncio", "textual", "explorer.lab", "explorer.engine")
    assert loaded(modules, *heavy, "explorer.protocol", "explorer.recording") == []


def test_each_command_imports_only_what_it_runs(tmp_path: Path) -> None:
    capture = str(CAPTURES / "happy-path.jsonl")
    export = imported_by("export", capture, "--pcap", str(tmp_path / "x.pcap"))
    assert loaded(export, "aiormq", "textual", "explorer.lab", "explorer.engine") == []
    replayed = imported_by("replay", capture, "--print")
    assert (
        loaded(replayed, "aiormq", "textual", "explorer.lab", "explorer.recording.pcap")
        == []
    )
    refused = imported_by("trace", "amqp://h/?channel_max=x")
    assert loaded(refused, "aiormq", "explorer.lab", "explorer.engine") == []
