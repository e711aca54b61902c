"""What ``Adafactor`` accepts: its param group options and the state a parameter holds.

:func:`check_options` validates a group's options (constructor, ``add_param_group`` and
``load_state_dict`` alike); :data:`ADAFACTOR_STATE` describes a parameter's state for
``load_state_dict``. A new option is a check here; a new state tensor, an entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from .._validation import check_bool, check_optional, check_real, check_sequence
from ._lowp import KAHAN_ENTRY, KAHAN_KEY, check_precision_options
from ._optimizer_base import FLOAT32_MAX, FLOAT32_TINY, check_switches, working_dtype
from ._state_validation import StateDescription, StateEntry, param_shape

__all__ = ["ADAFACTOR_STATE", "MAX_EPS0", "check_options"]

# The largest eps[0]: sums of g² + eps[0] over a row or column of up to 2**40 elements stay
# finite in float32 (an inf there gives inf/inf = NaN).
MAX_EPS0 = FLOAT32_MAX * 2.0**-40
# The largest relative step size ρ (at the first steps; with warmup_init, at step 10**4).
_MAX_RELATIVE_STEP = 1e-2


def _factored(group: Mapping[str, Any], p: torch.Tensor) -> bool:
    return p.dim() >= 2


def _unfactored(group: Mapping[str, Any], p: torch.Tensor) -> bool:
    return p.dim() < 2


def _first_moment(group: Mapping[str, Any], p: torch.Tensor) -> bool:
    return group["beta1"] is not None


def _state_dtype(p: torch.Tensor) -> torch.dtype:
    return working_dtype(p.dtype)


# The least second moment loaded. A step keeps them >= eps[0] >= FLOAT32_TINY (up to a
# rounding) and takes their reciprocal, which stays finite in float32 above half of that.
_LEAST_MOMENT = FLOAT32_TINY / 2

# What load_state_dict accepts: transformers' entries and the Kahan compensation buffer.
ADAFACTOR_STATE = StateDescription(
    entries={
        "exp_avg": StateEntry(param_shape, _state_dtype, _first_moment),
        "exp_avg_sq": StateEntry(param_shape, _state_dtype, _unfactored, _LEAST_MOMENT),
        "exp_avg_sq_row": StateEntry(
            lambda p: p.shape[:-1], _state_dtype, _factored, _LEAST_MOMENT
        ),
        "exp_avg_sq_col": StateEntry(
            lambda p: p.shape[:-2] + p.shape[-1:], _state_dtype, _factored, _LEAST_MOMENT
        ),
        "RMS": StateEntry(lambda p: (), _state_dtype, low=0.0, in_place=False),
        KAHAN_KEY: KAHAN_ENTRY,
    },
    step=int,
)


def check_options(group: dict[str, Any]) -> dict[str, Any]:
    """A param group's (or the defaults') options, validated and normalized (floats).

    The lr/relative_step/warmup_init conflicts keep transformers' messages. Stricter than
    transformers where its values give NaN (the docs page "Differences from transformers"):
    ``eps[0]`` and ``clip_threshold`` >= float32's smallest normal (below, g² + eps[0] or the
    clip factor can vanish in float32: 0/0); ``eps[0]`` <= ``MAX_EPS0``; ``lr``, ``eps[1]``
    and ``weight_decay`` finite in float32; and a weight decay that cannot make every
    parameter grow: weight_decay·ρ·eps[1] <= 2 (weight_decay·ρ without ``scale_parameter``),
    ρ the largest step size, since the decay multiplies the parameters by
    1 − weight_decay·lr_eff every step and lr_eff >= ρ·eps[1].
    """
    lr = group["lr"]
    relative = check_bool("relative_step", group["relative_step"])
    warmup = check_bool("warmup_init", group["warmup_init"])
    if lr is not None and relative:
        raise ValueError(
            f"Cannot combine manual `lr` and `relative_step=True` options (got lr={lr!r})"
        )
    if warmup and not relative:
        raise ValueError("`warmup_init=True` requires `relative_step=True`")
    if lr is None and not relative:
        raise ValueError("lr must be a number when relative_step=False, got None")
    if lr is not None:
        lr = float(check_real("lr", lr, low=0.0, high=FLOAT32_MAX))
    eps0, eps1 = check_sequence("eps", group["eps"], length=2)
    eps = (
        float(check_real("eps[0]", eps0, low=FLOAT32_TINY, high=MAX_EPS0)),
        float(check_real("eps[1]", eps1, low=0.0, high=FLOAT32_MAX)),
    )
    scale = check_bool("scale_parameter", group["scale_parameter"])
    least_lr = (_MAX_RELATIVE_STEP if lr is None else lr) * (eps[1] if scale else 1.0)
    weight_decay = float(
        check_real("weight_decay", group["weight_decay"], low=0.0, high=FLOAT32_MAX)
    )
    if weight_decay * least_lr > 2.0:
        raise ValueError(
            f"weight_decay must be <= {2.0 / least_lr!r} here (the decay multiplies the "
            f"parameters by 1 − weight_decay·lr_eff, lr_eff >= {least_lr!r}: below −1 they "
            f"grow without bound), got {weight_decay!r}"
        )
    beta1 = check_optional(check_real, "beta1", group["beta1"], low=0.0, high=1.0, high_open=True)
    foreach, fused = check_switches(group["foreach"], group["fused"])
    return {
        **check_precision_options(group),
        "lr": lr,
        "eps": eps,
        # An infinite clip_threshold is meaningful: no clipping.
        "clip_threshold": float(
            check_real("clip_threshold", group["clip_threshold"], low=FLOAT32_TINY, allow_inf=True)
        ),
        "decay_rate": float(check_real("decay_rate", group["decay_rate"], high=0.0)),
        "beta1": None if beta1 is None else float(beta1),
        "weight_decay": weight_decay,
        "scale_parameter": scale,
        "relative_step": relative,
        "warmup_init": warmup,
        "foreach": foreach,
        "fused": fused,
    }
