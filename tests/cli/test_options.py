"""Options shared by ``show`` and ``plot``: parsing ``--set`` and building schedules."""

import argparse
import math
import re

import pytest

from stepsize import schedules
from stepsize._validation import MAX_STEPS
from stepsize.cli._options import (
    UsageError,
    add_schedule_options,
    build_schedule,
    check_lr,
    horizon,
    integer,
    parse_settings,
    parse_value,
    real,
    step_count,
)


def _args(*argv):
    parser = argparse.ArgumentParser()
    add_schedule_options(parser)
    return parser.parse_args(argv)


def test_values_are_parsed_never_evaluated():
    assert parse_value("3") == 3 and type(parse_value("3")) is int
    assert parse_value("0.5") == 0.5 and parse_value("1e-7") == 1e-7
    assert parse_value("null") is None and parse_value("true") is True
    assert parse_value("[1, 2]") == [1, 2]
    assert parse_value("cosine") == "cosine" and parse_value("1-sqrt") == "1-sqrt"
    assert parse_value("__import__('os').getcwd()") == "__import__('os').getcwd()"


def test_settings():
    assert parse_settings(["a=1", " b =x y", "a=2", "c="]) == {"a": 2, "b": "x y", "c": ""}
    for bad in ("novalue", "=3"):
        with pytest.raises(UsageError, match="--set expects KEY=VALUE"):
            parse_settings([bad])


def test_step_options_go_only_where_taken():
    args = _args("--warmup-steps", "3", "--training-steps", "9")
    assert build_schedule("constant", args) == schedules.get("constant")
    assert build_schedule("constant_with_warmup", args) == schedules.get(
        "constant_with_warmup", num_warmup_steps=3
    )
    assert build_schedule("inverse_sqrt", args) == schedules.get("inverse_sqrt", num_warmup_steps=3)
    assert build_schedule("linear", args) == schedules.get(
        "linear", num_warmup_steps=3, num_training_steps=9
    )


def test_lr_is_polynomials_lr_init_and_min_lr_becomes_a_rate():
    args = _args("--warmup-steps", "1", "--training-steps", "9", "--lr", "0.5",
                 "--set", "min_lr=0.05")  # fmt: skip
    assert build_schedule("polynomial", _args("--training-steps", "4", "--warmup-steps", "0",
                                              "--lr", "0.5")).lr_init == 0.5  # fmt: skip
    assert build_schedule("cosine_with_min_lr", args).min_lr_rate == pytest.approx(0.1)
    both = _args("--warmup-steps", "1", "--training-steps", "9", "--set", "min_lr=0.05",
                 "--set", "min_lr_rate=0.1")  # fmt: skip
    with pytest.raises(UsageError, match="only one of min_lr or min_lr_rate"):
        build_schedule("cosine_with_min_lr", both)


def test_nested_configs_in_set():
    inner = '{"name": "cosine", "num_warmup_steps": 0, "num_training_steps": 5}'
    args = _args("--warmup-steps", "2", "--set", f"schedule={inner}")
    s = build_schedule("with_warmup", args)
    assert s == schedules.WithWarmup(
        schedules.get("cosine", num_warmup_steps=0, num_training_steps=5), 2
    )


@pytest.mark.parametrize(
    "name, argv, message",
    [
        ("cosin", [], "unknown schedule name 'cosin'; valid names: constant"),
        ("linear", ["--warmup-steps", "2"], "schedule 'linear' needs --training-steps"),
        ("warmup_stable_decay", ["--warmup-steps", "2"], "needs --set num_decay_steps=VALUE"),
        ("linear", ["--warmup-steps", "2", "--training-steps", "5", "--set", "num_cycles=2"],
         "linear: schedule 'linear' got unexpected argument(s) num_cycles=2;"),
        ("linear", ["--warmup-steps", "2", "--training-steps", "5", "--set", "min_lr=0.1"],
         "linear: schedule 'linear' got unexpected argument(s) min_lr=0.1;"),
        ("cosine_with_min_lr", ["--warmup-steps", "2", "--training-steps", "5",
                                "--set", "min_lr=low"], "min_lr must be a real number, got 'low'"),
        ("cosine_with_min_lr", ["--warmup-steps", "2", "--training-steps", "5",
                                "--set", "min_lr=null"], "min_lr must be a real number, got None"),
        ("cosine", ["--warmup-steps", "2", "--training-steps", "5", "--set", "num_cycles=\"2\""],
         "cosine: num_cycles must be a real number, got '2' (str)"),
        ("warmup_stable_decay", ["--warmup-steps", "2", "--training-steps", "5", "--set",
                                 "num_decay_steps=2.5"],
         "warmup_stable_decay: num_decay_steps must be an integer, got 2.5 (float)"),
        ("warmup", ["--warmup-steps", "2"], "unknown schedule name 'warmup'; valid names:"),
        ("cosine", ["--warmup-steps", "2", "--training-steps", "5", "--set", "num_cycles=0"],
         "cosine: num_cycles must be a finite number > 0.0, got 0"),
        ("linear", ["--warmup-steps", "1", "--training-steps", "5", "--lr", "nan"],
         "--lr must be a finite number > 0.0, got nan"),
        ("linear", ["--warmup-steps", "1", "--training-steps", "5", "--lr", "0"],
         "--lr must be a finite number > 0.0, got 0.0"),
        ("linear", ["--warmup-steps", "1", "--training-steps", "5", "--lr", "inf"],
         "--lr must be a finite number > 0.0, got inf"),
    ],
)  # fmt: skip
def test_bad_input_is_a_usage_error(name, argv, message):
    with pytest.raises(UsageError) as info:
        build_schedule(name, _args(*argv))
    assert message in str(info.value)


