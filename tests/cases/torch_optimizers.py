"""The torch optimizers' contract table: one ``OptimizerInfo`` per optimizer.

Each row says what the generic contract (``tests/torch/test_optimizer_contract*.py``, with its
helpers in ``cases.torch_contract``, and the distributed tests) needs to know about one
optimizer: its class and reference (transformers 4.46.3's class of the same name), the
configurations worth covering, its paths (the switches that select them), its error inputs,
its state and the shapes to train. A new optimizer, or a new option of one, is a row or an
entry here; what is specific to one optimizer stays in its own test file. The low-precision
options (``kahan_sum``, ``stochastic_round``) are the entries of ``PRECISION_OPTIONS``, run by
``test_optimizer_contract_low_precision.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch

from stepsize.torch import Adafactor, AdamW

__all__ = [
    "ADAFACTOR",
    "ADAFACTOR_CONFIGS",
    "ADAFACTOR_SHAPES",
    "ADAMW",
    "ADAMW_CONFIGS",
    "OPTIMIZERS",
    "PRECISION_OPTIONS",
    "ErrorInput",
    "OptimizerInfo",
]


class ErrorInput(NamedTuple):
    """Constructor keyword arguments the optimizer must reject, how, and the argument named.

    Rows whose ``kwargs`` are param group options (``in_groups``) must also be rejected by
    ``add_param_group`` and, in a saved group, by ``load_state_dict``.
    """

    kwargs: dict[str, Any]
    error: type[Exception]
    argument: str  # the message must contain it
    in_groups: bool = True  # False for constructor-only arguments


@dataclass(frozen=True)
class OptimizerInfo:
    """One optimizer's description for the generic contract tests."""

    name: str
    cls: type[torch.optim.Optimizer]
    reference_cls: str  # the class of transformers.optimization that it must equal
    reference_options: dict[str, Any]  # constructor options only the reference takes
    configs: dict[str, dict[str, Any]]  # name -> hyper-parameters, every option covered
    second_group: Callable[[dict[str, Any]], dict[str, Any]]  # a 2nd group's overrides
    paths: dict[str, dict[str, Any]]  # name -> the switches that select the implementation
    error_inputs: list[ErrorInput]
    state_keys: tuple[str, ...]  # tensor state shared with the reference (those present)
    shapes: tuple[tuple[int, ...], ...]  # parameter shapes of the training runs
    low_precision_configs: tuple[str, ...]  # configs of the bfloat16/float16 comparisons
    resume_configs: tuple[str, ...]  # configs of the checkpoint tests
    example: dict[str, Any]  # hyper-parameters of the single-configuration tests
    state_dtype: Callable[[torch.dtype], torch.dtype]  # a parameter dtype -> its state's
    grad_scaler_dtypes: tuple[torch.dtype, ...]  # dtypes GradScaler steps it in
    distributed: dict[str, dict[str, Any]]  # name suffix -> hyper-parameters (DDP/FSDP2)
    # name suffix -> hyper-parameters of the distributed runs of a bfloat16 model
    distributed_bfloat16: dict[str, dict[str, Any]] = field(default_factory=dict)
    # name -> options of how bfloat16/float16 results are written back
    precision_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    test_options: dict[str, Any] = field(default_factory=dict)  # passed to every cls(...)
    low_precision_slack: float = 0.0  # see closeness.assert_no_further

    def __str__(self) -> str:  # the pytest id
        return self.name

    def make(self, params: Any, path: str = "auto", **hyper: Any) -> torch.optim.Optimizer:
        """Our optimizer on ``path`` with ``hyper`` (which may override ``test_options``)."""
        return self.cls(params, **{**self.test_options, **self.paths[path], **hyper})

    def make_reference(self, params: Any, **hyper: Any) -> torch.optim.Optimizer:
        """transformers' optimizer with ``hyper``."""
        import transformers.optimization

        cls = getattr(transformers.optimization, self.reference_cls)
        return cls(params, **hyper, **self.reference_options)

    def groups(self, params: list[torch.Tensor], config: dict[str, Any]) -> list[dict]:
        """Two param groups: even-indexed parameters with ``config``, the others overriding."""
        return [{"params": params[0::2]}, {"params": params[1::2], **self.second_group(config)}]


