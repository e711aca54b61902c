"""``stepsize`` entry point: parser, exit codes, one-line errors, the console script."""

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest

from stepsize import schedules
from stepsize.cli import main
from stepsize.cli._main import COMMANDS, build_parser


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
        (["show", "linear", "--steps", "many"], "argument --steps: invalid int value"),
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