def test_horizon_and_step_count():
    linear = schedules.get("linear", num_warmup_steps=2, num_training_steps=10)
    wsd = schedules.get("warmup_stable_decay", num_warmup_steps=2, num_decay_steps=3,
                        num_stable_steps=4)  # fmt: skip
    assert horizon(linear) == 10 and horizon(wsd) == 9
    assert horizon(schedules.get("inverse_sqrt", num_warmup_steps=5)) == 20
    assert horizon(schedules.get("constant")) == 10
    assert horizon(schedules.Scale(linear, 2.0)) == 10
    assert horizon(schedules.WithWarmup(linear, 3)) == 13
    assert horizon(schedules.Join([linear, wsd], [4])) == 13
    assert step_count(_args(), [linear, wsd]) == 11
    assert step_count(_args("--steps", "3"), [linear]) == 3
    with pytest.raises(UsageError, match=r"^--steps must be an integer >= 1, got 0$"):
        step_count(_args("--steps", "0"), [linear])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--set", "min_lr=2.0"], "min_lr must be <= --lr (1.0), got 2.0"),
        (["--set", "min_lr=-0.1"], "min_lr must be a finite number >= 0.0, got -0.1"),
        (["--set", "min_lr=NaN"], "min_lr must be a finite number >= 0.0, got nan"),
        (["--set", "min_lr=1e400"], "min_lr must be a finite number >= 0.0, got inf"),
    ],
)
def test_min_lr_is_checked_against_the_lr(argv, message):
    args = _args("--warmup-steps", "2", "--training-steps", "5", *argv)
    with pytest.raises(UsageError, match=f"^{re.escape(message)}$"):
        build_schedule("cosine_with_min_lr", args)
    tiny = _args("--warmup-steps", "2", "--training-steps", "5", "--lr", "1e-300",
                 "--set", "min_lr=5e-324")  # fmt: skip
    assert 0.0 < build_schedule("cosine_with_min_lr", tiny).min_lr_rate < 1e-20


@pytest.mark.parametrize("text", ["1e3", "", "0x10", "9" * 5000, "nan"])
def test_integer_options_report_a_short_line(text):
    with pytest.raises(argparse.ArgumentTypeError, match=r"^not an integer: ") as info:
        integer(text)
    assert len(str(info.value)) < 120
    assert integer("1_000") == 1000 and integer(" 7 ") == 7


def test_real_options_leave_range_checks_to_the_option():
    assert real("1e400") == math.inf and real("-0") == 0.0
    with pytest.raises(argparse.ArgumentTypeError, match=r"^not a number: 'lots'$"):
        real("lots")


def test_the_horizon_and_steps_stop_at_2_63():
    wsd = schedules.get("warmup_stable_decay", num_warmup_steps=MAX_STEPS,
                        num_decay_steps=MAX_STEPS, num_stable_steps=MAX_STEPS)  # fmt: skip
    assert horizon(wsd) == MAX_STEPS and step_count(_args(), [wsd]) == MAX_STEPS + 1
    join = schedules.Join([wsd, wsd], [MAX_STEPS])
    assert horizon(schedules.WithWarmup(join, MAX_STEPS)) == MAX_STEPS
    assert step_count(_args("--steps", str(MAX_STEPS + 1)), [wsd]) == MAX_STEPS + 1
    with pytest.raises(UsageError, match=r"^--steps must be an integer <= 9223372036854775809"):
        step_count(_args("--steps", str(MAX_STEPS + 2)), [wsd])


def test_the_lr_times_the_bound_must_be_finite():
    one = schedules.Scale(schedules.get("constant"), 1e308)
    assert check_lr(one, 1.5) == 1.5
    message = "--lr 2.0 is too large for this schedule: the lr would reach 2.0 × 1e+308, beyond"
    with pytest.raises(UsageError, match=f"^{re.escape(message)}"):
        check_lr(one, 2.0)
    deepest = schedules.get("constant")
    for _ in range(schedules.MAX_DEPTH - 1):
        deepest = schedules.Scale(deepest, 1.0)
    assert check_lr(deepest, 1e308) == 1e308  # no Scale around it: the depth does not matter
