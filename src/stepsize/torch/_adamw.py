"""AdamW with transformers' numbers: the optimizer, its dispatcher and the reference loop."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from ._adamw_fast import adamw_foreach, adamw_fused, fusable, step_size
from ._optimizer_base import (
    ClosureOptimizer,
    amp_inputs,
    check_dense,
    check_fused_params,
    check_range,
    check_switches,
    resolve_path,
    working_dtype,
)


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
    deprecation warning.

    Args:
        params: parameters or dicts defining parameter groups.
        lr: learning rate, >= 0.
        betas: (β1, β2), each in [0, 1).
        eps: added to √v, >= 0.
        weight_decay: decoupled weight decay, >= 0.
        correct_bias: whether to correct the moments' bias (False as in BERT's TF code).
        no_deprecation_warning: accepted for compatibility; no warning is ever emitted.
        foreach: True for the multi-tensor path, False for the reference loop, None to choose.
        fused: True for torch's fused kernel (multi-tensor path for tensors it cannot take:
            non-contiguous or non-plain ones), False to avoid it, None to choose. Not both True.

    Raises:
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
        _check_group(defaults)
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a parameter group; its own hyper-parameters are validated like the defaults."""
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        try:
            _check_group(group)
            check_fused_params(group["params"], group["fused"])
        except ValueError:
            self.param_groups.pop()
            raise

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("correct_bias", True)
            group.setdefault("foreach", None)
            group.setdefault("fused", None)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state dict (also transformers' AdamW's, whose ``step`` is an int).

        The moments are cast to each parameter's device and dtype; ``step`` becomes a
        float32 CPU tensor, where the host-side bias correction reads it without a sync.
        Options a saved group lacks (``correct_bias``, ``foreach``, ``fused``) keep this
        optimizer's values.
        """
        saved = state_dict["param_groups"]
        state_dict = {**state_dict, "param_groups": [dict(group) for group in saved]}
        for group, current in zip(state_dict["param_groups"], self.param_groups, strict=False):
            for key in ("correct_bias", "foreach", "fused"):
                group.setdefault(key, current[key])
        super().load_state_dict(state_dict)
        for state in self.state.values():
            step = state.get("step")
            if step is None:
                continue
            if (
                type(step) is not torch.Tensor
                or step.device.type != "cpu"
                or step.dtype != torch.float32
            ):
                state["step"] = torch.tensor(float(step), dtype=torch.float32)

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
        # (params, grads, exp_avgs, exp_avg_sqs, steps) for the fused kernel and the rest
        fused: tuple[list[torch.Tensor], ...] = ([], [], [], [], [])
        other: tuple[list[torch.Tensor], ...] = ([], [], [], [], [])
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
            target = fused if path == "fused" and fusable(p, grad, m, v, explicit) else other
            for values, tensor in zip(target, (p, grad, m, v, state["step"]), strict=True):
                values.append(tensor)
        beta1, beta2 = group["betas"]
        hyper = {
            "lr": float(group["lr"]),
            "beta1": float(beta1),
            "beta2": float(beta2),
            "eps": float(group["eps"]),
            "weight_decay": float(group["weight_decay"]),
            "correct_bias": bool(group["correct_bias"]),
            "grad_scale": grad_scale,
        }
        if fused[0]:
            adamw_fused(*fused, **hyper)
        if other[0]:
            # foreach=False asks for no multi-tensor path at all, also as the fallback
            run = adamw_loop if group["foreach"] is False else adamw_foreach
            run(*other, **hyper)


def _check_group(group: dict[str, Any]) -> None:
    check_range("lr", group["lr"])
    betas = group["betas"]
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"Invalid betas: {betas!r} - should be a pair (beta1, beta2)")
    for index, beta in enumerate(betas):
        check_range(f"beta parameter betas[{index}]", beta, 0.0, 1.0)
    check_range("eps", group["eps"])
    check_range("weight_decay", group["weight_decay"])
    check_switches(group["foreach"], group["fused"])


def adamw_loop(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    exp_avgs: list[torch.Tensor],
    exp_avg_sqs: list[torch.Tensor],
    steps: list[torch.Tensor],
    *,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    correct_bias: bool,
    grad_scale: torch.Tensor | None = None,
) -> None:
    """The single-tensor reference loop (the ground truth): transformers' operations in order.

    float16/bfloat16 tensors are computed in float32 copies and written back.
    """
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
        denom = vw.sqrt().add_(eps)
        pw.addcdiv_(mw, denom, value=-step_size(lr, beta1, beta2, t, correct_bias))
        if weight_decay:
            pw.add_(pw, alpha=-lr * weight_decay)
        for dst, src in ((p, pw), (m, mw), (v, vw)):
            if dst is not src:
                dst.copy_(src)
