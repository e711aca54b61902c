"""``stepsize show``: values equal the core schedule's, in every format."""

import csv
import io
import json

import pytest

from cases.schedules import KNOWN_VALUES
from stepsize import schedules
from stepsize.cli import main


def _cli_args(row):
    """``show`` arguments for a KNOWN_VALUES row, and the schedule they must build."""
    kwargs = dict(row.kwargs)
    argv = ["show", row.name, "--lr", str(row.base_lr), "--steps", str(len(row.values))]
    if "num_warmup_steps" in kwargs:
        argv += ["--warmup-steps", str(kwargs.pop("num_warmup_steps"))]
    if "num_training_steps" in kwargs:
        argv += ["--training-steps", str(kwargs.pop("num_training_steps"))]
    kwargs.pop("lr_init", None)  # --lr is polynomial's lr_init
    for key, value in kwargs.items():
        argv += ["--set", f"{key}={json.dumps(value)}"]
    return argv, schedules.get(row.name, **row.kwargs)


@pytest.mark.parametrize("row", KNOWN_VALUES, ids=str)
def test_csv_equals_the_core_values(capsys, row):
    argv, schedule = _cli_args(row)
    assert main([*argv, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [int(r["step"]) for r in rows] == list(range(len(row.values)))
    assert [float(r["multiplier"]) for r in rows] == [schedule(t) for t in range(len(rows))]
    assert [float(r["lr"]) for r in rows] == [row.base_lr * schedule(t) for t in range(len(rows))]
    for r, expected in zip(rows, row.values, strict=True):
        assert abs(float(r["lr"]) - expected) <= 5.0001e-5


@pytest.mark.parametrize("row", KNOWN_VALUES, ids=str)
def test_json_equals_the_core_values(capsys, row):
    argv, schedule = _cli_args(row)
    assert main([*argv, "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert schedules.from_config(document["schedule"]) == schedule
    assert document["base_lr"] == row.base_lr
    assert document["multiplier"] == [schedule(t) for t in document["step"]]
    assert document["lr"] == [row.base_lr * schedule(t) for t in document["step"]]


def test_table_and_default_steps(capsys):
    argv = ["show", "linear", "--warmup-steps", "2", "--training-steps", "10", "--lr", "10"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "# Linear(num_warmup_steps=2, num_training_steps=10), lr=10.0"
    assert lines[1].split() == ["step", "multiplier", "lr"]
    body = [line.split() for line in lines[2:]]
    assert [int(b[0]) for b in body] == list(range(11))  # through T
    assert [float(b[2]) for b in body[:4]] == [0.0, 5.0, 10.0, 8.75]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["show", "cosin"], "stepsize show: error: unknown schedule name 'cosin'; valid names:"),
        (["show", "cosine", "--warmup-steps", "2"], "needs --training-steps"),
        (["show", "cosine", "--warmup-steps", "2", "--training-steps", "9", "--set", "x=1"],
         "got unexpected argument(s) x"),
        (["show", "polynomial", "--warmup-steps", "2", "--training-steps", "9", "--lr", "1e-8"],
         "lr_end (1e-07) must be smaller than initial lr (1e-08)"),
        (["show", "warmup_stable_decay", "--warmup-steps", "2", "--set", "num_decay_steps=2"],
         "Either num_training_steps or num_stable_steps must be specified."),
        (["show", "linear", "--warmup-steps", "1", "--training-steps", "3", "--steps", "-4"],
         "--steps must be an integer >= 1, got -4"),
        (["show", "join", "--set", "schedules=[1]", "--set", "boundaries=[]"],
         "schedules[0] must be a Schedule"),
    ],
)  # fmt: skip
def test_errors_exit_2_on_one_line_without_traceback(capsys, argv, message):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert message in err
    assert err.startswith("stepsize show: error: ") and err.count("\n") == 1