# The implementations a user can ask for, by name -> the switches that select them.
PATHS: dict[str, dict[str, Any]] = {
    "auto": {},
    "loop": {"foreach": False},
    "foreach": {"foreach": True},
    "fused": {"fused": True},
}

# Errors every optimizer shares: its switches and its low-precision options (the error inputs
# run on float32 parameters, where kahan_sum and stochastic_round cannot be True).
_SHARED_ERRORS = [
    ErrorInput({"foreach": True, "fused": True}, ValueError, "foreach and fused"),
    ErrorInput({"foreach": "yes"}, TypeError, "foreach"),
    ErrorInput({"fused": 1}, TypeError, "fused"),
    ErrorInput({"kahan_sum": True}, ValueError, "kahan_sum"),
    ErrorInput({"stochastic_round": True}, ValueError, "stochastic_round"),
    ErrorInput(
        {"kahan_sum": True, "stochastic_round": True},
        ValueError,
        "kahan_sum and stochastic_round",
    ),
    ErrorInput({"kahan_sum": "yes"}, TypeError, "kahan_sum"),
    ErrorInput({"stochastic_round": None}, TypeError, "stochastic_round"),
    ErrorInput({"seed": "0"}, TypeError, "seed"),
    ErrorInput({"seed": 1.5}, TypeError, "seed"),
    ErrorInput({"seed": -1}, ValueError, "seed"),
]

# How a bfloat16/float16 parameter's float32 result is written back: transformers' rounding to
# nearest, Kahan summation (the default), stochastic rounding (seeded).
PRECISION_OPTIONS: dict[str, dict[str, Any]] = {
    "nearest": {"kahan_sum": False},
    "kahan": {"kahan_sum": True},
    "stochastic": {"stochastic_round": True, "seed": 1234},
}

# ---- AdamW ----------------------------------------------------------------------------------

# Every combination of the options, lr <= 1e-2 (the README's "How equal is measured").
ADAMW_CONFIGS: dict[str, dict[str, Any]] = {
    f"bias{int(correct_bias)}-wd{weight_decay}-{betas_name}": {
        "lr": 1e-2,
        "betas": betas,
        "eps": eps,
        "weight_decay": weight_decay,
        "correct_bias": correct_bias,
    }
    for correct_bias in (True, False)
    for weight_decay in (0.0, 0.1)
    for betas_name, betas, eps in (
        ("default", (0.9, 0.999), 1e-6),
        ("low", (0.5, 0.9), 1e-8),
        ("zero", (0.0, 0.0), 1e-3),
    )
}


def _adamw_second_group(config: dict[str, Any]) -> dict[str, Any]:
    """Hyper-parameters of a second param group that differ from ``config`` in every option."""
    return {
        "lr": config["lr"] / 2,
        "betas": (0.8, 0.99),
        "weight_decay": 0.05 if config["weight_decay"] == 0.0 else 0.0,
        "correct_bias": not config["correct_bias"],
    }


