"""Tiny training runs shared by the accumulation and distributed tests.

The model, data, optimizer configurations and the single-process reference run; the 2-process
DDP / FSDP2 worker (``cases.distributed_worker``) trains the same model and the tests compare.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from stepsize.torch import Adafactor, AdamW, get_linear_schedule_with_warmup

STEPS = 12  # optimizer updates per case
BATCH = 8  # rows per update, split evenly across the ranks
IN, HIDDEN, OUT = 8, 16, 3  # OUT = 3 shards unevenly over 2 ranks
MAX_GRAD_NORM = 0.1  # small enough to clip in the accumulation cases

_ADAMW = {"lr": 1e-2, "betas": (0.9, 0.999), "eps": 1e-6, "weight_decay": 0.01}

# name -> constructor; every distributed case runs each configuration.
OPTIMIZERS: dict[str, Callable[[Any], torch.optim.Optimizer]] = {
    "adamw": lambda params: AdamW(params, **_ADAMW),  # the automatic choice of path
    "adamw_loop": lambda params: AdamW(params, **_ADAMW, foreach=False),
    "adamw_foreach": lambda params: AdamW(params, **_ADAMW, foreach=True),
    "adafactor": lambda params: Adafactor(params),  # relative step, scaled by RMS(p)
    "adafactor_beta1": lambda params: Adafactor(
        params, lr=1e-2, relative_step=False, scale_parameter=False, beta1=0.9, weight_decay=0.01
    ),
}


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


def loss_fn(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.mse_loss(model(x), y)  # mean-reduced


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
    """SPEC 5.1, float32: |x - y| <= 1e-6 + 1e-5 |y| for every parameter and state entry."""
    assert actual.keys() == expected.keys(), (label, actual.keys(), expected.keys())
    for key, want in expected.items():
        got = actual[key]
        where = f"{label}/{key}"
        if isinstance(want, dict):
            assert_close(got, want, where)
        elif isinstance(want, torch.Tensor):
            got = torch.as_tensor(got, dtype=want.dtype)
            assert got.shape == want.shape, (where, got.shape, want.shape)
            error = (got - want).abs() - (1e-6 + 1e-5 * want.abs())
            assert bool((error <= 0).all()), f"{where}: off by {float(error.max()):.3g} beyond"
        else:
            want, got = float(want), float(got)
            assert abs(got - want) <= 1e-6 + 1e-5 * abs(want), (where, got, want)
