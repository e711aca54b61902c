"""``stepsize demo``: trains on the digits, prints the table, writes plots and metrics.

The PyTorch demo runs in full (it is the one that must reach 90 % held-out accuracy with
every optimizer); the Keras demo runs with ``--quick``.
"""

from __future__ import annotations

import importlib.util
import json
import math

import pytest

from stepsize import schedules
from stepsize.cli import _demo, main
from stepsize.cli._demo_report import FILES

PNG = b"\x89PNG\r\n\x1a\n"


def _needs(*modules: str) -> None:
    for module in ("sklearn", "tqdm", "matplotlib", *modules):
        pytest.importorskip(module)


def _check_outputs(out, framework: str, epochs: int, names: list[str]) -> dict:
    for name in FILES.values():
        assert (out / name).stat().st_size > 0, name
    assert (out / FILES["lr"]).read_bytes()[:8] == PNG
    assert (out / FILES["loss"]).read_bytes()[:8] == PNG
    metrics = json.loads((out / FILES["metrics"]).read_text())
    assert metrics["framework"] == framework and metrics["epochs"] == epochs
    assert metrics["data"]["train"] == 1437 and metrics["data"]["test"] == 360
    assert [run["name"] for run in metrics["runs"]] == names
    for run in metrics["runs"]:
        total = run["num_training_steps"]
        assert run["steps"] == total == len(run["lr"]) == len(run["loss"])
        assert len(run["epochs"]) == epochs
        assert all(math.isfinite(x) for x in run["loss"])
        assert 0.0 <= run["final_accuracy"] <= 1.0
        assert run["final_loss"] > 0 and run["ms_per_step"] > 0 and run["wall_s"] > 0
    return metrics


def _expected_lrs(run: dict, name: str) -> list[float]:
    # The recorded learning rates follow the core schedule of the same name.
    schedule = schedules.get(
        name,
        num_warmup_steps=run["num_warmup_steps"],
        num_training_steps=run["num_training_steps"],
    )
    lr = run["hyperparameters"]["lr"]
    return [lr * v for v in schedule.values(range(run["num_training_steps"]))]


def test_torch_demo_full_run(tmp_path, capsys):
    _needs("torch")
    out = tmp_path / "out"
    assert main(["demo", "--out", str(out), "--no-progress"]) == 0
    stdout = capsys.readouterr().out
    names = ["stepsize-adamw", "stepsize-adafactor", "torch-adamw"]
    metrics = _check_outputs(out, "torch", _demo.DEFAULT_EPOCHS["torch"], names)
    for run in metrics["runs"]:
        assert run["final_accuracy"] >= 0.9, (run["name"], run["final_accuracy"])
        assert run["label"] in stdout
        # Two micro-batches per update (the last window of an epoch has one).
        assert run["num_training_steps"] == metrics["epochs"] * 23
        expected = _expected_lrs(run, run["schedule"])
        assert run["lr"] == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert [run["schedule"] for run in metrics["runs"]] == ["linear", "cosine", "linear"]
    assert "held-out acc" in stdout and str(out.resolve()) in stdout


def test_torch_demo_with_bfloat16_weights(tmp_path, capsys):
    """float32, then bfloat16 weights rounded to nearest, with Kahan summation and with
    stochastic rounding: the same model, data order and schedule."""
    _needs("torch")
    out = tmp_path / "out"
    argv = ["demo", "--precision", "bf16", "--quick", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    stdout = capsys.readouterr().out
    names = ["adamw-float32", "adamw-bf16-nearest", "adamw-bf16-kahan", "adamw-bf16-stochastic"]
    metrics = _check_outputs(out, "torch", _demo.QUICK_EPOCHS, names)
    assert metrics["precision"] == "bf16" and "bfloat16 weights" in stdout
    runs = {run["name"]: run for run in metrics["runs"]}
    assert [run["dtype"] for run in metrics["runs"]] == ["float32", *3 * ["bfloat16"]]
    assert runs["adamw-bf16-kahan"]["kahan_sum"] is True
    assert runs["adamw-bf16-stochastic"]["stochastic_round"] is True
    for run in metrics["runs"]:
        assert run["label"] in stdout
        assert run["lr"] == pytest.approx(_expected_lrs(run, "linear"), rel=1e-12, abs=1e-15)
    # Kahan follows the float32 run: within half a point of its held-out accuracy
    float32 = runs["adamw-float32"]["final_accuracy"]
    assert abs(runs["adamw-bf16-kahan"]["final_accuracy"] - float32) <= 0.005
    assert runs["adamw-bf16-stochastic"]["final_accuracy"] > 0.3


def test_precision_needs_the_torch_demo(tmp_path, capsys):
    argv = ["demo", "--framework", "tf", "--precision", "bf16", "--out", str(tmp_path)]
    assert main(argv) == 2
    assert "--precision bf16 needs --framework torch, got tf" in capsys.readouterr().err


def test_keras_demo_quick_run(tmp_path, capsys):
    _needs("tensorflow", "keras")
    out = tmp_path / "out"
    assert main(["demo", "--framework", "tf", "--quick", "--out", str(out), "--no-progress"]) == 0
    stdout = capsys.readouterr().out
    names = ["create-optimizer-fit", "adamweightdecay-accumulator", "keras-adamw-fit"]
    metrics = _check_outputs(out, "tf", _demo.QUICK_EPOCHS, names)
    assert metrics["quick"] is True
    assert [run["schedule"] for run in metrics["runs"]] == ["linear", "cosine", "linear"]
    for run in metrics["runs"]:
        assert run["label"] in stdout
        assert run["num_training_steps"] == metrics["epochs"] * 23
        # create_optimizer's WarmUp + PolynomialDecay(power 1) to 0 is the linear schedule;
        # the accumulator run's KerasSchedule is cosine (float32 rates).
        expected = _expected_lrs(run, run["schedule"])
        assert run["lr"] == pytest.approx(expected, rel=1e-6, abs=1e-9)
        # Two epochs already learn something: far better than chance (10 %).
        assert run["final_accuracy"] > 0.3


@pytest.mark.parametrize(
    ("framework", "missing", "extra"),
    [("torch", "sklearn", "demo"), ("torch", "torch", "torch"), ("tf", "keras", "tf")],
)
def test_missing_package_names_the_extra(monkeypatch, capsys, tmp_path, framework, missing, extra):
    find_spec = importlib.util.find_spec

    def fake_find_spec(name, *args):
        return None if name == missing else find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", fake_find_spec)
    out = tmp_path / "out"
    assert main(["demo", "--framework", framework, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"pip install 'stepsize[{extra}]'" in err
    assert not out.exists()


def test_bad_options(tmp_path, capsys):
    assert main(["demo", "--epochs", "0", "--out", str(tmp_path)]) == 2
    assert "--epochs must be >= 1, got 0" in capsys.readouterr().err
    a_file = tmp_path / "file"
    a_file.write_text("")
    assert main(["demo", "--out", str(a_file)]) == 2
    assert "--out must be a folder" in capsys.readouterr().err
    assert main(["demo", "--framework", "jax"]) == 2
    assert "invalid choice: 'jax'" in capsys.readouterr().err
