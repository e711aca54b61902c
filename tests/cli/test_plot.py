"""``stepsize plot``: a PNG of one or more schedules."""

import json
import os
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from stepsize import schedules
from stepsize._validation import MAX_STEPS
from stepsize.cli import main
from stepsize.cli._plot import MAX_POINTS, phases, plot

pytest.importorskip("matplotlib")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_writes_a_png_and_says_where(tmp_path, capsys):
    path = tmp_path / "out" / "cosine.png"
    argv = ["plot", "cosine", "--warmup-steps", "10", "--training-steps", "100", "-o", str(path)]
    assert main(argv) == 0
    assert capsys.readouterr().out.strip() == f"wrote {path}"
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 5_000


def test_several_schedules_on_one_plot_with_settings_for_those_that_take_them(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    argv = ["plot", "linear", "cosine", "polynomial", "warmup_stable_decay",
            "--warmup-steps", "5", "--training-steps", "50", "--lr", "3e-4",
            "--set", "power=2", "--set", "num_decay_steps=10"]  # fmt: skip
    assert main(argv) == 0
    path = tmp_path / "linear_cosine_polynomial_warmup_stable_decay.png"
    assert capsys.readouterr().out.strip() == f"wrote {path.name}"
    assert path.read_bytes().startswith(PNG_MAGIC)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["plot", "linear", "cosine", "--warmup-steps", "1", "--training-steps", "9",
          "--set", "power=2"], "no schedule among linear, cosine takes power"),
        (["plot", "linear", "--warmup-steps", "1", "--training-steps", "9", "-o", "x.pdf"],
         "--output must be a .png file"),
        (["plot", "linear", "nope"], "unknown schedule name 'nope'"),
        (["plot", "linear", "--warmup-steps", "1", "--training-steps", "9",
          "--set", "power=2"], "got unexpected argument(s) power"),
    ],
)  # fmt: skip
def test_errors_exit_2_on_one_line(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_phases():
    linear = schedules.get("linear", num_warmup_steps=2, num_training_steps=10)
    assert phases(linear) == [("warmup", 0, 2), ("decay", 2, 10)]
    assert phases(schedules.Scale(linear, 2.0)) == phases(linear)
    wsd = schedules.get("warmup_stable_decay", num_warmup_steps=0, num_decay_steps=3,
                        num_training_steps=10)  # fmt: skip
    assert phases(wsd) == [("stable", 0, 7), ("decay", 7, 10)]
    assert phases(schedules.get("constant_with_warmup", num_warmup_steps=4)) == [("warmup", 0, 4)]
    assert phases(schedules.get("constant")) == []


def _plot_argv(path, *extra):
    return ["plot", "linear", "--warmup-steps", "2", "--training-steps", "10", "-o", str(path),
            *extra]  # fmt: skip


def _read_only_folder(tmp_path):
    if os.geteuid() == 0:  # root writes through permission bits: use a file system that refuses
        return Path("/proc")
    folder = tmp_path / "read-only"
    folder.mkdir(mode=0o500)
    return folder


@pytest.mark.parametrize(
    "make_path, message",
    [
        (lambda tmp: tmp / "folder.png", "--output must be a file, got the folder"),
        (lambda tmp: tmp / "file" / "x.png", "is a file"),
        (lambda tmp: tmp / "file" / "deeper" / "x.png", "is a file"),
        (lambda tmp: _read_only_folder(tmp) / "x.png", "cannot write --output"),
        (lambda tmp: _read_only_folder(tmp) / "missing" / "x.png", "cannot write --output"),
        (lambda tmp: tmp / "nul\0.png", "cannot write --output"),
        (lambda tmp: tmp / ("x" * 300 + ".png"), "File name too long"),
    ],
)
def test_an_unwritable_output_is_a_one_line_error_before_anything_is_computed(
    tmp_path, capsys, monkeypatch, make_path, message
):
    (tmp_path / "folder.png").mkdir()
    (tmp_path / "file").write_text("")

    def not_now(*args):
        raise AssertionError("computed before the output path was checked")

    monkeypatch.setattr(schedules.Schedule, "values", not_now)
    before = sorted(tmp_path.rglob("*"))
    assert main(_plot_argv(make_path(tmp_path))) == 2
    out, err = capsys.readouterr()
    assert out == "" and message in err and err.count("\n") == 1, err
    assert err.startswith("stepsize plot: error: ") and "Traceback" not in err
    assert sorted(tmp_path.rglob("*")) == before


def test_missing_folders_are_created_and_nothing_else_is_left(tmp_path, capsys):
    path = tmp_path / "a" / "b" / "curve.png"
    assert main(_plot_argv(path)) == 0
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b", "curve.png"]
    assert path.stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_failure_while_drawing_leaves_no_file(tmp_path, capsys, monkeypatch):
    def fail(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(schedules.Schedule, "values", fail)
    path = tmp_path / "out.png"
    assert main(_plot_argv(path)) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("total", [10**7, 10**12, MAX_STEPS])
def test_a_long_schedule_is_drawn_through_at_most_2000_steps(tmp_path, monkeypatch, total):
    # --training-steps 10**12 died with MemoryError: every step was evaluated.
    evaluated = []
    values = schedules.Schedule.values

    def counted(self, steps):
        evaluated.append(np.asarray(steps))
        return values(self, steps)

    monkeypatch.setattr(schedules.Schedule, "values", counted)
    linear = schedules.get("linear", num_warmup_steps=1000, num_training_steps=total)
    tracemalloc.start()
    points = plot([linear], total + 1, 1.0, tmp_path / "long.png")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert points == MAX_POINTS and peak < 100 * 2**20
    steps = evaluated[0].tolist()
    assert len(steps) == MAX_POINTS and {0, 999, 1000, total - 1, total} <= set(steps)
    assert (tmp_path / "long.png").read_bytes().startswith(PNG_MAGIC)


def test_a_long_label_is_shortened_and_matplotlib_stays_quiet(tmp_path, capsys):
    pieces = [{"name": "linear", "num_warmup_steps": 3, "num_training_steps": 7}] * 300
    argv = ["plot", "join", "--set", f"schedules={json.dumps(pieces)}",
            "--set", f"boundaries={list(range(0, 3 * 299, 3))}",
            "-o", str(tmp_path / "j.png")]  # fmt: skip
    assert main(argv) == 0
    assert capsys.readouterr().err == ""
