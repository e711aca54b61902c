"""``AdamW``: transformers' AdamW as a torch optimizer, dispatching to the fastest valid path."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

from .._validation import check_bool, check_real, check_sequence
from ._adamw import AdamWHyperParams, AdamWTensors, adamw_loop
from ._adamw_compiled import adamw_compiled, compilable
from ._adamw_fast import adamw_foreach, adamw_fused, check_fits, fusable
from ._lowp import (
    KAHAN_ENTRY,
    KAHAN_KEY,
    check_precision_options,
    check_precision_params,
    compensation,
)
from ._optimizer_base import (
    COMMON_OPTIONS,
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


def _parameter_dtype(p: torch.Tensor) -> torch.dtype:
    return p.dtype


def _step_tensor(count: int) -> torch.Tensor:
    """The stored step: a float32 CPU tensor, which the host-side bias correction reads
    without a device sync."""
    return torch.tensor(float(count), dtype=torch.float32)


class AdamW(ClosureOptimizer):
    """Adam with decoupled weight decay, computing exactly transformers' ``AdamW``.

    Per step, for each parameter with a gradient (state: ``step``, ``exp_avg``,
    ``exp_avg_sq``, with Kahan summation ``kahan_comp``; all in the parameter's dtype but
    ``step``, a float32 CPU tensor)::

        m ← β1·m + (1−β1)·g;   v ← β2·v + (1−β2)·g²
        step_size = lr·√(1−β2^step)/(1−β1^step)   (lr when correct_bias=False)
        p ← p − step_size·m/(√v + eps)            (eps added to the uncorrected √v)
        p ← p − lr·weight_decay·p                 (after the update, on the updated p)

    This is not ``torch.optim.AdamW``, which decays before the update and adds eps to the
    bias-corrected √v. The update runs on torch's fused AdamW kernel with transformed
    hyper-parameters where it applies (floating-point tensors on CPU or CUDA), on the
    multi-tensor ``torch._foreach_*`` path elsewhere; both equal the single-tensor reference
    loop. float16/bfloat16 parameters are computed in float32 and written back: by default
    with Kahan summation (no update is lost to rounding; 2 more bytes per parameter), with
    ``kahan_sum=False`` rounded to nearest as transformers does, with ``stochastic_round``
    rounded stochastically; their Kahan and stochastic updates run as one compiled kernel per
    tensor (``torch.compile``; ``STEPSIZE_COMPILE=0`` turns it off). ``torch.amp.GradScaler``
    is supported directly (gradients are unscaled inside the step; a step with inf/NaN
    gradients changes nothing). Unlike transformers, it emits no deprecation warning.
    ``load_state_dict`` takes its own and transformers' state dicts (whose ``step`` is an
    int), checked first and applied all or nothing.

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
        kahan_sum: Kahan-compensated updates of bfloat16/float16 parameters; None (default):
            on for them unless ``stochastic_round``.
        stochastic_round: round bfloat16/float16 parameters stochastically (unbiased).
        seed: the seed of the stochastic rounding (an int, or a ``torch.Generator`` to draw it
            from; None: drawn from torch's default generator). Kept in the state dict, so a
            resumed run continues with the same random bits.

    Raises:
        TypeError: for an argument of the wrong type (naming it and its value).
        ValueError: for an invalid hyper-parameter (naming it and its value), both switches
            True, ``fused=True`` with parameters the kernel cannot take, ``kahan_sum`` and
            ``stochastic_round`` both True, or either True with float32/float64 parameters.

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
            KAHAN_KEY: KAHAN_ENTRY,
        },
        step=_step_tensor,
    )
    _kept_options = ("correct_bias", *COMMON_OPTIONS)
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
        kahan_sum: bool | None = None,
        stochastic_round: bool = False,
        seed: int | torch.Generator | None = None,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "correct_bias": correct_bias,
            "foreach": foreach,
            "fused": fused,
            "kahan_sum": kahan_sum,
            "stochastic_round": stochastic_round,
            "seed": seed,
        }
        defaults.update(_check_options(defaults))
        check_bool("no_deprecation_warning", no_deprecation_warning)
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> dict[str, Any]:
        options = _check_options(group)
        check_fused_params(group["params"], options["fused"])
        check_precision_params(group["params"], options["kahan_sum"], options["stochastic_round"])
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
        position = 0  # of each parameter in the optimizer: its stochastic rounding stream
        for group in self.param_groups:
            self._step_group(group, grad_scale, position)
            position += len(group["params"])

    def _step_group(
        self, group: dict[str, Any], grad_scale: torch.Tensor | None, position: int
    ) -> None:
        path = resolve_path(group["foreach"], group["fused"])
        explicit = bool(group["fused"])
        hyper = AdamWHyperParams.from_group(group)
        fused, compiled, other = (AdamWTensors.empty() for _ in range(3))
        for index, p in enumerate(group["params"], start=position):
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
            rounding = hyper.rounding(p.dtype)
            comp = compensation(state, p, rounding)
            target = other
            if path == "fused" and rounding == "nearest":
                target = fused if fusable(p, grad, m, v, explicit) else other
            elif path == "fused" and (comp is None or comp.is_contiguous()):
                target = compiled if compilable(p, grad, m, v, comp is None) else other
            if target is not fused:  # the fused kernel checks where it is launched
                check_fits(p, grad, m, v)
            target.append(p, grad, m, v, state["step"], comp, index)
        if fused.params:
            adamw_fused(fused, hyper, grad_scale)
        if compiled.params:
            adamw_compiled(compiled, hyper, grad_scale)
        if other.params:
            # foreach=False asks for no multi-tensor path at all, also as the fallback
            run = adamw_loop if group["foreach"] is False else adamw_foreach
            run(other, hyper, grad_scale)


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
        **check_precision_options(group),
    }
