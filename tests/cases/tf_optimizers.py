"""Configurations, variables and error inputs shared by every ``stepsize.tf`` test.

Plain data (no TensorFlow import), so the table loads anywhere:

* ``VARIABLES``: (path, shape) of the differential tests' variables; the paths match and miss
  the usual decay patterns ("LayerNorm", "layer_norm", "bias").
* ``ADAM_WEIGHT_DECAY``: ``AdamWeightDecay`` keyword arguments, given verbatim to ours and to
  transformers' (``schedule`` replaces the learning rate by ``WarmUp(PolynomialDecay)``).
* ``CREATE_OPTIMIZER``: ``create_optimizer`` keyword arguments for both.
* ``WARMUPS``: ``WarmUp`` parameters over a Keras ``PolynomialDecay``.
* ``DECAY_RULES``: which path is decayed under which patterns (transformers' rule).
* ``INVALID``: bad arguments per callable, with the message pattern naming the argument.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from stepsize import schedules

STEPS = 20  # optimizer steps of the differential tests
SEED = 0
GRADIENT_SCALE = 0.1
TOLERANCE = {"atol": 1e-6, "rtol": 1e-5}  # SPEC §5.1, float32
TOLERANCE_FLOAT64 = {"atol": 0.0, "rtol": 1e-10}
EXCLUDE = ["LayerNorm", "layer_norm", "bias"]

VARIABLES: list[tuple[str, tuple[int, ...]]] = [
    ("embeddings/word_embeddings/weight", (6, 4)),
    ("embeddings/LayerNorm/gamma", (4,)),
    ("embeddings/LayerNorm/beta", (4,)),
    ("encoder/layer_0/attention/query/kernel", (4, 4)),
    ("encoder/layer_0/attention/query/bias", (4,)),
    ("encoder/layer_0/output/layer_norm/gamma", (4,)),
    ("classifier/dense/kernel", (4, 3)),
    ("classifier/dense/bias", (3,)),
]

# WarmUp over PolynomialDecay, for the cases with a "schedule".
SCHEDULE = {
    "initial_learning_rate": 1e-2,
    "warmup_steps": 5,
    "warmup_power": 2.0,
    "decay_steps": 12,
    "end_learning_rate": 1e-3,
    "power": 1.0,
}


class Case(NamedTuple):
    id: str
    kwargs: dict[str, Any]
    schedule: dict[str, Any] | None = None

    def __str__(self) -> str:
        return self.id


_DECAY = {"learning_rate": 1e-2, "weight_decay_rate": 0.1, "exclude_from_weight_decay": EXCLUDE}

ADAM_WEIGHT_DECAY = [
    Case("defaults", {}),
    Case("decay", _DECAY),
    Case("decay-everything", {"learning_rate": 5e-3, "weight_decay_rate": 0.3}),
    Case("include-wins", {**_DECAY, "include_in_weight_decay": ["LayerNorm/gamma", "dense/bias"]}),
    Case("amsgrad", {**_DECAY, "amsgrad": True}),
    Case("clipnorm", {**_DECAY, "clipnorm": 0.05}),
    Case("global-clipnorm", {**_DECAY, "global_clipnorm": 0.1}),
    Case("clipvalue", {**_DECAY, "clipvalue": 0.02}),
    Case("betas-epsilon", {**_DECAY, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-3}),
    Case("warmup-schedule", {**_DECAY}, SCHEDULE),
    Case("warmup-schedule-amsgrad", {**_DECAY, "amsgrad": True}, SCHEDULE),
]

CREATE_OPTIMIZER = [
    Case("adam", {"init_lr": 1e-2, "num_train_steps": 15, "num_warmup_steps": 5}),
    Case(
        "decay-power2",
        {
            "init_lr": 1e-2,
            "num_train_steps": 15,
            "num_warmup_steps": 5,
            "min_lr_ratio": 0.1,
            "weight_decay_rate": 0.1,
            "power": 2.0,
        },
    ),
    Case(
        "no-warmup-clipnorm-include",
        {
            "init_lr": 3e-3,
            "num_train_steps": 25,
            "num_warmup_steps": 0,
            "weight_decay_rate": 0.05,
            "adam_clipnorm": 0.05,
            "include_in_weight_decay": ["LayerNorm/gamma"],
        },
    ),
    Case(
        "global-clipnorm-betas",
        {
            "init_lr": 1e-2,
            "num_train_steps": 12,
            "num_warmup_steps": 3,
            "weight_decay_rate": 0.01,
            "adam_global_clipnorm": 0.1,
            "adam_beta1": 0.8,
            "adam_beta2": 0.99,
            "adam_epsilon": 1e-6,
        },
    ),
    Case(
        "adam-clipnorm",
        {"init_lr": 1e-2, "num_train_steps": 10, "num_warmup_steps": 4, "adam_clipnorm": 0.05},
    ),
]

# SPEC §4: init 1, T=10, W=4, min_lr_ratio 0.1, t = 0..12.
CREATE_OPTIMIZER_KNOWN = (
    {"init_lr": 1.0, "num_train_steps": 10, "num_warmup_steps": 4, "min_lr_ratio": 0.1},
    (0, 0.25, 0.5, 0.75, 1, 0.85, 0.7, 0.55, 0.4, 0.25, 0.1, 0.1, 0.1),
)

# SPEC §4: kernel [1, −2], g [.1, −.2], lr .1, wd .1, one step.
ADAM_WEIGHT_DECAY_KNOWN = {
    "start": (1.0, -2.0),
    "gradient": (0.1, -0.2),
    "kwargs": {
        "learning_rate": 0.1,
        "weight_decay_rate": 0.1,
        "exclude_from_weight_decay": ["bias"],
    },
    "decayed": ("dense/kernel", (0.8900031, -1.8800015)),
    "excluded": ("dense/bias", (0.9000031, -1.9000015)),
}

WARMUPS = [
    {"initial_learning_rate": 1e-3, "warmup_steps": 4, "power": 1.0},
    {"initial_learning_rate": 0.5, "warmup_steps": 7, "power": 2.0},
    {"initial_learning_rate": 2.0, "warmup_steps": 3, "power": 0.5},
    {"initial_learning_rate": 1.0, "warmup_steps": 1, "power": 1.0},
]


class DecayRule(NamedTuple):
    path: str
    include: list[str] | None
    exclude: list[str] | None
    decayed: bool


DECAY_RULES = [
    DecayRule("dense/kernel", None, None, True),
    DecayRule("dense/bias", None, EXCLUDE, False),
    DecayRule("encoder/LayerNorm/gamma", None, EXCLUDE, False),
    DecayRule("encoder/layer_normalization/beta", None, EXCLUDE, False),
    DecayRule("encoder/dense/kernel", None, EXCLUDE, True),
    DecayRule("encoder/LayerNorm/gamma", ["LayerNorm/gamma"], EXCLUDE, True),
    DecayRule("encoder/LayerNorm/beta", ["LayerNorm/gamma"], EXCLUDE, False),
    DecayRule("dense/kernel", ["bias"], None, True),  # include never restricts
    DecayRule("head/kernel", None, [r"^head/"], False),
    DecayRule("body/head/kernel", None, [r"^head/"], True),
]


class Invalid(NamedTuple):
    target: str  # "AdamWeightDecay", "create_optimizer", "WarmUp" or "KerasSchedule"
    kwargs: dict[str, Any]  # overrides of VALID[target]
    error: type[Exception]
    match: str

    def __str__(self) -> str:
        return f"{self.target}-{'-'.join(f'{k}={v!r}' for k, v in self.kwargs.items())}"


VALID: dict[str, dict[str, Any]] = {
    "AdamWeightDecay": {},
    "create_optimizer": {"init_lr": 1e-3, "num_train_steps": 10, "num_warmup_steps": 2},
    "WarmUp": {"initial_learning_rate": 1.0, "decay_schedule_fn": abs, "warmup_steps": 2},
    "KerasSchedule": {"schedule": schedules.get("constant"), "learning_rate": 1e-3},
}

# fmt: off
INVALID = [
    Invalid("AdamWeightDecay", {"learning_rate": -1.0}, ValueError, r"learning_rate.*-1\.0"),
    Invalid("AdamWeightDecay", {"learning_rate": "fast"}, ValueError, r"learning_rate.*'fast'"),
    Invalid("AdamWeightDecay", {"beta_1": 1.0}, ValueError, r"beta_1.*1\.0"),
    Invalid("AdamWeightDecay", {"beta_2": -0.1}, ValueError, r"beta_2.*-0\.1"),
    Invalid("AdamWeightDecay", {"epsilon": -1e-8}, ValueError, r"epsilon.*-1e-08"),
    Invalid("AdamWeightDecay", {"weight_decay_rate": -0.1}, ValueError,
            r"weight_decay_rate.*-0\.1"),
    Invalid("AdamWeightDecay", {"weight_decay_rate": math.nan}, ValueError,
            "weight_decay_rate.*nan"),
    Invalid("AdamWeightDecay", {"include_in_weight_decay": "bias"}, ValueError,
            "include_in_weight_decay.*'bias'"),
    Invalid("AdamWeightDecay", {"exclude_from_weight_decay": ["("]}, ValueError,
            r"exclude_from_weight_decay.*'\('"),
    Invalid("AdamWeightDecay", {"exclude_from_weight_decay": [3]}, ValueError,
            "exclude_from_weight_decay"),
    Invalid("AdamWeightDecay", {"weight_decay": 0.01}, ValueError, "weight_decay_rate"),
    Invalid("AdamWeightDecay", {"clipnorm": 0.0}, ValueError, r"clipnorm.*0\.0"),
    Invalid("AdamWeightDecay", {"amsgrad": "yes"}, ValueError, "amsgrad.*'yes'"),
    Invalid("create_optimizer", {"init_lr": -1}, ValueError, "init_lr.*-1"),
    Invalid("create_optimizer", {"num_train_steps": -1}, ValueError, "num_train_steps.*-1"),
    Invalid("create_optimizer", {"num_train_steps": 2.5}, ValueError, r"num_train_steps.*2\.5"),
    Invalid("create_optimizer", {"num_warmup_steps": None}, ValueError, "num_warmup_steps.*None"),
    Invalid("create_optimizer", {"min_lr_ratio": 1.5}, ValueError, r"min_lr_ratio.*1\.5"),
    Invalid("create_optimizer", {"adam_beta1": 1.0}, ValueError, r"adam_beta1.*1\.0"),
    Invalid("create_optimizer", {"adam_beta2": -1}, ValueError, "adam_beta2.*-1"),
    Invalid("create_optimizer", {"adam_epsilon": -1.0}, ValueError, "adam_epsilon"),
    Invalid("create_optimizer", {"adam_clipnorm": 0}, ValueError, "adam_clipnorm.*0"),
    Invalid("create_optimizer", {"adam_global_clipnorm": -1.0}, ValueError, "adam_global_clipnorm"),
    Invalid("create_optimizer", {"adam_clipnorm": 1.0, "adam_global_clipnorm": 1.0}, ValueError,
            "adam_clipnorm.*adam_global_clipnorm"),
    Invalid("create_optimizer", {"weight_decay_rate": -0.5}, ValueError, "weight_decay_rate"),
    Invalid("create_optimizer", {"power": 0.0}, ValueError, r"power.*0\.0"),
    Invalid("create_optimizer", {"include_in_weight_decay": "bias"}, ValueError,
            "include_in_weight_decay"),
    Invalid("WarmUp", {"initial_learning_rate": -1.0}, ValueError, "initial_learning_rate"),
    Invalid("WarmUp", {"warmup_steps": -1}, ValueError, "warmup_steps.*-1"),
    Invalid("WarmUp", {"warmup_steps": 1.5}, ValueError, r"warmup_steps.*1\.5"),
    Invalid("WarmUp", {"power": 0}, ValueError, "power.*0"),
    Invalid("WarmUp", {"power": math.inf}, ValueError, "power.*inf"),
    Invalid("WarmUp", {"decay_schedule_fn": 3}, ValueError, "decay_schedule_fn.*3"),
    Invalid("KerasSchedule", {"learning_rate": -1e-3}, ValueError, "learning_rate"),
    Invalid("KerasSchedule", {"learning_rate": math.inf}, ValueError, "learning_rate.*inf"),
    Invalid("KerasSchedule", {"dtype": "int32"}, ValueError, "dtype.*int32"),
    Invalid("KerasSchedule", {"schedule": "linear"}, TypeError, "schedule.*'linear'"),
]
# fmt: on


def invalid(target: str) -> list[Invalid]:
    """The rows of ``INVALID`` for one callable."""
    return [row for row in INVALID if row.target == target]