ADAMW = OptimizerInfo(
    name="AdamW",
    cls=AdamW,
    reference_cls="AdamW",
    reference_options={"no_deprecation_warning": True},
    configs=ADAMW_CONFIGS,
    second_group=_adamw_second_group,
    paths=PATHS,
    error_inputs=[
        ErrorInput({"lr": -1e-3}, ValueError, "lr"),
        ErrorInput({"lr": float("nan")}, ValueError, "lr"),
        ErrorInput({"lr": float("inf")}, ValueError, "lr"),
        ErrorInput({"lr": 1e39}, ValueError, "lr"),  # inf in float32: inf·0 = NaN
        ErrorInput({"lr": 10**400}, ValueError, "lr"),
        ErrorInput({"lr": "1e-3"}, TypeError, "lr"),
        ErrorInput({"lr": None}, TypeError, "lr"),
        ErrorInput({"lr": True}, TypeError, "lr"),
        ErrorInput({"betas": (1.0, 0.999)}, ValueError, "betas[0]"),
        ErrorInput({"betas": (-0.1, 0.999)}, ValueError, "betas[0]"),
        ErrorInput({"betas": (10**400, 0.999)}, ValueError, "betas[0]"),
        ErrorInput({"betas": (0.9, 1.0)}, ValueError, "betas[1]"),
        ErrorInput({"betas": (0.9, 1.5)}, ValueError, "betas[1]"),
        ErrorInput({"betas": (0.9, float("nan"))}, ValueError, "betas[1]"),
        ErrorInput({"betas": (0.9, "x")}, TypeError, "betas[1]"),
        ErrorInput({"betas": (0.9, False)}, TypeError, "betas[1]"),
        ErrorInput({"betas": (0.9,)}, ValueError, "betas"),
        ErrorInput({"betas": 0.9}, TypeError, "betas"),
        ErrorInput({"eps": -1e-8}, ValueError, "eps"),
        ErrorInput({"eps": -1}, ValueError, "eps"),
        # transformers accepts these: a zero gradient then gives 0/0 = NaN
        ErrorInput({"eps": 0.0}, ValueError, "eps"),
        ErrorInput({"eps": 1e-45}, ValueError, "eps"),  # subnormal in float32
        ErrorInput({"eps": 10**400}, ValueError, "eps"),
        ErrorInput({"weight_decay": -0.01}, ValueError, "weight_decay"),
        ErrorInput({"weight_decay": -1}, ValueError, "weight_decay"),
        ErrorInput({"weight_decay": float("nan")}, ValueError, "weight_decay"),
        ErrorInput({"weight_decay": True}, TypeError, "weight_decay"),
        # 1 − lr·weight_decay < −1: the parameters grow by that factor every step
        ErrorInput({"lr": 1.0, "weight_decay": 2.5}, ValueError, "weight_decay"),
        ErrorInput({"correct_bias": None}, TypeError, "correct_bias"),
        ErrorInput({"correct_bias": 1}, TypeError, "correct_bias"),
        ErrorInput({"correct_bias": "no"}, TypeError, "correct_bias"),
        ErrorInput({"no_deprecation_warning": "yes"}, TypeError, "no_deprecation_warning", False),
        *_SHARED_ERRORS,
    ],
    state_keys=("exp_avg", "exp_avg_sq"),
    shapes=((7,), (5, 4), (3, 4, 5), (2, 3, 2, 3)),  # 1-D to 4-D
    low_precision_configs=("bias1-wd0.0-default", "bias1-wd0.1-default", "bias0-wd0.1-low"),
    resume_configs=("bias1-wd0.1-default",),
    example={"lr": 1e-2, "weight_decay": 0.01},
    state_dtype=lambda dtype: dtype,  # the moments in the parameter's dtype
    grad_scaler_dtypes=(torch.float32, torch.float16),  # unscaled inside its step
    distributed={"": {"lr": 1e-2, "betas": (0.9, 0.999), "eps": 1e-6, "weight_decay": 0.01}},
    distributed_bfloat16={
        "_kahan": {"lr": 1e-2, "weight_decay": 0.01},
        "_stochastic": {"lr": 1e-2, "weight_decay": 0.01, "stochastic_round": True, "seed": 5},
    },
    precision_options=PRECISION_OPTIONS,
)

# ---- Adafactor ------------------------------------------------------------------------------

