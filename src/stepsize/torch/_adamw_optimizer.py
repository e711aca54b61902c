"""``AdamW``: transformers' AdamW as a torch optimizer, dispatching to the fastest valid path."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, NamedTuple

import torch

from .._validation import check_bool, check_real, check_sequence
from ._adamw import AdamWHyperParams, adamw_loop
from ._adamw_fast import adamw_foreach, adamw_fused, check_fits, fusable
from ._optimizer_base import (
    FLOAT32_MAX,
    FLOAT32_TINY,
    ClosureOptimizer,
    amp_inputs,
    check_dense,
    check_fused_params,
    check_switches,
    resolve_path,
)
from ._state_validation import StateDescription, StateEntry, param_shape

__all__ = ["AdamW"]


class _PathTensors(NamedTuple):
    """The tensors one path updates: the arguments of ``adamw_loop`` before ``hyper``."""

    params: list[torch.Tensor]
    grads: list[torch.Tensor]
    exp_avgs: list[torch.Tensor]
    exp_avg_sqs: list[torch.Tensor]
    steps: list[torch.Tensor]


def _parameter_dtype(p: torch.Tensor) -> torch.dtype:
    return p.dtype


def _step_tensor(count: int) -> torch.Tensor:
    """The stored step: a float32 CPU tensor, which the host-side bias correction reads
    without a device sync."""
    return torch.tensor(float(count), dtype=torch.float32)


class AdamW(ClosureOptimizer):
    """Adam with decoupled weight decay, computing exactly transformers' ``AdamW``.

    Per step, for each parameter with a gradient (state: ``step``, ``exp_avg``,
    ``exp_avg_sq``; the moments in the parameter's dtype, ``step`` a float32 CPU tensor)::

        m ← β1·m + (1−β1)·g;   v ← β2·v + (1−β2)·g²
        step_size = lr·√(1−β2^step)/(1−β1^step)   (lr when correct_bias=False)
        p ← p − step_size·m/(√v + eps)            (eps added to the uncorrected √v)
        p ← p − lr·weight_decay·p                 (after the update, on the updated p)

    This is not ``torch.optim.AdamW``, which decays before the update and adds eps to the
    bias-corrected √v. The update runs on torch's fused AdamW kernel with transformed
    hyper-parameters where it applies (floating-point tensors on CPU or CUDA), on the
    multi-tensor ``torch._foreach_*`` path elsewhere; both equal the single-tensor reference
    loop. float16/bfloat16 parameters are computed in float32 and written back.
    ``torch.amp.GradScaler`` is supported directly (gradients are unscaled inside the step; a
    step with inf/NaN gradients changes nothing). Unlike transformers, it emits no
    deprecation warning. ``load_state_dict`` takes its own and transformers' state dicts
    (whose ``step`` is an int), checked first and applied all or nothing.

    Args:
        params: parameters or dicts defining parameter groups (floating-point or complex).
        lr: learning rate, >= 0 and at most 3.4e38·min(1 − β1, √(1 − β2)) (float32's
            largest value: the step sizes lr/(1 − β1^t), lr/√(1 − β2^t) stay finite).
        betas: (β1, β2), each in [0, 1).
        eps: added to √v, >= 1.18e-38 (float32's smallest normal; transformers accepts 0,
            with which a zero gradient gives NaN).
        weight_decay: decoupled weight decay, >= 0, with lr·weight_decay <= 2.
        correct_bias: whether to correct the moments' bias (False as in BERT's TF code).
        no_deprecation_warning: accepted for compatibility; no warning is ever emitted.
        foreach: True for the multi-tensor path, False for the reference loop, None to choose.
        fused: True for torch's fused kernel (multi-tensor path for tensors it cannot take:
            non-contiguous or non-plain ones), False to avoid it, None to choose. Not both True.

    Raises:
        TypeError: for an argument of the wrong type (naming it and its value).
        ValueError: for an invalid hyper-parameter (naming it and its value), both switches
            True, or ``fused=True`` with parameters the kernel cannot take.

    Example:
        >>> import torch
        >>> from stepsize.torch import AdamW
        >>> p = torch.nn.Parameter(torch.ones(1))
        >>> opt = AdamW([p], lr=1.0)
        >>> p.grad = torch.full((1,), 1e-6)
        >>> opt.step()
        >>> round(p.item(), 5)
        0.96935
    """

    # GradScaler passes grad_scale / found_inf instead of unscaling and checking itself.
    _step_supports_amp_scaling = True
    _state_description = StateDescription(
        entries={
            "exp_avg": StateEntry(param_shape, _parameter_dtype),
            "exp_avg_sq": StateEntry(param_shape, _parameter_dtype, low=0.0),
        },
        step=_step_tensor,
    )
    _kept_options = ("correct_bias", "foreach", "fused")
    _takes_complex = True  # as transformers' AdamW

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        correct_bias: bool = True,
        no_deprecation_warning: bool = False,
        *,
        foreach: bool | None = None,
        fused: bool | None = None,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "correct_bias": correct_bias,
            "foreach": foreach,
            "fused": fused,
        }
        defaults.update(_check_options(defaults))
        check_bool("no_deprecation_warning", no_deprecation_warning)
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> dict[str, Any]:
        options = _check_options(group)
        check_fused_params(group["params"], options["fused"])
        return options

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("correct_bias", True)

    @torch.compiler.disable
    def _update(self) -> None:
        grad_scale, skip = amp_inputs(self)
        if skip:
            return
        for group in self.param_groups:
            self._step_group(group, grad_scale)

    def _step_group(self, group: dict[str, Any], grad_scale: torch.Tensor | None) -> None:
        path = resolve_path(group["foreach"], group["fused"])
        explicit = bool(group["fused"])
        fused = _PathTensors([], [], [], [], [])
        other = _PathTensors([], [], [], [], [])
        for p in group["params"]:
            grad = p.grad
            if grad is None:
                continue
            check_dense(grad, "Adam")
            state = self.state[p]
            if not state:
                state["step"] = torch.tensor(0.0, dtype=torch.float32)
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            m, v = state["exp_avg"], state["exp_avg_sq"]
            if path == "fused" and fusable(p, grad, m, v, explicit):
                target = fused  # checked where the kernel is launched
            else:
                check_fits(p, grad, m, v)
                target = other
            for values, tensor in zip(target, (p, grad, m, v, state["step"]), strict=True):
                values.append(tensor)
        hyper = AdamWHyperParams.from_group(group)
        if fused.params:
            adamw_fused(*fused, hyper, grad_scale)
        if other.params:
            # foreach=False asks for no multi-tensor path at all, also as the fallback
            run = adamw_loop if group["foreach"] is False else adamw_foreach
            run(*other, hyper, grad_scale)


def _check_options(group: dict[str, Any]) -> dict[str, Any]:
    """A param group's (or the defaults') options, validated and normalized (floats).

    Stricter than transformers where its values give NaN (see the docs page "Differences from
    transformers"): ``eps`` >= float32's smallest normal (with eps = 0 a zero gradient gives
    0/0); ``lr`` at most float32's largest value times min(1 − β1, √(1 − β2)), so that the
    step sizes lr/(1 − β1^t) and lr/√(1 − β2^t) the kernels compute in float32 stay finite
    (inf·0 = NaN); and ``lr·weight_decay`` <= 2 (beyond, the decay multiplies the parameters by
    1 − lr·weight_decay < −1 every step: they grow until inf).
    """
    betas = check_sequence("betas", group["betas"], length=2)
    beta1, beta2 = (
        float(check_real(f"betas[{i}]", beta, low=0.0, high=1.0, high_open=True))
        for i, beta in enumerate(betas)
    )
    largest_lr = FLOAT32_MAX * min(1.0 - beta1, math.sqrt(1.0 - beta2))
    lr = float(check_real("lr", group["lr"], low=0.0, high=largest_lr))
    weight_decay = float(check_real("weight_decay", group["weight_decay"], low=0.0))
    if lr * weight_decay > 2.0:
        raise ValueError(
            f"weight_decay must be <= 2/lr = {2.0 / lr!r} with lr={lr!r} (lr·weight_decay "
            f"> 2 makes the parameters grow without bound), got {weight_decay!r}"
        )
    foreach, fused = check_switches(group["foreach"], group["fused"])
    return {
        "lr": lr,
        "betas": (beta1, beta2),
        "eps": float(check_real("eps", group["eps"], low=FLOAT32_TINY)),
        "weight_decay": weight_decay,
        "correct_bias": check_bool("correct_bias", group["correct_bias"]),
        "foreach": foreach,
        "fused": fused,
    }
