"""Bytes per parameter of a training setup, weights included, measured from real tensors.

Each setup builds the parameters of a workload (:class:`~stepsize.bench._workload.Workload`),
takes one optimizer step so that the state exists, and counts the bytes of every tensor it
keeps between steps: the weights the model runs with, a float32 master copy where the setup
has one, and every tensor in ``optimizer.state`` (moments, factored statistics, the Kahan
buffer, step counters). Gradients are left out: every setup has one per weight, in the
weights' dtype, and frees them between steps where the training loop does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from stepsize.bench._workload import Workload

__all__ = ["SETUPS", "SetupBytes", "measure", "memory_table"]

# name -> (optimizer, weights' dtype, float32 master copy, optimizer options)
SETUPS: dict[str, tuple[str, str, bool, dict[str, Any]]] = {
    "AdamW, float32": ("AdamW", "float32", False, {}),
    "AdamW, mixed precision (float32 master + bf16 copy)": ("AdamW", "bfloat16", True, {}),
    "AdamW, pure bf16, kahan_sum=False": ("AdamW", "bfloat16", False, {"kahan_sum": False}),
    "AdamW, pure bf16, stochastic rounding": (
        "AdamW",
        "bfloat16",
        False,
        {"stochastic_round": True, "seed": 0},
    ),
    "AdamW, pure bf16, Kahan (default)": ("AdamW", "bfloat16", False, {}),
    "Adafactor, float32": ("Adafactor", "float32", False, {}),
    "Adafactor, mixed precision (float32 master + bf16 copy)": (
        "Adafactor",
        "bfloat16",
        True,
        {},
    ),
    "Adafactor, pure bf16, stochastic rounding": (
        "Adafactor",
        "bfloat16",
        False,
        {"stochastic_round": True, "seed": 0},
    ),
    "Adafactor, pure bf16, Kahan (default)": ("Adafactor", "bfloat16", False, {}),
}


@dataclasses.dataclass(frozen=True)
class SetupBytes:
    """One setup's bytes per parameter: the weights (and master copy) and the optimizer state."""

    name: str
    weights: float
    state: float

    @property
    def total(self) -> float:
        """Bytes per parameter kept between steps."""
        return self.weights + self.state

    def to_dict(self) -> dict[str, Any]:
        """The row as JSON data."""
        return {**dataclasses.asdict(self), "total": self.total}


def _nbytes(tensors: Any) -> int:
    import torch

    return sum(t.numel() * t.element_size() for t in tensors if isinstance(t, torch.Tensor))


def measure(name: str, workload: Workload) -> SetupBytes:
    """Builds setup ``name`` (a key of ``SETUPS``) on ``workload``, steps once, counts."""
    import torch

    from stepsize.torch import Adafactor, AdamW

    family, dtype, master, options = SETUPS[name]
    generator = torch.Generator().manual_seed(0)
    shapes = [shape for _, shape in workload.tensors()]
    weights = [
        torch.randn(shape, generator=generator).to(getattr(torch, dtype)) for shape in shapes
    ]
    # mixed precision: the optimizer steps float32 masters, copied into the bf16 weights
    stepped = [torch.nn.Parameter(w.float()) if master else torch.nn.Parameter(w) for w in weights]
    for p in stepped:
        p.grad = torch.randn(p.shape, generator=generator).to(p.dtype) * 1e-3
    if family == "AdamW":
        optimizer: Any = AdamW(stepped, lr=1e-4, **options)
    else:
        optimizer = Adafactor(stepped, lr=1e-4, relative_step=False, **options)
    optimizer.step()
    kept = _nbytes(weights) + (_nbytes(stepped) if master else 0)
    state = sum(_nbytes(s.values()) for s in optimizer.state.values())
    count = workload.parameters
    return SetupBytes(name, kept / count, state / count)


def memory_table(rows: Sequence[SetupBytes]) -> str:
    """The rows as a text table.

    Example:
        >>> print(memory_table([SetupBytes("AdamW, float32", 4.0, 8.0)]))
        setup                                                     weights    state    total
        AdamW, float32                                               4.00     8.00    12.00
    """
    width = max([55, *(len(row.name) for row in rows)])
    lines = [f"{'setup':{width}s} {'weights':>9s} {'state':>8s} {'total':>8s}"]
    lines += [
        f"{row.name:{width}s} {row.weights:9.2f} {row.state:8.2f} {row.total:8.2f}" for row in rows
    ]
    return "\n".join(lines)
