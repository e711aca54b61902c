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
from cases.closeness import relative_distance
from cases.torch_optimizers import OPTIMIZERS as OPTIMIZER_TABLE
from cases.torch_optimizers import OptimizerInfo
from stepsize.torch import get_linear_schedule_with_warmup

__all__ = [
    "BATCH",
    "CHECKPOINTS",
    "DEFAULTS",
    "DTYPES",
    "MAX_GRAD_NORM",
    "OPTIMIZERS",
    "STEPS",
    "assert_close",
    "assert_like_single_process",
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
# How far a bfloat16 case may be from its single-process run (relative distance): its
# gradients are reduced in bfloat16 in another order (a unit is 2^-8 relative), and under FSDP2
# stochastic rounding draws the random bits of each rank's shard. Measured over the 12 steps:
# at most 3e-3 for Kahan summation and DDP, 8e-3 for stochastic rounding under FSDP2.
BFLOAT16_DISTANCE = 2.0**-6


def _constructor(info: OptimizerInfo, path: str, hyper: dict) -> Callable[[Any], Any]:
    return lambda params: info.make(params, path, **hyper)


def _name(info: OptimizerInfo, suffix: str, path: str) -> str:
    return info.name.lower() + suffix + ("" if path == "auto" else f"_{path}")


# The configurations of each row with their paths: its float32 ones on every path; its
# bfloat16 ones (named "_bf16...") on the automatic path and the loop (the multi-tensor and
# fused paths take DTensors, and compiled kernels are off in tests, so all three run the same
# code under FSDP2).
_CONFIGS = [
    (info, prefix + suffix, hyper, dtype, path)
    for info in OPTIMIZER_TABLE
    for prefix, configs, dtype, paths in (
        ("", info.distributed, torch.float32, list(info.paths)),
        ("_bf16", info.distributed_bfloat16, torch.bfloat16, ["auto", "loop"]),
    )
    for suffix, hyper in configs.items()
    for path in paths
]
# name -> constructor: every row of the optimizer table, with each of its distributed
# configurations and paths ("adamw": AdamW's first configuration on the automatic path).
# Every distributed case runs each of them.
OPTIMIZERS: dict[str, Callable[[Any], torch.optim.Optimizer]] = {
    _name(info, suffix, path): _constructor(info, path, hyper)
    for info, suffix, hyper, _, path in _CONFIGS
}
# name -> the dtype of that case's model.
DTYPES: dict[str, torch.dtype] = {
    _name(info, suffix, path): dtype for info, suffix, _, dtype, path in _CONFIGS
}
# Each optimizer's first configuration on the automatic path.
DEFAULTS: tuple[str, ...] = tuple(info.name.lower() for info in OPTIMIZER_TABLE)
# The cases resumed from a checkpoint: the defaults and every bfloat16 one on the automatic path.
CHECKPOINTS: tuple[str, ...] = DEFAULTS + tuple(
    _name(info, suffix, path)
    for info, suffix, _, dtype, path in _CONFIGS
    if dtype != torch.float32 and path == "auto"
)


def make_model(dtype: torch.dtype = torch.float32) -> torch.nn.Sequential:
    """The same initial weights in every process (drawn in float32, then cast)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(IN, HIDDEN), torch.nn.Tanh(), torch.nn.Linear(HIDDEN, OUT)
    )
    return model.to(dtype)


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
    dtype = next(iter(model.parameters())).dtype  # the batches are float32
    return torch.nn.functional.mse_loss(model(x.to(dtype)), y.to(dtype))  # mean-reduced


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
    model = make_model(DTYPES[optimizer])
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


def assert_like_single_process(result: dict, expected: dict, name: str) -> None:
    """A case's parameters and state equal the single-process run's: per float32 for float32
    cases; within ``BFLOAT16_DISTANCE`` for bfloat16 ones (the parameters, each state entry,
    and p + kahan_comp, the value Kahan summation keeps)."""
    if DTYPES[name] == torch.float32:
        assert_close(result["params"], expected["params"], "params")
        assert_close(result["state"], expected["state"], "state")
        return
    runs = [(result["params"], result["state"]), (expected["params"], expected["state"])]
    assert runs[0][0].keys() == runs[1][0].keys() == runs[0][1].keys()
    entries: dict[str, tuple[list, list]] = {}
    for params, state in runs:
        for param, values in sorted(state.items()):
            assert values.keys() == runs[1][1][param].keys(), param
            stored = {"params": params[param], **values}
            if "kahan_comp" in values:  # what Kahan summation keeps: p + c
                stored["kahan_comp"] = params[param] + values["kahan_comp"]
            for key, value in stored.items():
                if isinstance(value, torch.Tensor):
                    entries.setdefault(key, ([], []))[params is runs[1][0]].append(value)
    for key, (mine, theirs) in entries.items():
        distance = relative_distance(mine, theirs)
        label = "p + kahan_comp" if key == "kahan_comp" else key
        assert distance <= BFLOAT16_DISTANCE, f"{name} {label}: {distance:.3g} from one process"


def assert_close(actual: dict, expected: dict, label: str = "") -> None:
    """Nested dicts of tensors and numbers (parameters, state by name) equal per float32."""
    assert actual.keys() == expected.keys(), (label, actual.keys(), expected.keys())
    for key, want in expected.items():
        where = f"{label}/{key}"
        if isinstance(want, dict):
            assert_close(actual[key], want, where)
        else:
            assert_close_per_precision(actual[key], want, torch.float32, what=where)
