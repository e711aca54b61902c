"""``Adafactor``: transformers' Adafactor as a torch optimizer, dispatching to the fast path."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from .._validation import check_int
from ._adafactor import AdafactorHyperParams, AdafactorTensors, adafactor_loop, relative_step_size
from ._adafactor_blocks import CPU_BLOCK_NUMEL, Workspace
from ._adafactor_checks import ADAFACTOR_STATE, check_options
from ._adafactor_fast import adafactor_fast
from ._lowp import check_precision_params, compensation
from ._optimizer_base import (
    ClosureOptimizer,
    check_dense,
    is_plain,
    resolve_path,
    working_dtype,
)
from ._state_validation import check_shapes

__all__ = ["Adafactor"]

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
    dicts load both ways (``load_state_dict`` checks them first and applies them all or
    nothing). The computed lr is never written into ``group["lr"]``;
    ``AdafactorSchedule`` reports it from the state. float16/bfloat16 parameters are
    computed in float32 with float32 state (kept in float32 by ``load_state_dict``) and
    written back by default with Kahan summation (state ``kahan_comp`` in the parameter's
    dtype: no update is lost to rounding), with ``kahan_sum=False`` rounded to nearest as
    transformers does, with ``stochastic_round`` rounded stochastically. RMS(p)
    and RMS(U) are summed accurately: transformers' float32 ``norm()`` is off by ~1e-4 to
    1e-3 relative on tensors of millions to tens of millions of elements.

    The default path (``fused``) processes factored parameters in cache-sized blocks on the
    CPU, whole on other devices; ``foreach=True`` takes whole tensors everywhere;
    ``foreach=False`` runs the reference loop. Sparse gradients raise RuntimeError;
    ``torch.amp.GradScaler`` works as with any optimizer (steps with inf/NaN gradients are
    skipped); inside ``torch.compile`` the step runs eagerly (a graph break).

    Args:
        params: parameters or dicts defining parameter groups (floating-point).
        lr: external learning rate, in [0, 3.4e38] (finite in float32); needs
            ``relative_step=False`` (and is then required).
        eps: (eps[0] added to g², in [1.18e-38, 3.1e26]: at least float32's smallest normal,
            which transformers does not ask, so that g² + eps[0] never vanishes; eps[1] the
            least parameter scale, in [0, 3.4e38]).
        clip_threshold: threshold of the update's RMS, >= 1.18e-38 (inf: no clipping).
        decay_rate: exponent of the second-moment decay, <= 0.
        beta1: first-moment coefficient in [0, 1), or None for no first moment.
        weight_decay: decoupled weight decay, >= 0, with weight_decay·ρ·eps[1] <= 2
            (weight_decay·ρ without ``scale_parameter``; ρ is ``lr``, or 1e-2 with
            ``relative_step``): more would make every parameter grow without bound.
        scale_parameter: whether to scale the lr by RMS(p).
        relative_step: whether to use the time-dependent ρ instead of ``lr``.
        warmup_init: whether ρ warms up (needs ``relative_step``).
        foreach: True for the whole-tensor path, False for the reference loop, None to choose.
        fused: True for the blocked path (whole tensors off the CPU), None to choose.
        block_numel: elements per block of a factored parameter on the blocked CPU path
            (>= 1; the default keeps a block's squared gradient in the CPU's cache).
        kahan_sum: Kahan-compensated updates of bfloat16/float16 parameters; None (default):
            on for them unless ``stochastic_round``.
        stochastic_round: round bfloat16/float16 parameters stochastically (unbiased).
        seed: the seed of the stochastic rounding (an int, or a ``torch.Generator`` to draw it
            from; None: drawn from torch's default generator). Kept in the state dict, so a
            resumed run continues with the same random bits.

    Raises:
        TypeError: for an argument of the wrong type (naming it and its value).
        ValueError: for ``lr`` with ``relative_step``, ``warmup_init`` without it, no ``lr``
            without it, any other invalid hyper-parameter (naming it and its value), both
            switches True, ``kahan_sum`` and ``stochastic_round`` both True, or either True
            with float32/float64 parameters.

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
        block_numel: int = CPU_BLOCK_NUMEL,
        kahan_sum: bool | None = None,
        stochastic_round: bool = False,
        seed: int | torch.Generator | None = None,
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
            "kahan_sum": kahan_sum,
            "stochastic_round": stochastic_round,
            "seed": seed,
        }
        defaults.update(check_options(defaults))
        self._block_numel = check_int("block_numel", block_numel, low=1)
        self._workspace = Workspace()
        super().__init__(params, defaults)

    _state_description = ADAFACTOR_STATE

    def _check_group(self, group: dict[str, Any]) -> dict[str, Any]:
        options = check_options(group)
        check_precision_params(group["params"], options["kahan_sum"], options["stochastic_round"])
        return options

    def __getstate__(self) -> dict[str, Any]:
        return {**super().__getstate__(), "_block_numel": self._block_numel}

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self.__dict__.setdefault("_block_numel", CPU_BLOCK_NUMEL)  # pickled before it existed
        self._workspace = Workspace()

    @staticmethod
    def _get_lr(param_group: dict[str, Any], param_state: dict[str, Any]) -> float:
        """The effective lr of the last step of a parameter with this state, as a float."""
        rho = relative_step_size(
            param_state["step"],
            param_group["lr"],
            param_group["relative_step"],
            param_group["warmup_init"],
        )
        if param_group["scale_parameter"]:
            return rho * max(param_group["eps"][1], float(param_state["RMS"]))
        return rho

    @torch.compiler.disable
    def _update(self) -> None:
        position = 0  # of each parameter in the optimizer: its stochastic rounding stream
        for group in self.param_groups:
            chosen = AdafactorTensors([], [], [], [])
            hyper = AdafactorHyperParams.from_group(group)
            for index, p in enumerate(group["params"], start=position):
                if p.grad is None:
                    continue
                check_dense(p.grad, "Adafactor")
                state = self._state_for(p, group)
                compensation(state, p, hyper.rounding(p.dtype))
                chosen.append(p, p.grad, state, index)
            position += len(group["params"])
            if not chosen.params:
                continue
            path = resolve_path(group.get("foreach"), group.get("fused"))
            # Tensor subclasses (e.g. DTensor) and empty tensors take the reference loop.
            slow = [path == "loop" or not is_plain(p) or p.numel() == 0 for p in chosen.params]
            if any(slow):
                adafactor_loop(chosen.pick([i for i, s in enumerate(slow) if s]), hyper)
            if not all(slow):
                block_numel = self._block_numel if path == "fused" else None
                fast = chosen.pick([i for i, s in enumerate(slow) if not s])
                adafactor_fast(fast, hyper, self._workspace, block_numel, path == "fused")

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
        check_shapes(ADAFACTOR_STATE, p, state)
        return state


def _convert_state(
    state: dict[str, Any], source: dict[str, Any], dtype: torch.dtype, device: torch.device
) -> None:
    """Set the floating-point entries of ``state`` to those of ``source``, contiguous, in
    ``dtype`` on ``device`` (states are converted as a whole, so ``RMS`` tells if one is due).
    """
    for key in _FLOAT_STATE:
        value = source.get(key)
        if isinstance(value, torch.Tensor):
            state[key] = value.to(dtype=dtype, device=device).contiguous()
