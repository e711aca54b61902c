"""Adafactor with transformers' numbers: the optimizer, its checks and the reference loop."""

from __future__ import annotations

import math
from collections.abc import Iterable
from itertools import chain
from typing import Any

import torch

from ._adafactor_fast import CPU_BLOCK_NUMEL, Workspace, adafactor_fast, relative_step
from ._optimizer_base import (
    LOW_PRECISION,
    ClosureOptimizer,
    check_dense,
    check_range,
    check_switches,
    is_plain,
    resolve_path,
    working_dtype,
)

# State entries holding floating-point tensors; float16/bfloat16 parameters keep them in float32.
_FLOAT_STATE = ("exp_avg", "exp_avg_sq", "exp_avg_sq_row", "exp_avg_sq_col", "RMS")


class Adafactor(ClosureOptimizer):
    """Adafactor (Shazeer & Stern, 2018), computing exactly transformers' ``Adafactor``.

    Per step, for each parameter with a gradient g (state: ``step``, ``RMS`` and
    ``exp_avg_sq_row``/``exp_avg_sq_col`` for parameters with ≥ 2 dims, factored over the
    last two, else ``exp_avg_sq``; ``exp_avg`` with beta1)::

        ρ = min(1e-6·step if warmup_init else 1e-2, 1/√step) if relative_step else lr
        lr_eff = ρ·max(eps[1], RMS(p)) if scale_parameter else ρ   (RMS of p before the step)
        β2t = 1 − step^decay_rate;  u = g² + eps[0]
        factored: row ← β2t·row + (1−β2t)·mean(u, −1);  col ← β2t·col + (1−β2t)·mean(u, −2)
                  U = g / √(row_i·col_j / mean(row))
        else:     v ← β2t·v + (1−β2t)·u;  U = g / √v
        U ← lr_eff·U / max(1, RMS(U)/clip_threshold);  with beta1: m ← β1·m + (1−β1)·U, U ← m
        p ← p − weight_decay·lr_eff·p − U

    The state keys are transformers' (``step`` an int, ``RMS`` a 0-d tensor), so its state
    dicts load both ways. The computed lr is never written into ``group["lr"]``;
    ``AdafactorSchedule`` reports it from the state. float16/bfloat16 parameters are
    computed in float32 with float32 state (kept in float32 by ``load_state_dict``). RMS(p)
    and RMS(U) are summed accurately: transformers' float32 ``norm()`` is off by ~1e-4 to
    1e-3 relative on tensors of millions to tens of millions of elements.

    The default path (``fused``) processes factored parameters in cache-sized blocks on the
    CPU, whole on other devices; ``foreach=True`` takes whole tensors everywhere;
    ``foreach=False`` runs the reference loop. Sparse gradients raise RuntimeError;
    ``torch.amp.GradScaler`` works as with any optimizer (steps with inf/NaN gradients are
    skipped); inside ``torch.compile`` the step runs eagerly (a graph break).

    Args:
        params: parameters or dicts defining parameter groups.
        lr: external learning rate; needs ``relative_step=False`` (and is then required).
        eps: (eps[0] > 0 added to g², eps[1] >= 0 the least parameter scale).
        clip_threshold: threshold of the update's RMS, > 0.
        decay_rate: exponent of the second-moment decay, <= 0.
        beta1: first-moment coefficient in [0, 1), or None for no first moment.
        weight_decay: decoupled weight decay, >= 0.
        scale_parameter: whether to scale the lr by RMS(p).
        relative_step: whether to use the time-dependent ρ instead of ``lr``.
        warmup_init: whether ρ warms up (needs ``relative_step``).
        foreach: True for the whole-tensor path, False for the reference loop, None to choose.
        fused: True for the blocked path (whole tensors off the CPU), None to choose.

    Raises:
        ValueError: for ``lr`` with ``relative_step``, ``warmup_init`` without it, no ``lr``
            without it, any other invalid hyper-parameter (naming it and its value), or both
            switches True.

    Example:
        >>> import torch
        >>> from stepsize.torch import Adafactor
        >>> w = torch.nn.Parameter(torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
        >>> opt = Adafactor([w])
        >>> w.grad = w.detach() / 10
        >>> opt.step()
        >>> [round(x, 6) for x in w[0].tolist()]
        [0.975919, 1.963125, 2.955596]
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float | None = None,
        eps: tuple[float, float] = (1e-30, 1e-3),
        clip_threshold: float = 1.0,
        decay_rate: float = -0.8,
        beta1: float | None = None,
        weight_decay: float = 0.0,
        scale_parameter: bool = True,
        relative_step: bool = True,
        warmup_init: bool = False,
        *,
        foreach: bool | None = None,
        fused: bool | None = None,
    ) -> None:
        defaults = {
            "lr": lr,
            "eps": eps,
            "clip_threshold": clip_threshold,
            "decay_rate": decay_rate,
            "beta1": beta1,
            "weight_decay": weight_decay,
            "scale_parameter": scale_parameter,
            "relative_step": relative_step,
            "warmup_init": warmup_init,
            "foreach": foreach,
            "fused": fused,
        }
        _check_group(defaults)
        self._workspace = Workspace()
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a parameter group; its own hyper-parameters are checked like the defaults."""
        super().add_param_group(param_group)
        try:
            _check_group(self.param_groups[-1])
        except ValueError:
            self.param_groups.pop()
            raise

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._workspace = Workspace()
        for group in self.param_groups:
            group.setdefault("foreach", None)
            group.setdefault("fused", None)

    @staticmethod
    def _get_lr(param_group: dict[str, Any], param_state: dict[str, Any]) -> float:
        """The effective lr of the last step of a parameter with this state, as a float."""
        rho = relative_step(param_group, param_state["step"])
        if param_group["scale_parameter"]:
            return rho * max(param_group["eps"][1], float(param_state["RMS"]))
        return rho

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state dict (also transformers' Adafactor's).

        torch casts floating-point state to each parameter's dtype; the float32 state of
        float16/bfloat16 parameters is restored from ``state_dict`` in float32 instead, so
        resuming continues bit-identically.
        """
        super().load_state_dict(state_dict)
        saved_ids = chain.from_iterable(g["params"] for g in state_dict["param_groups"])
        params = chain.from_iterable(g["params"] for g in self.param_groups)
        for saved_id, p in zip(saved_ids, params, strict=True):
            saved = state_dict["state"].get(saved_id)
            if saved is None or p not in self.state:
                continue
            state = self.state[p]
            if isinstance(state.get("step"), torch.Tensor):
                state["step"] = int(state["step"].item())
            source = saved if p.dtype in LOW_PRECISION else state
            _convert_state(state, source, working_dtype(p.dtype), p.device)

    @torch.compiler.disable
    def _update(self) -> None:
        for group in self.param_groups:
            params, grads, states = [], [], []
            for p in group["params"]:
                if p.grad is None:
                    continue
                check_dense(p.grad, "Adafactor")
                params.append(p)
                grads.append(p.grad)
                states.append(self._state_for(p, group))
            if not params:
                continue
            path = resolve_path(group.get("foreach"), group.get("fused"))
            # Tensor subclasses (e.g. DTensor) and empty tensors take the reference loop.
            slow = [path == "loop" or not is_plain(p) or p.numel() == 0 for p in params]
            tensors = (params, grads, states)
            if any(slow):
                adafactor_loop(*_pick(tensors, slow, True), group)
            if not all(slow):
                block_numel = CPU_BLOCK_NUMEL if path == "fused" else None
                chosen = _pick(tensors, slow, False)
                adafactor_fast(*chosen, group, block_numel, self._workspace)

    def _state_for(self, p: torch.Tensor, group: dict[str, Any]) -> dict[str, Any]:
        """The state of ``p``, created on first use and kept in the working dtype and device."""
        state = self.state[p]
        dtype = working_dtype(p.dtype)
        if not state:
            state["step"] = 0
            if p.dim() >= 2:
                state["exp_avg_sq_row"] = p.new_zeros(p.shape[:-1], dtype=dtype)
                state["exp_avg_sq_col"] = p.new_zeros(p.shape[:-2] + p.shape[-1:], dtype=dtype)
            else:
                state["exp_avg_sq"] = p.new_zeros(p.shape, dtype=dtype)
            state["RMS"] = p.new_zeros((), dtype=dtype)
        if group["beta1"] is not None and "exp_avg" not in state:
            state["exp_avg"] = p.new_zeros(p.shape, dtype=dtype)
        rms = state.get("RMS")
        if not isinstance(rms, torch.Tensor):
            state["RMS"] = p.new_zeros((), dtype=dtype)
        elif rms.dtype != dtype or rms.device != p.device:  # e.g. the model moved
            _convert_state(state, state, dtype, p.device)
        return state


def _convert_state(state: dict, source: dict, dtype: torch.dtype, device: torch.device) -> None:
    """Set the floating-point entries of ``state`` to those of ``source``, contiguous, in
    ``dtype`` on ``device`` (states are converted as a whole, so ``RMS`` tells if one is due).
    """
    for key in _FLOAT_STATE:
        value = source.get(key)
        if isinstance(value, torch.Tensor):
            state[key] = value.to(dtype=dtype, device=device).contiguous()


def adafactor_loop(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    states: list[dict[str, Any]],
    group: dict[str, Any],
) -> None:
    """The reference loop: transformers' Adafactor update, one parameter at a time."""
    eps0, eps1 = group["eps"]
    beta1 = group["beta1"]
    for p, grad, state in zip(params, grads, states, strict=True):
        dtype = working_dtype(p.dtype)
        g = grad.to(dtype)
        work = p.to(dtype) if p.dtype != dtype else p
        state["step"] += 1
        step = state["step"]
        state["RMS"] = _rms(work)
        lr = relative_step(group, step)
        if group["scale_parameter"]:
            lr = state["RMS"].clamp(min=eps1) * lr
        beta2t = 1.0 - math.pow(step, group["decay_rate"])
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
        update.div_((_rms(update) / group["clip_threshold"]).clamp(min=1.0))
        update.mul_(lr)
        if beta1 is not None:
            update = state["exp_avg"].mul_(beta1).add_(update, alpha=1.0 - beta1)
        if group["weight_decay"] != 0:
            work.sub_(work * (group["weight_decay"] * lr))
        work.sub_(update)
        if work is not p:
            p.copy_(work)