# Every combination of the options: how the lr is set (relative step, with warmup, or a manual
# lr <= 1e-2), scale_parameter, beta1, clip_threshold with decay_rate, and weight_decay; plus
# non-default eps.
_ADAFACTOR_LR_MODES: dict[str, dict[str, Any]] = {
    "relative": {"lr": None, "relative_step": True, "warmup_init": False},
    "warmup": {"lr": None, "relative_step": True, "warmup_init": True},
    "manual": {"lr": 1e-2, "relative_step": False, "warmup_init": False},
}
ADAFACTOR_CONFIGS: dict[str, dict[str, Any]] = {
    f"{mode}-scale{int(scale)}-beta1{beta1}-clip{clip}-wd{weight_decay}": {
        **lr_mode,
        "scale_parameter": scale,
        "beta1": beta1,
        "clip_threshold": clip,
        "decay_rate": decay_rate,
        "weight_decay": weight_decay,
    }
    for mode, lr_mode in _ADAFACTOR_LR_MODES.items()
    for scale in (True, False)
    for beta1 in (None, 0.9)
    for clip, decay_rate in ((1.0, -0.8), (0.5, -0.5))
    for weight_decay in (0.0, 0.1)
}
ADAFACTOR_CONFIGS["eps"] = {"eps": (1e-20, 1e-2), "clip_threshold": 2.0}

# Parameter shapes of the Adafactor tests: 0-d and 1-D (unfactored), 2-D, and 3-D/4-D
# (factored over the last two dims, the leading ones batched).
ADAFACTOR_SHAPES: tuple[tuple[int, ...], ...] = ((), (6,), (5, 7), (3, 4, 6), (2, 3, 5, 4))


def _adafactor_second_group(config: dict[str, Any]) -> dict[str, Any]:
    """Hyper-parameters of a second param group that differ from ``config`` where they may."""
    return {
        "beta1": 0.5 if config.get("beta1") is None else None,
        "weight_decay": 0.05 if config.get("weight_decay", 0.0) == 0.0 else 0.0,
        "scale_parameter": not config.get("scale_parameter", True),
        "clip_threshold": 0.7,
    }


