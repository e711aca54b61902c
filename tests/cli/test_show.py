"""``stepsize show``: values equal the core schedule's, in every format."""

import csv
import io
import json
import tracemalloc

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


def _show(capsys, *argv):
    code = main(["show", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("total", [10_000_000, 10**12])
def test_a_long_schedule_shows_at_most_1000_rows_with_a_note(capsys, total):
    # The example: 10**7 steps took 32 s and 1.2 GB, 10**12 died with MemoryError.
    tracemalloc.start()
    code, out, err = _show(capsys, "linear", "--warmup-steps", "0", "--training-steps",
                           str(total), "--format", "csv")  # fmt: skip
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert code == 0 and peak < 20 * 2**20
    rows = list(csv.DictReader(io.StringIO(out)))
    steps = [int(r["step"]) for r in rows]
    assert len(rows) == 1000 and steps[0] == 0 and steps[-1] == total
    s = schedules.get("linear", num_warmup_steps=0, num_training_steps=total)
    assert [float(r["multiplier"]) for r in rows] == [s(t) for t in steps]
    assert err == (f"stepsize show: note: showing 1000 of {total + 1} steps "
                   "(choose with --points N or --every K)\n")  # fmt: skip


def test_points_and_every_choose_the_rows(capsys):
    base = ["cosine", "--warmup-steps", "100", "--training-steps", "1000", "--format", "json"]
    code, out, err = _show(capsys, *base, "--points", "7")
    steps = json.loads(out)["step"]
    assert code == 0 and len(steps) == 7 and {0, 99, 100, 999, 1000} <= set(steps)
    assert "showing 7 of 1001 steps" in err
    code, out, err = _show(capsys, *base, "--every", "250")
    assert json.loads(out)["step"] == [0, 250, 500, 750, 1000] and "showing 5 of 1001" in err
    code, out, err = _show(capsys, *base, "--points", "2000")
    assert json.loads(out)["step"] == list(range(1001)) and err == ""


@pytest.mark.parametrize(
    "options, message",
    [
        (["--points", "1"], "--points must be an integer >= 2, got 1"),
        (["--points", "100001"], "--points must be an integer <= 100000, got 100001"),
        (["--every", "0"], "--every must be an integer >= 1, got 0"),
        (
            ["--every", "1", "--training-steps", str(10**12)],
            "--every 1 gives more than 100000 rows",
        ),
        (["--every", "2", "--points", "3"], "argument --points: not allowed with argument --every"),
    ],
)
def test_bad_row_options(capsys, options, message):
    code, out, err = _show(capsys, "linear", "--warmup-steps", "1", "--training-steps", "9",
                           *options)  # fmt: skip
    assert code == 2 and out == "" and message in err and err.count("\n") == 1


def test_json_is_valid_json_at_the_extremes(capsys):
    # Scale(Scale(constant, 1e308), 10) printed `Infinity`; now the bound is checked.
    inner = json.dumps(schedules.Scale(schedules.get("constant"), 1e308).get_config())
    code, out, err = _show(capsys, "scale", "--set", f"schedule={inner}", "--set", "value=10",
                           "--format", "json")  # fmt: skip
    assert code == 2 and "value times the schedule's upper bound" in err
    code, out, err = _show(capsys, "scale", "--set", f"schedule={inner}", "--set", "value=1",
                           "--lr", "2", "--format", "json")  # fmt: skip
    assert code == 2 and "--lr 2.0 is too large for this schedule" in err
    code, out, _ = _show(capsys, "warmup_stable_decay", "--warmup-steps", str(2**62),
                         "--set", f"num_decay_steps={2**62}", "--set", "num_stable_steps=5",
                         "--set", "num_cycles=1e308", "--lr", "1e308",
                         "--format", "json")  # fmt: skip
    document = json.loads(out, parse_constant=lambda name: pytest.fail(f"{name} in the JSON"))
    assert code == 0 and document["step"][-1] == 2**63
    assert all(0.0 <= lr <= 1e308 for lr in document["lr"])


@pytest.mark.parametrize(
    "options, message",
    [
        (["--warmup-steps", "9" * 400], "num_warmup_steps must be an integer <= 92233720368547"),
        (["--training-steps", "9" * 400], "num_training_steps must be an integer <= 9223372036"),
        (["--steps", "9" * 400], "--steps must be an integer <= 9223372036854775809, got 99999"),
        (["--lr", "9" * 400], "--lr must be a finite number > 0.0, got inf"),
        (["--warmup-steps", "9" * 5000], "argument --warmup-steps: not an integer: '99999"),
        (["--set", "num_cycles=" + "9" * 400], "num_cycles must be a finite number > 0.0, got 99"),
        (["--set", "num_cycles=NaN"], "num_cycles must be a finite number > 0.0, got nan"),
        (["--set", "num_cycles=-Infinity"], "num_cycles must be a finite number > 0.0, got -in"),
        (["--set", "num_cycles=1e400"], "num_cycles must be a finite number > 0.0, got inf"),
        (["--set", "num_cycles=" + "[" * 100_000 + "]" * 100_000],
         "--set value nested too deeply to parse: '[[[["),
        (["--set", "num_cycles=" + '{"a":' * 50_000 + "1" + "}" * 50_000],
         "--set value nested too deeply to parse"),
        (["--set", "name=linear"], "--set cannot set name"),
    ],
)  # fmt: skip
def test_huge_and_special_numbers_and_deep_json_are_one_line_errors(capsys, options, message):
    base = {"--warmup-steps": "1", "--training-steps": "9"}
    for option in options[::2]:
        base.pop(option, None)
    argv = [x for pair in base.items() for x in pair]
    code, out, err = _show(capsys, "cosine", *argv, *options)
    assert code == 2 and out == "" and message in err, err
    assert err.count("\n") == 1 and len(err) < 600 and "Traceback" not in err


def _nested_scale(levels):
    return (
        '{"name": "scale", "value": 1, "schedule": ' * levels
        + '{"name": "constant"}'
        + ("}" * levels)
    )


def test_a_deeply_nested_schedule_in_set_is_a_one_line_error(capsys):
    code, _, err = _show(capsys, "scale", "--set", f"schedule={_nested_scale(5000)}",
                         "--set", "value=1")  # fmt: skip
    assert code == 2 and err.count("\n") == 1 and "--set value nested too deeply to parse" in err
    code, _, err = _show(capsys, "scale", "--set", f"schedule={_nested_scale(40)}",
                         "--set", "value=1")  # fmt: skip
    assert code == 2 and "scale: config is nested too deeply: at most 32 levels" in err
