"""AdamW's reference update (the ground truth) and its hyper-parameters.

:func:`adamw_loop` runs transformers' AdamW operations in their order, one tensor at a time
(the update is written out in the docstring of ``stepsize.torch.AdamW``): bias correction in
the step size, eps added to the uncorrected √v, and weight decay applied after the update, to
the updated parameter. The fast paths in ``_adamw_fast.py`` and ``_adamw_compiled.py`` are
proved equal to it. :class:`AdamWHyperParams` carries a param group's options to every path,
:class:`AdamWTensors` the tensors it updates. A bfloat16/float16 parameter's float32 result is
written back as its group's ``kahan_sum`` / ``stochastic_round`` say (``_lowp.py``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

import torch

from ._lowp import PrecisionOptions, store
from ._optimizer_base import working_dtype

__all__ = ["AdamWHyperParams", "AdamWTensors", "adamw_loop"]


class AdamWTensors(NamedTuple):
    """The tensors a path updates, one entry per parameter in each list."""

    params: list[torch.Tensor]
    grads: list[torch.Tensor]
    exp_avgs: list[torch.Tensor]
    exp_avg_sqs: list[torch.Tensor]
    steps: list[torch.Tensor]  # float32 CPU tensors, incremented by the path
    compensations: list[torch.Tensor | None]  # the Kahan buffers, where Kahan applies
    positions: list[int]  # each parameter's position in the optimizer (its random stream)

    @classmethod
    def empty(cls) -> AdamWTensors:
        """A record of empty lists, to append to."""
        return cls([], [], [], [], [], [], [])

    def append(self, *row: Any) -> None:
        """Appends one parameter's entries (one per field)."""
        for values, item in zip(self, row, strict=True):
            cast(list[Any], values).append(item)

    def pick(self, indices: list[int]) -> AdamWTensors:
        """The record of the parameters at ``indices``."""
        return type(self)._make([values[i] for i in indices] for values in self)


@dataclass(frozen=True, slots=True)
class AdamWHyperParams(PrecisionOptions):
    """One param group's AdamW hyper-parameters for one step, as plain Python numbers.

    Built once per group and step (:meth:`from_group`) and passed to every path, so a new
    option is one more field here; the low-precision options are those of
    ``PrecisionOptions``.

    Example:
        >>> hyper = AdamWHyperParams.from_group(
        ...     {"lr": 1, "betas": (0.9, 0.999), "eps": 1e-6, "weight_decay": 0.0,
        ...      "correct_bias": False}
        ... )
        >>> hyper.lr, hyper.step_size(3.0)
        (1.0, 1.0)
    """

    lr: float
    beta1: float
    beta2: float
    eps: float
    weight_decay: float
    correct_bias: bool

    @classmethod
    def from_group(cls, group: Mapping[str, Any]) -> AdamWHyperParams:
        """The hyper-parameters of a param group (already validated)."""
        beta1, beta2 = group["betas"]
        return cls(
            lr=float(group["lr"]),
            beta1=float(beta1),
            beta2=float(beta2),
            eps=float(group["eps"]),
            weight_decay=float(group["weight_decay"]),
            correct_bias=bool(group["correct_bias"]),
            **PrecisionOptions.of_group(group),
        )

    def step_size(self, t: float) -> float:
        """transformers' step size at step ``t``: lr·√(1 − β2^t)/(1 − β1^t), or lr without
        bias correction."""
        if not self.correct_bias:
            return self.lr
        return self.lr * math.sqrt(1.0 - self.beta2**t) / (1.0 - self.beta1**t)


def adamw_loop(
    tensors: AdamWTensors, hyper: AdamWHyperParams, grad_scale: torch.Tensor | None = None
) -> None:
    """The single-tensor reference loop (the ground truth): transformers' operations in order.

    Args:
        tensors: the parameters, their gradients, moments, step counts (incremented here),
            Kahan buffers and positions.
        hyper: the param group's hyper-parameters.
        grad_scale: the factor the gradients are scaled by (divided out and stored so), or
            None.

    float16/bfloat16 tensors are computed in float32 copies; the moments are written back
    rounded to nearest, the parameter as ``hyper.rounding`` says.
    """
    lr, beta1, beta2 = hyper.lr, hyper.beta1, hyper.beta2
    for p, g, m, v, step, comp, position in zip(*tensors, strict=True):
        work = working_dtype(p.dtype)
        pw, gw, mw, vw = (x if x.dtype == work else x.to(work) for x in (p, g, m, v))
        if grad_scale is not None:
            gw = gw.div_(grad_scale.to(gw.device))
            if gw is not g:
                g.copy_(gw)
        step += 1
        t = float(step.item())
        mw.mul_(beta1).add_(gw, alpha=1.0 - beta1)
        vw.mul_(beta2).addcmul_(gw, gw, value=1.0 - beta2)
        denom = vw.sqrt().add_(hyper.eps)
        pw.addcdiv_(mw, denom, value=-hyper.step_size(t))
        if hyper.weight_decay:
            pw.add_(pw, alpha=-lr * hyper.weight_decay)
        for dst, src in ((m, mw), (v, vw)):
            if dst is not src:
                dst.copy_(src)
        if pw is not p:
            store(p, pw, hyper.rounding(p.dtype), comp, hyper.key(t, position))
