"""Adafactor's reference update (the ground truth), its hyper-parameters and math helpers.

:func:`adafactor_loop` runs transformers' Adafactor operations in their order, one parameter at
a time (the update is written out in the docstring of ``stepsize.torch.Adafactor``); the fast
paths in ``_adafactor_fast.py`` are proved equal to it. :class:`AdafactorHyperParams` carries a
param group's options to every path, with the math of the step size (``rho``, ``beta2t``);
:class:`AdafactorTensors` the parameters it updates. A bfloat16/float16 parameter's float32 result
is written back as its group's ``kahan_sum`` / ``stochastic_round`` say (``_lowp.py``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

import torch

from ._lowp import KAHAN_KEY, PrecisionOptions, store
from ._optimizer_base import working_dtype

__all__ = [
    "AdafactorHyperParams",
    "AdafactorTensors",
    "adafactor_loop",
    "relative_step_size",
    "rms",
]


class AdafactorTensors(NamedTuple):
    """The parameters a path updates, their gradients, state dicts and positions."""

    params: list[torch.Tensor]
    grads: list[torch.Tensor]
    states: list[dict[str, Any]]  # created in the working dtype; ``step`` incremented by paths
    positions: list[int]  # each parameter's position in the optimizer (its random stream)

    def append(self, *row: Any) -> None:
        """Appends one parameter's entries (one per field)."""
        for values, item in zip(self, row, strict=True):
            cast(list[Any], values).append(item)

    def pick(self, indices: list[int]) -> AdafactorTensors:
        """The record of the parameters at ``indices``."""
        return type(self)._make([values[i] for i in indices] for values in self)


def relative_step_size(
    step: int, lr: float | None, relative_step: bool, warmup_init: bool
) -> float:
    """ρ at ``step``: min(1e-6·step if warmup_init else 1e-2, 1/√step) with relative_step, else lr.

    Example:
        >>> relative_step_size(4, None, True, False)
        0.01
    """
    if relative_step:
        min_step = 1e-6 * step if warmup_init else 1e-2
        return min(min_step, 1.0 / math.sqrt(step))
    if lr is None:  # Adafactor's option checks reject such a group first
        raise TypeError("lr must be a number when relative_step=False, got None")
    return float(lr)


def rms(x: torch.Tensor) -> torch.Tensor:
    """√mean(x²), summed accurately (``x.norm()`` accumulates float32 in a way that is off by
    ~1e-3 relative for tensors of tens of millions of elements; transformers uses it).

    Example:
        >>> rms(torch.tensor([3.0, 4.0, 0.0, 0.0])).item()
        2.5
    """
    return x.square().mean().sqrt()


@dataclass(frozen=True, slots=True)
class AdafactorHyperParams(PrecisionOptions):
    """One param group's Adafactor hyper-parameters, as plain Python values (names as in
    transformers' param groups).

    Built once per group and step (:meth:`from_group`) and passed to every path, so a new
    option is one more field here; the low-precision options are those of
    ``PrecisionOptions``.

    Example:
        >>> hyper = AdafactorHyperParams.from_group(
        ...     {"lr": None, "eps": (1e-30, 1e-3), "clip_threshold": 1.0, "decay_rate": -0.8,
        ...      "beta1": None, "weight_decay": 0.0, "scale_parameter": True,
        ...      "relative_step": True, "warmup_init": False}
        ... )
        >>> hyper.rho(100), round(hyper.beta2t(1), 6)
        (0.01, 0.0)
    """

    lr: float | None
    eps: tuple[float, float]
    clip_threshold: float
    decay_rate: float
    beta1: float | None
    weight_decay: float
    scale_parameter: bool
    relative_step: bool
    warmup_init: bool

    @classmethod
    def from_group(cls, group: Mapping[str, Any]) -> AdafactorHyperParams:
        """The hyper-parameters of a param group (already validated)."""
        lr, beta1 = group["lr"], group["beta1"]
        eps0, eps1 = group["eps"]
        return cls(
            lr=None if lr is None else float(lr),
            eps=(float(eps0), float(eps1)),
            clip_threshold=float(group["clip_threshold"]),
            decay_rate=float(group["decay_rate"]),
            beta1=None if beta1 is None else float(beta1),
            weight_decay=float(group["weight_decay"]),
            scale_parameter=bool(group["scale_parameter"]),
            relative_step=bool(group["relative_step"]),
            warmup_init=bool(group["warmup_init"]),
            **PrecisionOptions.of_group(group),
        )

    def rho(self, step: int) -> float:
        """ρ, the step size before ``scale_parameter`` (see :func:`relative_step_size`)."""
        return relative_step_size(step, self.lr, self.relative_step, self.warmup_init)

    def beta2t(self, step: int) -> float:
        """The second-moment decay of ``step``: 1 − step^decay_rate."""
        return 1.0 - math.pow(step, self.decay_rate)


def adafactor_loop(tensors: AdafactorTensors, hyper: AdafactorHyperParams) -> None:
    """The reference loop: transformers' Adafactor update, one parameter at a time.

    Args:
        tensors: the parameters, their (dense) gradients, state dicts (``step`` is
            incremented here) and positions.
        hyper: the param group's hyper-parameters.

    float16/bfloat16 parameters are computed in float32 and written back as
    ``hyper.rounding`` says.
    """
    eps0, eps1 = hyper.eps
    beta1 = hyper.beta1
    for p, grad, state, position in zip(*tensors, strict=True):
        dtype = working_dtype(p.dtype)
        g = grad.to(dtype)
        work = p.to(dtype) if p.dtype != dtype else p
        state["step"] += 1
        step = state["step"]
        state["RMS"] = rms(work)
        lr = hyper.rho(step)
        if hyper.scale_parameter:
            lr = state["RMS"].clamp(min=eps1) * lr
        beta2t = hyper.beta2t(step)
        u = g.square().add_(eps0)
        if g.dim() >= 2:
            row, col = state["exp_avg_sq_row"], state["exp_avg_sq_col"]
            row.mul_(beta2t).add_(u.mean(dim=-1), alpha=1.0 - beta2t)
            col.mul_(beta2t).add_(u.mean(dim=-2), alpha=1.0 - beta2t)
            r = (row / row.mean(dim=-1, keepdim=True)).rsqrt().unsqueeze(-1)
            c = col.unsqueeze(-2).rsqrt()
            update = torch.mul(r, c).mul_(g)
        else:
            v = state["exp_avg_sq"]
            v.mul_(beta2t).add_(u, alpha=1.0 - beta2t)
            update = v.rsqrt().mul_(g)
        update.div_((rms(update) / hyper.clip_threshold).clamp(min=1.0))
        update.mul_(lr)
        if beta1 is not None:
            update = state["exp_avg"].mul_(beta1).add_(update, alpha=1.0 - beta1)
        if hyper.weight_decay != 0:
            work.sub_(work * (hyper.weight_decay * lr))
        work.sub_(update)
        if work is not p:
            store(p, work, hyper.rounding(p.dtype), state.get(KAHAN_KEY), hyper.key(step, position))
