"""The PyTorch demo's pieces: the model, the optimizers, one short training run.

The full demo (accuracy, outputs) is tested through the command in test_demo.py.
"""

from __future__ import annotations

import math

import pytest

np = pytest.importorskip("numpy")
torch = pytest.importorskip("torch")

import stepsize.torch  # noqa: E402
from stepsize.cli import _demo_torch  # noqa: E402
from stepsize.cli._demo_data import Digits  # noqa: E402


def _small_data(n: int = 200) -> Digits:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n + 50, 8, 8)).astype(np.float32)
    y = rng.integers(0, 10, n + 50)
    return Digits(x[:n], y[:n], x[n:], y[n:])


def test_model_maps_row_tokens_to_class_logits():
    model = _demo_torch.TinyEncoder(d_model=16, heads=2, layers=1)
    assert model(torch.zeros(3, 8, 8)).shape == (3, 10)


def test_no_weight_decay_on_biases_and_norms():
    model = _demo_torch.TinyEncoder()
    decay, no_decay = _demo_torch._parameter_groups(model, 0.01)
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim >= 2 for p in decay["params"])
    assert all(p.ndim == 1 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("stepsize-adamw", stepsize.torch.AdamW),
        ("stepsize-adafactor", stepsize.torch.Adafactor),
        ("torch-adamw", torch.optim.AdamW),
    ],
)
def test_each_run_uses_its_optimizer(name, cls):
    optimizer = _demo_torch._optimizer(name, _demo_torch.TinyEncoder())
    assert type(optimizer) is cls
    assert [g["lr"] for g in optimizer.param_groups] == [_demo_torch.HYPERPARAMETERS["lr"]] * 2


def test_short_run_accumulates_two_micro_batches_per_update():
    data = _small_data()
    threads = torch.get_num_threads()
    runs = _demo_torch.train_all(data, epochs=2, seed=0, progress=False)
    micro_batches = math.ceil(200 / _demo_torch.HYPERPARAMETERS["micro_batch"])  # 7
    updates = 2 * math.ceil(micro_batches / 2)  # the last window of an epoch is 1 batch
    for run in runs:
        assert len(run.losses) == len(run.lrs) == run.details["num_training_steps"] == updates
        assert len(run.epochs) == 2 and all(math.isfinite(x) for x in run.losses)
    # The same initial weights and data order: the first update's loss is the same for all.
    first = [run.losses[0] for run in runs]
    assert first == pytest.approx([first[0]] * 3, rel=1e-6)
    assert torch.get_num_threads() == threads  # restored after the demo's single thread
