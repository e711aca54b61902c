"""``stepsize`` entry point: parser, exit codes, one-line errors, the console script."""

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stepsize import schedules
from stepsize.cli import _list, main
from stepsize.cli._main import COMMANDS, EXIT_BROKEN_PIPE, EXIT_INTERRUPTED, build_parser


def test_every_command_is_registered():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    assert list(subparsers.choices) == list(COMMANDS)


@pytest.mark.parametrize(
    "argv, needle",
    [
        ([], "the following arguments are required: COMMAND"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["show"], "the following arguments are required: name"),
        (["show", "linear", "--steps", "many"], "argument --steps: not an integer: 'many'"),
        (["show", "linear", "--format", "xml"], "argument --format: invalid choice"),
    ],
)
def test_usage_errors_exit_2_on_one_line(capsys, argv, needle):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert needle in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_help_exits_0(capsys):
    assert main(["--help"]) == 0
    assert "show" in capsys.readouterr().out
    assert main(["plot", "--help"]) == 0
    assert "--output" in capsys.readouterr().out


def test_console_script_prints_the_core_values():
    script = Path(sys.executable).with_name("stepsize")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "stepsize.cli"]
    argv = ["show", "cosine", "--warmup-steps", "2", "--training-steps", "10", "--format", "csv"]
    result = subprocess.run([*command, *argv], capture_output=True, text=True, check=True)
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    s = schedules.get("cosine", num_warmup_steps=2, num_training_steps=10)
    assert [float(r["multiplier"]) for r in rows] == [s(t) for t in range(11)]

    bad = subprocess.run([*command, "show", "cosine", "--warmup-steps", "-1",
                          "--training-steps", "10"], capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip() == (
        "stepsize show: error: cosine: num_warmup_steps must be an integer >= 0, got -1"
    )


def _command():
    script = Path(sys.executable).with_name("stepsize")
    return [str(script)] if script.exists() else [sys.executable, "-m", "stepsize.cli"]


@pytest.mark.parametrize(
    "argv, status, err",
    [
        (["list"], EXIT_BROKEN_PIPE, ""),
        (["show", "linear", "--warmup-steps", "0", "--training-steps", "10000000"],
         EXIT_BROKEN_PIPE, "stepsize show: note: showing 1000 of 10000001 steps (choose with "
                           "--points N or --every K)\n"),
        (["--help"], 0, ""),  # argparse itself ignores a failed write of the help
    ],
)  # fmt: skip
def test_a_closed_pipe_exits_quietly(argv, status, err):
    # `stepsize list | head -1`: the reader is gone (closed before the command even starts).
    reader, writer = os.pipe()
    os.close(reader)
    try:
        result = subprocess.run([*_command(), *argv], stdout=writer, stderr=subprocess.PIPE,
                                text=True, timeout=60)  # fmt: skip
    finally:
        os.close(writer)
    assert (result.returncode, result.stderr) == (status, err)


class _ClosedPipe(io.StringIO):
    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")


def test_a_broken_pipe_in_process_returns_141_and_prints_nothing(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    assert main(["list"]) == EXIT_BROKEN_PIPE
    assert capsys.readouterr().err == ""


def test_no_stdout_at_all_is_a_one_line_error(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdout", None)
    assert main(["list"]) == 2
    assert capsys.readouterr().err == "stepsize: error: standard output is closed\n"


def _raising(error):
    def run(args):
        raise error

    return run


def test_an_interrupt_exits_130_quietly(capsys, monkeypatch):
    monkeypatch.setattr(_list, "run", _raising(KeyboardInterrupt()))
    assert main(["list"]) == EXIT_INTERRUPTED
    assert capsys.readouterr() == ("", "")


def test_an_internal_error_is_one_line_with_status_1(capsys, monkeypatch):
    monkeypatch.setattr(_list, "run", _raising(ZeroDivisionError("division by zero\nmore")))
    assert main(["list"]) == 1
    assert capsys.readouterr().err == (
        "stepsize list: internal error: ZeroDivisionError: division by zero more "
        "(please report it)\n"
    )


def test_an_os_error_is_a_one_line_error_with_status_2(capsys, monkeypatch):
    monkeypatch.setattr(_list, "run", _raising(PermissionError(13, "Permission denied", "x")))
    assert main(["list"]) == 2
    assert capsys.readouterr().err == "stepsize list: error: [Errno 13] Permission denied: 'x'\n"
