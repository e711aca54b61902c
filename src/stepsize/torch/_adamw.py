"""AdamW's reference update (the ground truth) and its hyper-parameters.

:func:`adamw_loop` runs transformers' AdamW operations in their order, one tensor at a time
(the update is written out in the docstring of ``stepsize.torch.AdamW``): bias correction in
the step size, eps added to the uncorrected √v, and weight decay applied after the update, to
the updated parameter. The fast paths in ``_adamw_fast.py`` are proved equal to it.
:class:`AdamWHyperParams` carries a param group's options to every path.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from ._optimizer_base import working_dtype

__all__ = ["AdamWHyperParams", "adamw_loop"]


@dataclass(frozen=True, slots=True)
class AdamWHyperParams:
    """One param group's AdamW hyper-parameters for one step, as plain Python numbers.

    Built once per group and step (:meth:`from_group`) and passed to every path, so a new
    option is one more field here.

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
        )

    def step_size(self, t: float) -> float:
        """transformers' step size at step ``t``: lr·√(1 − β2^t)/(1 − β1^t), or lr without
        bias correction."""
        if not self.correct_bias:
            return self.lr
        return self.lr * math.sqrt(1.0 - self.beta2**t) / (1.0 - self.beta1**t)


def adamw_loop(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    exp_avgs: list[torch.Tensor],
    exp_avg_sqs: list[torch.Tensor],
    steps: list[torch.Tensor],
    hyper: AdamWHyperParams,
    grad_scale: torch.Tensor | None = None,
) -> None:
    """The single-tensor reference loop (the ground truth): transformers' operations in order.

    Args:
        params, grads, exp_avgs, exp_avg_sqs: the parameters, their gradients and moments.
        steps: each parameter's step count (a float32 CPU tensor), incremented here.
        hyper: the param group's hyper-parameters.
        grad_scale: the factor the gradients are scaled by (divided out and stored so), or
            None.

    float16/bfloat16 tensors are computed in float32 copies and written back.
    """
    lr, beta1, beta2 = hyper.lr, hyper.beta1, hyper.beta2
    for p, g, m, v, step in zip(params, grads, exp_avgs, exp_avg_sqs, steps, strict=True):
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
        for dst, src in ((p, pw), (m, mw), (v, vw)):
            if dst is not src:
                dst.copy_(src)
