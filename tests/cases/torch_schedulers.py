"""Cases shared by the torch scheduler tests (the schedule grids live in cases.schedules).

* ``FUNCTIONS``: schedule name -> the transformers function that builds its torch scheduler,
  with the same name in ``stepsize.torch``.
* ``NOT_IN_4_46`` / ``NEWER_THAN_4_46``: our ``get_*`` functions transformers 4.46.3 lacks, or
  has with an older signature; ``SAME_SIGNATURE_AS_4_46``: the schedule functions it has with
  our signature.
* ``VALID_CALLS``: valid arguments after the optimizer for each schedule function.
* ``FUNCTION_ERRORS``: bad arguments of the schedule functions, with the argument named.
* ``DEFAULT_LR_ERRORS``: optimizers whose default lr the polynomial and min_lr functions cannot
  use (zero, NaN, negative, a tensor of two, missing), with the argument named.
* ``PLATEAU_ERRORS``: bad ``get_reduce_on_plateau_schedule`` keyword arguments.
* ``DISPATCH_CASES`` / ``DISPATCH_ERRORS``: ``get_scheduler`` calls compared with 4.46.3.
* ``make_optimizer``: an SGD optimizer with one parameter group per lr.
"""

from __future__ import annotations

from typing import Any

FUNCTIONS = {
    "constant": "get_constant_schedule",
    "constant_with_warmup": "get_constant_schedule_with_warmup",
    "linear": "get_linear_schedule_with_warmup",
    "cosine": "get_cosine_schedule_with_warmup",
    "cosine_with_restarts": "get_cosine_with_hard_restarts_schedule_with_warmup",
    "polynomial": "get_polynomial_decay_schedule_with_warmup",
    "inverse_sqrt": "get_inverse_sqrt_schedule",
    "cosine_with_min_lr": "get_cosine_with_min_lr_schedule_with_warmup",
    "cosine_warmup_with_min_lr": "get_cosine_with_min_lr_schedule_with_warmup_lr_rate",
    "warmup_stable_decay": "get_wsd_schedule",
}

# Later transformers releases added the lr_rate function and GreedyLR's, and gave
# get_wsd_schedule num_training_steps (stepsize follows the later signature).
NOT_IN_4_46 = ("get_cosine_with_min_lr_schedule_with_warmup_lr_rate", "get_greedy_schedule")
NEWER_THAN_4_46 = ("get_wsd_schedule",)
SAME_SIGNATURE_AS_4_46 = sorted(set(FUNCTIONS.values()) - {*NOT_IN_4_46, *NEWER_THAN_4_46})

_W_T = {"num_warmup_steps": 2, "num_training_steps": 10}

VALID_CALLS: dict[str, dict[str, Any]] = {
    "get_constant_schedule": {},
    "get_constant_schedule_with_warmup": {"num_warmup_steps": 2},
    "get_linear_schedule_with_warmup": _W_T,
    "get_cosine_schedule_with_warmup": {**_W_T, "num_cycles": 0.75},
    "get_cosine_with_hard_restarts_schedule_with_warmup": {**_W_T, "num_cycles": 2},
    "get_polynomial_decay_schedule_with_warmup": {**_W_T, "lr_end": 0.5, "power": 2.0},
    "get_inverse_sqrt_schedule": {"num_warmup_steps": 2, "timescale": 3},
    "get_cosine_with_min_lr_schedule_with_warmup": {**_W_T, "min_lr": 1.0},
    "get_cosine_with_min_lr_schedule_with_warmup_lr_rate": {**_W_T, "min_lr_rate": 0.1},
    "get_wsd_schedule": {"num_warmup_steps": 2, "num_decay_steps": 3, "num_training_steps": 10},
}

