"""``stepsize plot``: a PNG of one or more schedules."""

import pytest

from stepsize import schedules
from stepsize.cli import main
from stepsize.cli._plot import phases

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
