"""The PyTorch demo: one small transformer encoder trained three ways on the digits.

1. ``stepsize.torch.AdamW`` + linear warmup/decay (``get_linear_schedule_with_warmup``),
2. ``stepsize.torch.Adafactor`` (external lr) + cosine warmup/decay (``get_scheduler``),
3. ``torch.optim.AdamW`` + the same linear schedule, as the baseline,

each with ``stepsize.torch.GradientAccumulation`` (two micro-batches per update, gradient
clipping) and the same data order and initial weights.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from stepsize.cli._demo_data import Digits, Hyperparameters, batches
from stepsize.cli._demo_report import Run

__all__ = ["HYPERPARAMETERS", "RUNS", "TinyEncoder", "one_thread", "train", "train_all"]


class _Hyperparameters(Hyperparameters):
    max_grad_norm: float  # the gradient norm ``GradientAccumulation`` clips to


HYPERPARAMETERS: _Hyperparameters = {
    "micro_batch": 32,
    "accumulation_steps": 2,
    "lr": 5e-3,
    "weight_decay": 0.01,
    "warmup_fraction": 0.1,
    "max_grad_norm": 1.0,
    "d_model": 32,
    "heads": 4,
    "layers": 2,
}

# name -> (label, optimizer, schedule name)
RUNS = {
    "stepsize-adamw": ("stepsize AdamW + linear warmup", "stepsize.torch.AdamW", "linear"),
    "stepsize-adafactor": (
        "stepsize Adafactor + cosine warmup",
        "stepsize.torch.Adafactor",
        "cosine",
    ),
    "torch-adamw": ("torch.optim.AdamW + linear warmup", "torch.optim.AdamW", "linear"),
}


class TinyEncoder(torch.nn.Module):
    """A 2-layer pre-norm transformer encoder over the 8 rows of an image, mean-pooled.

    Example:
        >>> model = TinyEncoder()
        >>> model(torch.zeros(5, 8, 8)).shape
        torch.Size([5, 10])
    """

    def __init__(
        self, d_model: int = 32, heads: int = 4, layers: int = 2, tokens: int = 8, classes: int = 10
    ) -> None:
        super().__init__()
        self.embed = torch.nn.Linear(8, d_model)
        self.position = torch.nn.Parameter(torch.zeros(tokens, d_model))
        layer = torch.nn.TransformerEncoderLayer(
            d_model, heads, 2 * d_model, dropout=0.0, batch_first=True, norm_first=True
        )
        self.encoder = torch.nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = torch.nn.LayerNorm(d_model)
        self.head = torch.nn.Linear(d_model, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(self.embed(x) + self.position)
        return self.head(self.norm(hidden.mean(dim=1)))


def _parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    # The usual fine-tuning rule: no weight decay on biases and norms (the 1-d tensors).
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for parameter in model.parameters():
        (decay if parameter.ndim >= 2 else no_decay).append(parameter)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def _optimizer(name: str, model: torch.nn.Module, **options: Any) -> torch.optim.Optimizer:
    hp = HYPERPARAMETERS
    groups = _parameter_groups(model, hp["weight_decay"])
    if name == "stepsize-adamw":
        from stepsize.torch import AdamW

        return AdamW(groups, lr=hp["lr"], **options)
    if name == "stepsize-adafactor":
        from stepsize.torch import Adafactor

        # transformers' recommended fine-tuning setting: an external lr and schedule.
        return Adafactor(
            groups, lr=hp["lr"], relative_step=False, scale_parameter=False, warmup_init=False
        )
    return torch.optim.AdamW(groups, lr=hp["lr"])


def _evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    model.eval()
    with torch.no_grad():
        logits = model(x).float()
        loss = torch.nn.functional.cross_entropy(logits, y).item()
        accuracy = (logits.argmax(dim=1) == y).float().mean().item()
    model.train()
    return accuracy, loss


def train(
    name: str,
    data: Digits,
    *,
    epochs: int,
    seed: int,
    progress: bool,
    dtype: torch.dtype = torch.float32,
    options: dict[str, Any] | None = None,
    run_name: str | None = None,
    label: str | None = None,
    baseline: bool | None = None,
    make_optimizer: Callable[[list[dict[str, Any]]], torch.optim.Optimizer] | None = None,
) -> Run:
    """Trains a fresh ``TinyEncoder`` with run ``name`` (a key of ``RUNS``).

    Args:
        name, data, epochs, seed, progress: the run, the data and the training settings.
        dtype: the dtype of the model's weights (and of its forward and backward passes).
        options: more keyword arguments of the optimizer (``kahan_sum``, ...).
        run_name, label: the ``Run``'s own name and label (default: those of ``name``).
        baseline: whether the run is the one to compare with (default: torch's AdamW).
        make_optimizer: builds the optimizer from the param groups instead (``options`` and
            ``name``'s optimizer are then unused; its schedule still applies).

    Returns:
        The finished ``Run``: lr and loss per update, held-out accuracy per epoch, timings;
        ``run.artifacts`` holds the initial and final weights (``"initial"``, ``"final"``).
    """
    from stepsize.torch import GradientAccumulation, get_scheduler

    hp = HYPERPARAMETERS
    default_label, optimizer_name, schedule = RUNS[name]
    n = len(data.y_train)
    micro_batches = math.ceil(n / hp["micro_batch"])
    updates = epochs * math.ceil(micro_batches / hp["accumulation_steps"])
    warmup = int(hp["warmup_fraction"] * updates)

    torch.manual_seed(seed)  # the same initial weights for every run
    model = TinyEncoder(hp["d_model"], hp["heads"], hp["layers"]).to(dtype)
    initial = [p.detach().clone() for p in model.parameters()]
    if make_optimizer is None:
        optimizer = _optimizer(name, model, **(options or {}))
    else:
        optimizer = make_optimizer(_parameter_groups(model, hp["weight_decay"]))
    scheduler = get_scheduler(
        schedule, optimizer, num_warmup_steps=warmup, num_training_steps=updates
    )
    acc = GradientAccumulation(
        model,
        optimizer,
        scheduler,
        steps=hp["accumulation_steps"],
        max_grad_norm=hp["max_grad_norm"],
    )
    x_train, y_train = torch.from_numpy(data.x_train).to(dtype), torch.from_numpy(data.y_train)
    x_test, y_test = torch.from_numpy(data.x_test).to(dtype), torch.from_numpy(data.y_test)
    details = {
        "optimizer": optimizer_name,
        "schedule": schedule,
        "num_warmup_steps": warmup,
        "num_training_steps": updates,
        "hyperparameters": hp,
        "dtype": str(dtype).removeprefix("torch."),
        **(options or {}),
    }
    if baseline is None:
        baseline = name == "torch-adamw"
    run = Run(
        run_name or name,
        label or default_label,
        steps=updates,
        progress=progress,
        details=details,
        baseline=baseline,
    )
    rng = np.random.default_rng(seed)  # the same data order for every run
    for _ in range(epochs):
        window: list[float] = []
        for index in acc.iterate(batches(n, hp["micro_batch"], rng)):
            lr = optimizer.param_groups[0]["lr"]
            with acc.accumulate():
                logits = model(x_train[index]).float()
                loss = torch.nn.functional.cross_entropy(logits, y_train[index])
                acc.backward(loss)
            window.append(loss.item())
            if acc.pending == 0:  # this micro-batch completed an update
                run.update(lr=lr, loss=sum(window) / len(window))
                window = []
        run.end_epoch(*_evaluate(model, x_test, y_test))
    run.artifacts.update(initial=initial, final=[p.detach().clone() for p in model.parameters()])
    return run.close()


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """One intra-op thread inside, torch's count restored after.

    The demo's tensors are tiny: with several threads, synchronization costs more than it
    saves, and many times more on a busy machine.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def train_all(data: Digits, *, epochs: int, seed: int, progress: bool) -> list[Run]:
    """Trains every run of ``RUNS`` in order, on one CPU thread."""
    with one_thread():
        return [train(name, data, epochs=epochs, seed=seed, progress=progress) for name in RUNS]