# (function, kwargs after the optimizer, exception, the argument the message names); the
# optimizer's lr is 10. Wrong types raise TypeError, bad values ValueError, wherever checked.
FUNCTION_ERRORS: list[tuple[str, dict, type, str]] = [
    ("get_constant_schedule", {"last_epoch": 1.5}, TypeError, "last_epoch"),
    ("get_constant_schedule", {"last_epoch": -2}, ValueError, "last_epoch"),
    ("get_constant_schedule_with_warmup", {"num_warmup_steps": "4"}, TypeError,
     "num_warmup_steps"),
    ("get_constant_schedule_with_warmup", {"num_warmup_steps": -4}, ValueError,
     "num_warmup_steps"),
    ("get_linear_schedule_with_warmup", {"num_warmup_steps": 2}, TypeError,
     "num_training_steps"),
    ("get_linear_schedule_with_warmup", {**_W_T, "num_cycles": 2}, TypeError, "num_cycles"),
    ("get_linear_schedule_with_warmup", {**_W_T, "num_training_steps": 10.0}, TypeError,
     "num_training_steps"),
    ("get_cosine_schedule_with_warmup", {**_W_T, "num_cycles": None}, TypeError, "num_cycles"),
    ("get_cosine_schedule_with_warmup", {**_W_T, "num_cycles": float("nan")}, ValueError,
     "num_cycles"),
    ("get_cosine_with_hard_restarts_schedule_with_warmup", {**_W_T, "num_cycles": 0},
     ValueError, "num_cycles"),
    ("get_polynomial_decay_schedule_with_warmup", {**_W_T, "lr_end": "0"}, TypeError, "lr_end"),
    ("get_polynomial_decay_schedule_with_warmup", {**_W_T, "lr_end": -1.0}, ValueError,
     "lr_end"),
    ("get_polynomial_decay_schedule_with_warmup", {**_W_T, "power": True}, TypeError, "power"),
    ("get_inverse_sqrt_schedule", {"num_warmup_steps": 2, "timescale": "7"}, TypeError,
     "timescale"),
    ("get_inverse_sqrt_schedule", {"num_warmup_steps": 2, "timescale": 0}, ValueError,
     "timescale"),
    ("get_cosine_with_min_lr_schedule_with_warmup", {**_W_T, "min_lr": "1"}, TypeError,
     "min_lr"),
    ("get_cosine_with_min_lr_schedule_with_warmup", {**_W_T, "min_lr": 20.0}, ValueError,
     "min_lr"),
    ("get_cosine_with_min_lr_schedule_with_warmup", {**_W_T, "min_lr": -1.0}, ValueError,
     "min_lr"),
    ("get_cosine_with_min_lr_schedule_with_warmup", {**_W_T, "min_lr_rate": 1.5}, ValueError,
     "min_lr_rate"),
    ("get_cosine_with_min_lr_schedule_with_warmup_lr_rate",
     {**_W_T, "min_lr_rate": 0.1, "warmup_lr_rate": "0.2"}, TypeError, "warmup_lr_rate"),
    ("get_cosine_with_min_lr_schedule_with_warmup_lr_rate",
     {**_W_T, "min_lr_rate": 0.1, "warmup_lr_rate": 2.0}, ValueError, "warmup_lr_rate"),
    ("get_wsd_schedule", {"num_warmup_steps": 2, "num_decay_steps": 2, "num_stable_steps": 2.5},
     TypeError, "num_stable_steps"),
    ("get_wsd_schedule", {"num_warmup_steps": 2, "num_decay_steps": 2, "num_stable_steps": 3,
                          "warmup_type": 1}, TypeError, "warmup_type"),
    ("get_wsd_schedule", {"num_warmup_steps": 2, "num_decay_steps": 2, "num_stable_steps": 3,
                          "decay_type": "exp"}, ValueError, "decay_type"),
    ("get_wsd_schedule", {"num_warmup_steps": 2, "num_decay_steps": 2, "num_stable_steps": 3,
                          "min_lr_ratio": 2}, ValueError, "min_lr_ratio"),
]  # fmt: skip

_POLYNOMIAL = "get_polynomial_decay_schedule_with_warmup"
_MIN_LR = "get_cosine_with_min_lr_schedule_with_warmup"
_DEFAULT_LR = "optimizer.defaults['lr']"

# (the optimizer's default lr, function, kwargs after the optimizer, exception, the argument the
# message names); MISSING: optimizer.defaults has no "lr". Every group's lr stays 10.
MISSING = object()
DEFAULT_LR_ERRORS: list[tuple[Any, str, dict, type, str]] = [
    (0.0, _MIN_LR, {**_W_T, "min_lr": 0.1}, ValueError, "min_lr"),  # ZeroDivisionError once
    (0.05, _MIN_LR, {**_W_T, "min_lr": 0.1}, ValueError, _DEFAULT_LR),
    (float("nan"), _MIN_LR, {**_W_T, "min_lr": 0.1}, ValueError, _DEFAULT_LR),
    (float("inf"), _MIN_LR, {**_W_T, "min_lr": 0.1}, ValueError, _DEFAULT_LR),
    (-1.0, _MIN_LR, {**_W_T, "min_lr": 0.1}, ValueError, _DEFAULT_LR),
    ("0.1", _MIN_LR, {**_W_T, "min_lr": 0.1}, TypeError, _DEFAULT_LR),
    (None, _MIN_LR, {**_W_T, "min_lr": 0.1}, TypeError, _DEFAULT_LR),
    (MISSING, _MIN_LR, {**_W_T, "min_lr": 0.1}, ValueError, _DEFAULT_LR),
    ("tensor2", _MIN_LR, {**_W_T, "min_lr": 0.1}, ValueError, _DEFAULT_LR),
    ("meta", _MIN_LR, {**_W_T, "min_lr": 0.1}, ValueError, _DEFAULT_LR),
    (0.0, _POLYNOMIAL, _W_T, ValueError, "lr_end"),  # transformers' message
    (float("nan"), _POLYNOMIAL, _W_T, ValueError, _DEFAULT_LR),
    (10**400, _POLYNOMIAL, _W_T, ValueError, _DEFAULT_LR),
    (True, _POLYNOMIAL, _W_T, TypeError, _DEFAULT_LR),
    ("tensor2", _POLYNOMIAL, _W_T, ValueError, _DEFAULT_LR),
    (MISSING, _POLYNOMIAL, _W_T, ValueError, _DEFAULT_LR),
]

