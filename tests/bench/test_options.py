"""Options every benchmark takes: ``--quick`` and its defaults, checked values, ``--json``."""

from __future__ import annotations

import argparse

import pytest

from stepsize.bench._options import add_options, resolve_options
from stepsize.bench._workload import QUICK, Workload


def _parse(argv, steps=10):
    parser = argparse.ArgumentParser(prog="bench")
    add_options(parser, steps)
    args = parser.parse_args(argv)
    resolve_options(parser, args, steps)
    return args


def test_defaults_are_the_full_workload():
    args = _parse([], steps=8)
    assert (args.steps, args.warmup, args.workload) == (8, 2, Workload())
    assert (args.clock, args.json, args.only, args.threads) == ("wall", None, None, None)


def test_quick_is_a_small_workload_and_few_steps():
    args = _parse(["--quick"])
    assert (args.steps, args.warmup, args.workload) == (3, 1, QUICK)


def test_explicit_options_win_over_quick():
    args = _parse(["--quick", "--steps", "5", "--layers", "0", "--hidden", "16"])
    assert (args.steps, args.warmup, args.workload) == (5, 1, Workload(0, 16))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--steps", "0"], "--steps and --hidden must be >= 1, --warmup and --layers >= 0"),
        (["--warmup", "-1"], "got 10, 768, -1, 4"),
        (["--hidden", "0"], "got 10, 0, 2, 4"),
        (["--threads", "0"], "--threads must be >= 1, got 0"),
        (["--json", "no/such/folder/t.json"], "--json: no folder no/such/folder"),
        (["--clock", "gpu"], "invalid choice: 'gpu'"),
    ],
)
def test_bad_value_is_a_usage_error(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        _parse(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_json_takes_a_path(tmp_path):
    assert _parse(["--json", str(tmp_path / "t.json")]).json == tmp_path / "t.json"