ADAFACTOR = OptimizerInfo(
    name="Adafactor",
    cls=Adafactor,
    reference_cls="Adafactor",
    reference_options={},
    configs=ADAFACTOR_CONFIGS,
    second_group=_adafactor_second_group,
    paths=PATHS,
    error_inputs=[
        # transformers' own messages, which its users know
        ErrorInput({"lr": 1e-3}, ValueError, "Cannot combine manual `lr` and `relative_step"),
        ErrorInput(
            {"lr": 1e-3, "relative_step": False, "warmup_init": True},
            ValueError,
            "`warmup_init=True` requires `relative_step=True`",
        ),
        ErrorInput({"relative_step": False}, ValueError, "lr"),
        ErrorInput({"lr": -1e-3, "relative_step": False}, ValueError, "lr"),
        ErrorInput({"lr": float("nan"), "relative_step": False}, ValueError, "lr"),
        ErrorInput({"lr": float("inf"), "relative_step": False}, ValueError, "lr"),
        ErrorInput({"lr": "1e-3", "relative_step": False}, TypeError, "lr"),
        ErrorInput({"lr": True, "relative_step": False}, TypeError, "lr"),
        ErrorInput({"lr": 1e39, "relative_step": False}, ValueError, "lr"),
        ErrorInput({"eps": 1e-30}, TypeError, "eps"),
        ErrorInput({"eps": (1e-30,)}, ValueError, "eps"),
        ErrorInput({"eps": (0.0, 1e-3)}, ValueError, "eps[0]"),
        ErrorInput({"eps": (-1e-30, 1e-3)}, ValueError, "eps[0]"),
        ErrorInput({"eps": (-1, 1e-3)}, ValueError, "eps[0]"),
        # transformers accepts it: g² + eps[0] vanishes in float32, then 0/0 = NaN
        ErrorInput({"eps": (1e-44, 1e-3)}, ValueError, "eps[0]"),
        ErrorInput({"eps": (10**400, 1e-3)}, ValueError, "eps[0]"),
        ErrorInput({"eps": (True, 1e-3)}, TypeError, "eps[0]"),
        ErrorInput({"eps": (1e-30, -1e-3)}, ValueError, "eps[1]"),
        ErrorInput({"eps": (1e-30, 1e39)}, ValueError, "eps[1]"),
        ErrorInput({"eps": (1e-30, "x")}, TypeError, "eps[1]"),
        ErrorInput({"clip_threshold": 0.0}, ValueError, "clip_threshold"),
        ErrorInput({"clip_threshold": -1.0}, ValueError, "clip_threshold"),
        ErrorInput({"clip_threshold": 1e-40}, ValueError, "clip_threshold"),  # 0 in float32
        ErrorInput({"clip_threshold": float("nan")}, ValueError, "clip_threshold"),
        ErrorInput({"clip_threshold": False}, TypeError, "clip_threshold"),
        ErrorInput({"decay_rate": 0.5}, ValueError, "decay_rate"),
        ErrorInput({"decay_rate": float("-inf")}, ValueError, "decay_rate"),
        ErrorInput({"decay_rate": float("nan")}, ValueError, "decay_rate"),
        ErrorInput({"decay_rate": -(10**400)}, ValueError, "decay_rate"),
        ErrorInput({"beta1": 1.0}, ValueError, "beta1"),
        ErrorInput({"beta1": -0.1}, ValueError, "beta1"),
        ErrorInput({"beta1": "0.9"}, TypeError, "beta1"),
        ErrorInput({"beta1": True}, TypeError, "beta1"),
        ErrorInput({"weight_decay": -0.01}, ValueError, "weight_decay"),
        ErrorInput({"weight_decay": -1}, ValueError, "weight_decay"),
        ErrorInput({"weight_decay": float("inf")}, ValueError, "weight_decay"),
        ErrorInput({"weight_decay": 1e39}, ValueError, "weight_decay"),
        ErrorInput({"scale_parameter": None}, TypeError, "scale_parameter"),
        ErrorInput({"relative_step": "no"}, TypeError, "relative_step"),
        ErrorInput({"warmup_init": 0}, TypeError, "warmup_init"),
        ErrorInput({"block_numel": 0}, ValueError, "block_numel", False),
        ErrorInput({"block_numel": 10**400}, ValueError, "block_numel", False),
        ErrorInput({"block_numel": 1.5}, TypeError, "block_numel", False),
        ErrorInput({"block_numel": True}, TypeError, "block_numel", False),
        *_SHARED_ERRORS,
    ],
    state_keys=("exp_avg", "exp_avg_sq", "exp_avg_sq_row", "exp_avg_sq_col", "RMS"),
    shapes=ADAFACTOR_SHAPES,
    low_precision_configs=(
        "relative-scale1-beta1None-clip1.0-wd0.0",
        "manual-scale1-beta10.9-clip0.5-wd0.1",
    ),
    resume_configs=(
        "relative-scale1-beta10.9-clip1.0-wd0.1",  # the lr reported by AdafactorSchedule
        "manual-scale1-beta10.9-clip1.0-wd0.1",  # the lr set by a schedule
    ),
    example={"weight_decay": 0.01},
    # float16/bfloat16 parameters keep float32 state, as transformers'
    state_dtype=lambda dtype: torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype,
    # GradScaler unscales the gradients itself, which it refuses for float16 gradients
    grad_scaler_dtypes=(torch.float32,),
    distributed={
        "": {},  # relative step, scaled by RMS(p)
        "_beta1": {
            "lr": 1e-2,
            "relative_step": False,
            "scale_parameter": False,
            "beta1": 0.9,
            "weight_decay": 0.01,
        },
    },
    distributed_bfloat16={
        "_kahan": {"lr": 1e-2, "relative_step": False, "weight_decay": 0.01},
        "_stochastic": {"stochastic_round": True, "seed": 5},
    },
    precision_options=PRECISION_OPTIONS,
    # Blocks of 24 elements on the blocked path: the (5, 7) parameter splits into rows
    # 3 + 3 + 1, the 3-D and 4-D ones into whole matrices.
    test_options={"block_numel": 24},
    # Like transformers, it computes in float32 and rounds once per step: the two runs differ
    # only by float32 rounding, so their distances from the float32 run agree to ~1e-5, either
    # way (measured: at most 1.1e-5 over the low-precision configs, paths and dtypes).
    low_precision_slack=1e-4,
)

OPTIMIZERS: tuple[OptimizerInfo, ...] = (ADAMW, ADAFACTOR)