# (get_reduce_on_plateau_schedule kwargs, exception, the argument named); two param groups
PLATEAU_ERRORS: list[tuple[dict, type, str]] = [
    ({"mode": "mn"}, ValueError, "mode"),
    ({"mode": None}, TypeError, "mode"),
    ({"factor": 1.0}, ValueError, "factor"),
    ({"factor": -0.5}, ValueError, "factor"),
    ({"factor": float("nan")}, ValueError, "factor"),
    ({"factor": "0.5"}, TypeError, "factor"),
    ({"patience": 2.5}, TypeError, "patience"),
    ({"patience": -1}, ValueError, "patience"),
    ({"threshold": float("nan")}, ValueError, "threshold"),
    ({"threshold_mode": "relative"}, ValueError, "threshold_mode"),
    ({"cooldown": -1}, ValueError, "cooldown"),
    ({"min_lr": -1e-3}, ValueError, "min_lr"),
    ({"min_lr": [0.0]}, ValueError, "min_lr"),
    ({"min_lr": [0.0, float("inf")]}, ValueError, "min_lr[1]"),
    ({"min_lr": "0"}, TypeError, "min_lr"),
    ({"eps": float("inf")}, ValueError, "eps"),
    ({"verbose": True}, TypeError, "verbose"),  # torch does not take it
]


def default_lr_optimizer(default: Any):
    """An SGD optimizer with group lr 10 whose ``defaults['lr']`` is ``default``."""
    import torch

    optimizer = make_optimizer(lrs=(10.0,))
    if default is MISSING:
        del optimizer.defaults["lr"]
    elif default == "tensor2":
        optimizer.defaults["lr"] = torch.tensor([0.1, 0.2])
    elif default == "meta":
        optimizer.defaults["lr"] = torch.tensor(0.1, device="meta")
    else:
        optimizer.defaults["lr"] = default
    return optimizer


# get_scheduler(name, ...) calls that transformers 4.46.3 dispatches the same way:
# (name, num_warmup_steps, num_training_steps, scheduler_specific_kwargs)
DISPATCH_CASES: list[tuple[str, int | None, int | None, dict | None]] = [
    ("constant", None, None, None),
    ("constant", 3, 10, {"ignored": True}),
    ("constant_with_warmup", 3, None, None),
    ("linear", 3, 10, None),
    ("cosine", 3, 10, {"num_cycles": 1.5}),
    ("cosine_with_restarts", 2, 10, {"num_cycles": 3}),
    ("polynomial", 2, 10, {"power": 2.0, "lr_end": 0.5}),
    ("inverse_sqrt", 4, None, None),
    ("cosine_with_min_lr", 2, 10, {"min_lr_rate": 0.2}),
    ("warmup_stable_decay", 2, None, {"num_stable_steps": 4, "num_decay_steps": 3}),
]

# get_scheduler calls that raise the same error in both: (name, W, T, kwargs, exception)
DISPATCH_ERRORS: list[tuple[str, int | None, int | None, dict | None, type]] = [
    ("constant_with_warmup", None, 10, None, ValueError),
    ("linear", None, 10, None, ValueError),
    ("linear", 2, None, None, ValueError),
    ("cosine", 2, None, None, ValueError),
    ("cosine_with_restarts", None, None, None, ValueError),
    ("polynomial", 2, None, None, ValueError),
    ("polynomial", 2, 10, {"lr_end": 20.0}, ValueError),
    ("inverse_sqrt", None, None, None, ValueError),
    ("cosine_with_min_lr", None, 10, None, ValueError),
    ("cosine_with_min_lr", 2, None, None, ValueError),
    ("cosine_with_min_lr", 2, 10, None, ValueError),
    ("cosine_with_min_lr", 2, 10, {"min_lr": 0.1, "min_lr_rate": 0.1}, ValueError),
    ("warmup_stable_decay", None, 10, {"num_decay_steps": 2}, ValueError),
    ("linear", 2, 10, {"num_cycles": 2}, TypeError),
    ("cosine", 2, 10, {"no_such_argument": 1}, TypeError),
]


def make_optimizer(lrs=(10.0, 2.0), default=None):
    """An SGD optimizer with one parameter group per lr; its default lr is the first one."""
    import torch

    groups = [{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in lrs]
    return torch.optim.SGD(groups, lr=lrs[0] if default is None else default)
