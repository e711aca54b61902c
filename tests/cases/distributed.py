"""Tiny training runs shared by the accumulation and distributed tests.

The model, data, optimizer configurations (from the optimizer table) and the single-process
reference run; the 2-process DDP / FSDP2 worker (``cases.distributed_worker``) trains the same
model and the tests compare.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from cases.closeness import assert_close as assert_close_per_precision
from cases.torch_optimizers import OPTIMIZERS as OPTIMIZER_TABLE
from cases.torch_optimizers import OptimizerInfo
from stepsize.torch import get_linear_schedule_with_warmup

__all__ = [
    "BATCH",
    "DEFAULTS",
    "MAX_GRAD_NORM",
    "OPTIMIZERS",
    "STEPS",
    "assert_close",
    "concatenate",
    "loss_fn",
    "make_batches",
    "make_model",
    "make_schedule",
    "make_uneven_batches",
    "plain_state",
    "snapshot",
    "summed_loss",
    "train_reference",
    "train_windows",
    "windows",
]

STEPS = 12  # optimizer updates per case
BATCH = 8  # rows per update, split evenly across the ranks
IN, HIDDEN, OUT = 8, 16, 3  # OUT = 3 shards unevenly over 2 ranks
MAX_GRAD_NORM = 0.1  # small enough to clip in the accumulation cases


def _constructor(info: OptimizerInfo, path: str, hyper: dict) -> Callable[[Any], Any]:
    return lambda params: info.make(params, path, **hyper)


def _name(info: OptimizerInfo, suffix: str, path: str) -> str:
    return info.name.lower() + suffix + ("" if path == "auto" else f"_{path}")


# name -> constructor: every row of the optimizer table, with each of its distributed
# configurations, on each path ("adamw": AdamW's first configuration on the automatic path).
# Every distributed case runs each of them.
OPTIMIZERS: dict[str, Callable[[Any], torch.optim.Optimizer]] = {
    _name(info, suffix, path): _constructor(info, path, hyper)
    for info in OPTIMIZER_TABLE
    for suffix, hyper in info.distributed.items()
    for path in info.paths
}
# Each optimizer's first configuration on the automatic path.
DEFAULTS: tuple[str, ...] = tuple(info.name.lower() for info in OPTIMIZER_TABLE)


def make_model() -> torch.nn.Sequential:
    """The same initial weights in every process."""
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(IN, HIDDEN), torch.nn.Tanh(), torch.nn.Linear(HIDDEN, OUT)
    )


def make_schedule(opt: torch.optim.Optimizer) -> Any:
    """Linear warmup and decay over the 6 updates of the accumulation cases."""
    return get_linear_schedule_with_warmup(opt, num_warmup_steps=2, num_training_steps=6)


def make_batches(count: int, rows: int = BATCH) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The same ``count`` (x, y) batches in every process."""
    generator = torch.Generator().manual_seed(1)
    return [
        (torch.randn(rows, IN, generator=generator), torch.randn(rows, OUT, generator=generator))
        for _ in range(count)
    ]


def make_uneven_batches(count: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The same ``count`` (x, y) batches in every process, of 1 to 8 rows each (unequal)."""
    generator = torch.Generator().manual_seed(2)
    rows = [1 + (5 * i + 2) % BATCH for i in range(count)]
    return [
        (torch.randn(n, IN, generator=generator), torch.randn(n, OUT, generator=generator))
        for n in rows
    ]


def loss_fn(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.mse_loss(model(x), y)  # mean-reduced


def summed_loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``loss_fn`` summed instead of averaged over its ``y.numel()`` items."""
    return torch.nn.functional.mse_loss(model(x), y, reduction="sum")


def windows(count: int, steps: int) -> list[int]:
    """Window sizes of ``count`` micro-batches accumulated ``steps`` at a time: 10, 4 -> 4, 4, 2."""
    return [min(steps, count - start) for start in range(0, count, steps)]


def concatenate(batches: list[tuple[torch.Tensor, torch.Tensor]], sizes: list[int]) -> list:
    """Join consecutive micro-batches into one batch per window."""
    joined, start = [], 0
    for size in sizes:
        xs, ys = zip(*batches[start : start + size], strict=True)
        joined.append((torch.cat(xs), torch.cat(ys)))
        start += size
    return joined


def train_windows(
    optimizer: str,
    batches: list,
    sizes: list[int],
    scheduler: bool = False,
    max_grad_norm: float | None = None,
) -> tuple[dict, list[float]]:
    """One process, one plain update per window on its joined micro-batches (``sizes``), with
    the schedule if ``scheduler`` and clipping to ``max_grad_norm``; the results dict of a
    case, and the lr after each update."""
    model = make_model()
    opt = OPTIMIZERS[optimizer](model.parameters())
    sched = make_schedule(opt) if scheduler else None
    lrs = []
    for x, y in concatenate(batches, sizes):
        loss_fn(model, x, y).backward()
        if max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        opt.step()
        opt.zero_grad()
        if sched is not None:
            sched.step()
            lrs.append(sched.get_last_lr()[0])
    return snapshot(model, opt), lrs


def train_reference(optimizer: str, batches: list) -> dict:
    """One process, one optimizer update per (full) batch; returns the results dict of a case."""
    model = make_model()
    opt = OPTIMIZERS[optimizer](model.parameters())
    for x, y in batches:
        loss_fn(model, x, y).backward()
        opt.step()
        opt.zero_grad()
    return snapshot(model, opt)


def snapshot(model: torch.nn.Module, opt: torch.optim.Optimizer) -> dict:
    """Parameters and optimizer state by parameter name, as plain tensors and numbers."""
    names = {id(p): name for name, p in model.named_parameters()}
    state = {names[id(p)]: plain_state(s) for p, s in opt.state.items()}
    params = {name: p.detach().clone() for name, p in model.named_parameters()}
    return {"params": params, "state": state}


def plain_state(state: dict) -> dict:
    """One parameter's optimizer state with tensors cloned to float32 (one element: a float)."""
    out = {}
    for key, value in state.items():
        if isinstance(value, torch.Tensor):
            value = value.detach().clone().float() if value.numel() != 1 else float(value)
        out[key] = value
    return out


def assert_close(actual: dict, expected: dict, label: str = "") -> None:
    """Nested dicts of tensors and numbers (parameters, state by name) equal per float32."""
    assert actual.keys() == expected.keys(), (label, actual.keys(), expected.keys())
    for key, want in expected.items():
        where = f"{label}/{key}"
        if isinstance(want, dict):
            assert_close(actual[key], want, where)
        else:
            assert_close_per_precision(actual[key], want, torch.float32, what=where)
