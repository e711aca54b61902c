"""The precision benchmark: its measures, the quality goals on a small problem, the memory table."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from stepsize.bench import torch_precision  # noqa: E402
from stepsize.bench._memory import SETUPS, SetupBytes, measure  # noqa: E402
from stepsize.bench._quality import Regression, movement_kept  # noqa: E402
from stepsize.bench._workload import Workload  # noqa: E402


def test_movement_kept_projects_on_the_reference():
    start = torch.zeros(3, dtype=torch.float64)
    reference = torch.tensor([2.0, 0.0, 0.0], dtype=torch.float64)
    assert movement_kept(start, reference, reference) == 1.0
    assert movement_kept(start, torch.tensor([1.0, 5.0, 0.0]).double(), reference) == 0.5
    assert movement_kept([start], [start], [reference]) == 0.0


@pytest.fixture(scope="module")
def small_regression_rows():
    """The regression's AdamW runs, smaller (256 samples), the same 300 steps at lr 1e-4."""
    names = [name for name in torch_precision.RUNS if name.startswith("stepsize AdamW")]
    rows = torch_precision.regression_rows(Regression(samples=256), names)
    return {row.name: row for row in rows}


def test_round_to_nearest_loses_the_updates(small_regression_rows):
    """The problem the options solve: most updates are below half a bfloat16 unit."""
    nearest = small_regression_rows["stepsize AdamW, bf16, kahan_sum=False"]
    assert nearest.kept < 0.2 and nearest.gap > 0.02


def test_kahan_keeps_the_float32_movement_and_loss(small_regression_rows):
    kahan = small_regression_rows["stepsize AdamW, bf16, Kahan"]
    assert kahan.kept >= 0.95 and abs(kahan.gap) <= 0.01


def test_stochastic_rounding_ends_at_the_float32_loss(small_regression_rows):
    stochastic = small_regression_rows["stepsize AdamW, bf16, stochastic"]
    assert abs(stochastic.gap) <= 0.01 and stochastic.kept >= 0.8


@pytest.mark.parametrize(
    ("name", "weights", "state"),
    [  # hand-counted: weights (+ float32 master), then moments, Kahan buffer, per parameter
        ("AdamW, float32", 4, 8),
        ("AdamW, mixed precision (float32 master + bf16 copy)", 2 + 4, 8),
        ("AdamW, pure bf16, kahan_sum=False", 2, 4),
        ("AdamW, pure bf16, stochastic rounding", 2, 4),
        ("AdamW, pure bf16, Kahan (default)", 2, 4 + 2),
        ("Adafactor, float32", 4, 0),  # factored statistics: a row and a column per matrix
        ("Adafactor, mixed precision (float32 master + bf16 copy)", 2 + 4, 0),
        ("Adafactor, pure bf16, stochastic rounding", 2, 0),
        ("Adafactor, pure bf16, Kahan (default)", 2, 2),
    ],
)
def test_memory_counts_the_real_state(name, weights, state):
    row = measure(name, Workload(layers=1, hidden=32))
    assert row.weights == weights
    # the step counters, factored statistics and biases' full statistics: a small overhead
    assert state <= row.state <= state + 0.25, row


def test_every_memory_setup_is_tested():
    tested = test_memory_counts_the_real_state.pytestmark[0].args[1]
    assert sorted(name for name, _, _ in tested) == sorted(SETUPS)
    assert SetupBytes("x", 2.0, 6.0).to_dict() == {
        "name": "x",
        "weights": 2.0,
        "state": 6.0,
        "total": 8.0,
    }


def test_main_writes_the_tables(tmp_path, capsys):
    path = tmp_path / "precision.json"
    argv = ["--problems", "regression", "memory", "--quick", "--only", "stochastic", "--json"]
    assert torch_precision.main([*argv, str(path)]) == 0
    out = capsys.readouterr().out
    assert "stepsize AdamW, bf16, stochastic" in out and "bytes per parameter" in out
    document = json.loads(path.read_text())
    assert document["benchmark"] == "precision" and document["regression"]["steps"] == 100
    names = [row["name"] for row in document["rows"]]
    # the float32 references always run; --only picks the others
    assert names == [
        "stepsize AdamW, float32",
        "stepsize AdamW, bf16, stochastic",
        "stepsize Adafactor, float32",
        "stepsize Adafactor, bf16, stochastic",
    ]
    assert [row["name"] for row in document["memory"]] == list(SETUPS)


def test_missing_reference_is_a_skipped_row(monkeypatch):
    runs = {
        **torch_precision.RUNS,
        "absent AdamW, bf16": ("AdamW", "bfloat16", "not_a_module.AdamW", {}),
    }
    monkeypatch.setattr(torch_precision, "RUNS", runs)
    names = ["stepsize AdamW, float32", "absent AdamW, bf16"]
    rows = torch_precision.regression_rows(Regression(samples=16, steps=2), names)
    assert rows[1].skipped == "not installed: not_a_module"
    assert rows[1].to_dict()["kept"] is None