def _rms(x: torch.Tensor) -> torch.Tensor:
    """√mean(x²), summed accurately (``x.norm()`` accumulates float32 in a way that is off by
    ~1e-3 relative for tensors of tens of millions of elements; transformers uses it)."""
    return x.square().mean().sqrt()


def _pick(lists: tuple[list, ...], flags: list[bool], wanted: bool) -> list[list]:
    """The entries of each list whose flag is ``wanted``."""
    return [[x for x, f in zip(xs, flags, strict=True) if f == wanted] for xs in lists]


def _check_group(group: dict[str, Any]) -> None:
    """Check one param group's (or the defaults') hyper-parameters; ValueError naming them."""
    lr, relative = group["lr"], group["relative_step"]
    if lr is not None and relative:
        raise ValueError(
            f"Cannot combine manual `lr` and `relative_step=True` options (got lr={lr!r})"
        )
    if group["warmup_init"] and not relative:
        raise ValueError("`warmup_init=True` requires `relative_step=True`")
    if lr is None and not relative:
        raise ValueError("Invalid lr: None - `relative_step=False` needs a manual `lr`")
    if lr is not None:
        _check("lr", lr)
    eps = group["eps"]
    if not isinstance(eps, (tuple, list)) or len(eps) != 2:
        raise ValueError(f"Invalid eps: {eps!r} - should be a pair (eps[0], eps[1])")
    _check("eps[0]", eps[0], positive=True)
    _check("eps[1]", eps[1])
    # An infinite clip_threshold is meaningful: no clipping.
    _check("clip_threshold", group["clip_threshold"], positive=True, finite=False)
    _check("decay_rate", group["decay_rate"], -math.inf, 0.0, high_open=False)
    if group["beta1"] is not None:
        _check("beta1", group["beta1"], 0.0, 1.0)
    _check("weight_decay", group["weight_decay"])
    check_switches(group.get("foreach"), group.get("fused"))


def _check(
    name: str,
    value: Any,
    low: float = 0.0,
    high: float | None = None,
    *,
    high_open: bool = True,
    positive: bool = False,
    finite: bool = True,
) -> None:
    """``check_range``, and > 0 when ``positive``."""
    number = check_range(name, value, low, high, high_open=high_open, finite=finite)
    if positive and number <= 0.0:
        raise ValueError(f"Invalid {name}: {value!r} - should be > 0")
