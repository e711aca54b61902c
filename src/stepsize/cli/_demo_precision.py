"""``stepsize demo --precision bf16``: the PyTorch demo's AdamW run with bfloat16 weights.

The same model, data order and schedule as ``stepsize demo`` (``_demo_torch``), trained by
``stepsize.torch.AdamW`` four ways: in float32 (the baseline), and with bfloat16 weights and
no float32 master copy, written back rounded to nearest (``kahan_sum=False``, transformers'
numbers), with Kahan summation (the default for bfloat16) and with stochastic rounding.
"""

from __future__ import annotations

from typing import Any

import torch

from stepsize.cli import _demo_torch
from stepsize.cli._demo_data import Digits
from stepsize.cli._demo_report import Run

__all__ = ["PRECISIONS", "RUNS", "train_all"]

# The demo's --precision choices: float32 runs the usual demo.
PRECISIONS = ("float32", "bf16")

# name -> (label, weights' dtype, AdamW's low-precision options)
RUNS: dict[str, tuple[str, torch.dtype, dict[str, Any]]] = {
    "adamw-float32": ("stepsize AdamW, float32 weights", torch.float32, {}),
    "adamw-bf16-nearest": ("bf16 weights, round to nearest", torch.bfloat16, {"kahan_sum": False}),
    "adamw-bf16-kahan": ("bf16 weights + Kahan summation", torch.bfloat16, {"kahan_sum": True}),
    "adamw-bf16-stochastic": (
        "bf16 weights + stochastic rounding",
        torch.bfloat16,
        {"stochastic_round": True},
    ),
}


def train_all(data: Digits, *, epochs: int, seed: int, progress: bool) -> list[Run]:
    """Trains every run of ``RUNS`` in order, on one CPU thread (``seed`` also seeds the
    stochastic rounding)."""
    with _demo_torch.one_thread():
        return [
            _demo_torch.train(
                "stepsize-adamw",
                data,
                epochs=epochs,
                seed=seed,
                progress=progress,
                dtype=dtype,
                options={**options, "seed": seed} if "stochastic_round" in options else options,
                run_name=name,
                label=label,
                baseline=dtype == torch.float32,
            )
            for name, (label, dtype, options) in RUNS.items()
        ]
