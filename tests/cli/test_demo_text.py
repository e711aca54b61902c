"""``stepsize demo --task text``: the character model trained with and without token weighting."""

from __future__ import annotations

import json
import math

import pytest

pytest.importorskip("torch")

from stepsize import schedules
from stepsize.cli import _demo_text, main
from stepsize.cli._demo_report import FILES

PNG = b"\x89PNG\r\n\x1a\n"


def test_quick_run(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "out"
    assert main(["demo", "--task", "text", "--quick", "--out", str(out), "--no-progress"]) == 0
    stdout = capsys.readouterr().out
    assert "held-out paragraphs of Python's standard library, 1 epoch, seed 0" in stdout
    for name in ("lr", "loss"):
        assert (out / FILES[name]).read_bytes()[:8] == PNG
    metrics = json.loads((out / FILES["metrics"]).read_text())
    assert (metrics["task"], metrics["epochs"], metrics["quick"]) == ("text", 1, True)
    data = metrics["data"]
    assert (data["train"], data["test"]) == (540, 60)  # 600 paragraphs, every 10th held out
    assert 8 <= data["min_length"] < data["max_length"] <= 160  # lengths vary
    runs = metrics["runs"]
    assert [run["name"] for run in runs] == list(_demo_text.RUNS)
    assert [run["weighting"] for run in runs] == ["tokens", "micro-batches"]
    updates = math.ceil(math.ceil(540 / 8) / 4)  # micro-batches of 8, windows of 4
    for run in runs:
        assert run["steps"] == run["num_training_steps"] == updates
        assert len(run["lr"]) == len(run["loss"]) == updates
        # The lr of each update follows the cosine schedule at the update's index.
        schedule = schedules.get(
            "cosine", num_warmup_steps=run["num_warmup_steps"], num_training_steps=updates
        )
        expected = [1e-2 * value for value in schedule.values(range(updates))]
        assert run["lr"] == pytest.approx(expected, rel=1e-12, abs=1e-15)
        assert all(math.isfinite(loss) and loss > 0 for loss in run["loss"])
        # One epoch already predicts far better than a uniform guess over the 128 codes.
        assert run["epochs"][0]["test_loss"] < math.log(128) - 1
        assert run["label"] in stdout
    # The same initial weights and data: the first window's loss is the same in both runs;
    # the weighting then makes the updates differ.
    assert runs[0]["loss"][0] == runs[1]["loss"][0]
    assert runs[0]["loss"][1:] != runs[1]["loss"][1:]
    weighted, mean = (run["epochs"][0]["test_loss"] for run in runs)
    assert (
        f"held-out loss per token: {weighted:.4f} token-weighted, {mean:.4f} mean per "
        f"micro-batch ({mean - weighted:+.4f})"
    ) in stdout


def test_text_runs_on_torch_only(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["demo", "--task", "text", "--framework", "tf", "--out", str(out)]) == 2
    assert "--task text runs on PyTorch: leave out --framework tf" in capsys.readouterr().err
    assert not out.exists()
