"""The Keras optimizer contract table and the cases shared by every ``stepsize.tf`` test.

Plain data (no TensorFlow import), so the table loads anywhere:

* ``KERAS_OPTIMIZERS``: one ``KerasOptimizerInfo`` per Keras optimizer stepsize.tf hands out;
  tests/tf/test_optimizer_contract.py runs the generic contract for every row.
* ``VARIABLES``: (path, shape) of the differential tests' variables; the paths match and miss
  the usual decay patterns ("LayerNorm", "layer_norm", "bias").
* ``ErrorInput``: bad arguments, the exception and what its message must show (also used for
  ``WarmUp`` and ``KerasSchedule`` in their test files).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from stepsize import schedules

__all__ = [
    "DECAY",
    "EXCLUDE",
    "GRADIENT_SCALE",
    "KERAS_OPTIMIZERS",
    "SEED",
    "STEPS",
    "VARIABLES",
    "Case",
    "ErrorInput",
    "KerasOptimizerInfo",
]

STEPS = 20  # optimizer steps of the differential tests
SEED = 0
GRADIENT_SCALE = 0.1
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

# WarmUp over PolynomialDecay, for the cases with a "schedule" dict.
SCHEDULE = {
    "initial_learning_rate": 1e-2,
    "warmup_steps": 5,
    "warmup_power": 2.0,
    "decay_steps": 12,
    "end_learning_rate": 1e-3,
    "power": 1.0,
}


class Case(NamedTuple):
    """Keyword arguments given verbatim to ours and to transformers' factory.

    ``schedule`` replaces the learning rate: a ``SCHEDULE``-like dict means
    ``WarmUp(PolynomialDecay)`` (each library its own), a ``stepsize.schedules`` schedule
    means ``KerasSchedule(schedule, learning_rate)`` (ours only).
    """

    id: str
    kwargs: dict[str, Any]
    schedule: dict[str, Any] | schedules.Schedule | None = None

    def __str__(self) -> str:
        return self.id


class ErrorInput(NamedTuple):
    """Bad keyword arguments: the exception they raise, and the argument its message names.

    The message must show ``argument`` followed by each value in ``shows`` (by default the
    values of ``kwargs``; the bad item of a list argument is shown alone).
    """

    kwargs: dict[str, Any]
    error: type[Exception]
    argument: str
    shows: tuple[Any, ...] | None = None

    def __str__(self) -> str:
        return "-".join(f"{k}={v!r}" for k, v in self.kwargs.items())


class KerasOptimizerInfo(NamedTuple):
    """One Keras optimizer of ``stepsize.tf`` and what the generic contract checks of it.

    Attributes:
        id: the row's name in test ids.
        factory: the callable, by its name in ``stepsize.tf`` and in transformers'
            ``optimization_tf`` (the reference it must equal); a factory returning
            ``(optimizer, schedule)`` contributes the optimizer.
        returns: the class of the optimizer (``AdamWeightDecay`` or Keras' ``Adam``).
        configs: configurations worth covering (each compared with transformers, serialized).
        paths: the update paths a user can select, by name -> the arguments selecting them;
            each is proved equal to the one named ``reference``. Empty where the factory
            offers no choice.
        modes: ids of ``configs`` also run eagerly and compiled by XLA (all run in a
            ``tf.function``).
        state: where transformers' optimizer holds the state each of our attributes holds:
            a slot name (tf-keras' legacy optimizers) or an attribute (``_`` first).
        valid: the minimal arguments ``error_inputs`` override.
        error_inputs: bad arguments.
        training: the configuration compiled into a model, fit, saved, loaded and fit on.
        decayed: which of that model's variables are decayed (kernel, bias, LayerNorm gamma,
            beta, head kernel, bias); None for an optimizer without decay.
        mirrored: whether ``training`` under ``tf.distribute.MirroredStrategy`` must equal a
            single device.
    """

    id: str
    factory: str
    returns: str
    configs: list[Case]
    paths: dict[str, dict[str, Any]]
    modes: tuple[str, ...]
    state: dict[str, str]
    valid: dict[str, Any]
    error_inputs: list[ErrorInput]
    training: Case
    decayed: tuple[bool, ...] | None
    mirrored: bool

    def __str__(self) -> str:
        return self.id


# transformers' AdamWeightDecay is a tf-keras legacy Adam; its create_optimizer's Adam is not.
LEGACY_ADAM_STATE = {"_momentums": "m", "_velocities": "v", "_velocity_hats": "vhat"}
ADAM_STATE = {name: name for name in LEGACY_ADAM_STATE}
FUSED_AND_REFERENCE = {"fused": {"fused": True}, "reference": {"fused": False}}
MODEL_DECAYED = (True, False, False, False, True, False)

DECAY = {"learning_rate": 1e-2, "weight_decay_rate": 0.1, "exclude_from_weight_decay": EXCLUDE}

# fmt: off
ADAM_WEIGHT_DECAY_ERRORS = [
    ErrorInput({"learning_rate": -1.0}, ValueError, "learning_rate"),
    ErrorInput({"learning_rate": "fast"}, TypeError, "learning_rate"),
    ErrorInput({"learning_rate": True}, TypeError, "learning_rate"),
    ErrorInput({"beta_1": 1.0}, ValueError, "beta_1"),
    ErrorInput({"beta_1": None}, TypeError, "beta_1"),
    ErrorInput({"beta_2": -0.1}, ValueError, "beta_2"),
    ErrorInput({"epsilon": -1e-8}, ValueError, "epsilon"),
    ErrorInput({"weight_decay_rate": -0.1}, ValueError, "weight_decay_rate"),
    ErrorInput({"weight_decay_rate": math.nan}, ValueError, "weight_decay_rate"),
    ErrorInput({"weight_decay_rate": "0.1"}, TypeError, "weight_decay_rate"),
    ErrorInput({"include_in_weight_decay": "bias"}, TypeError, "include_in_weight_decay"),
    ErrorInput({"exclude_from_weight_decay": ["bias", "("]}, ValueError,
               "exclude_from_weight_decay[1]", ("(",)),
    ErrorInput({"exclude_from_weight_decay": [3]}, TypeError, "exclude_from_weight_decay[0]",
               (3,)),
    ErrorInput({"weight_decay": 0.01}, ValueError, "weight_decay_rate"),
    ErrorInput({"clipnorm": 0.0}, ValueError, "clipnorm"),
    ErrorInput({"clipvalue": -1.0}, ValueError, "clipvalue"),
    ErrorInput({"amsgrad": "yes"}, TypeError, "amsgrad"),
    ErrorInput({"amsgrad": 1}, TypeError, "amsgrad"),
    ErrorInput({"fused": 1}, TypeError, "fused"),
    ErrorInput({"fused": None}, TypeError, "fused"),
]

CREATE_OPTIMIZER_ERRORS = [
    ErrorInput({"init_lr": -1}, ValueError, "init_lr"),
    ErrorInput({"init_lr": "1e-3"}, TypeError, "init_lr"),
    ErrorInput({"num_train_steps": -1}, ValueError, "num_train_steps"),
    ErrorInput({"num_train_steps": 2.5}, TypeError, "num_train_steps"),
    ErrorInput({"num_warmup_steps": None}, TypeError, "num_warmup_steps"),
    ErrorInput({"min_lr_ratio": 1.5}, ValueError, "min_lr_ratio"),
    ErrorInput({"adam_beta1": 1.0}, ValueError, "adam_beta1"),
    ErrorInput({"adam_beta2": -1}, ValueError, "adam_beta2"),
    ErrorInput({"adam_epsilon": -1.0}, ValueError, "adam_epsilon"),
    ErrorInput({"adam_clipnorm": 0}, ValueError, "adam_clipnorm"),
    ErrorInput({"adam_global_clipnorm": -1.0}, ValueError, "adam_global_clipnorm"),
    ErrorInput({"adam_clipnorm": 1.0, "adam_global_clipnorm": 1.0}, ValueError,
               "adam_global_clipnorm"),
    ErrorInput({"weight_decay_rate": -0.5}, ValueError, "weight_decay_rate"),
    ErrorInput({"power": 0.0}, ValueError, "power"),
    ErrorInput({"include_in_weight_decay": "bias"}, TypeError, "include_in_weight_decay"),
]
# fmt: on

_CREATE_OPTIMIZER_VALID = {"init_lr": 1e-3, "num_train_steps": 10, "num_warmup_steps": 2}
_TRAINING = {"init_lr": 5e-2, "num_train_steps": 16, "num_warmup_steps": 3, "min_lr_ratio": 0.1}

# fmt: off
KERAS_OPTIMIZERS = [
    KerasOptimizerInfo(
        id="AdamWeightDecay",
        factory="AdamWeightDecay",
        returns="AdamWeightDecay",
        configs=[
            Case("defaults", {}),
            Case("decay", DECAY),
            Case("decay-everything", {"learning_rate": 5e-3, "weight_decay_rate": 0.3}),
            Case("include-wins",
                 {**DECAY, "include_in_weight_decay": ["LayerNorm/gamma", "dense/bias"]}),
            Case("amsgrad", {**DECAY, "amsgrad": True}),
            Case("clipnorm", {**DECAY, "clipnorm": 0.05}),
            Case("global-clipnorm", {**DECAY, "global_clipnorm": 0.1}),
            Case("clipvalue", {**DECAY, "clipvalue": 0.02}),
            Case("betas-epsilon", {**DECAY, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-3}),
            Case("warmup-schedule", {**DECAY}, SCHEDULE),
            Case("warmup-schedule-amsgrad", {**DECAY, "amsgrad": True}, SCHEDULE),
        ],
        paths=FUSED_AND_REFERENCE,
        # The update without AMSGrad, under a WarmUp: create_optimizer's AdamWeightDecay row.
        modes=("warmup-schedule-amsgrad",),
        state=LEGACY_ADAM_STATE,
        valid={},
        error_inputs=ADAM_WEIGHT_DECAY_ERRORS,
        training=Case(
            "keras-schedule-amsgrad",
            {"learning_rate": 5e-2, "amsgrad": True, "weight_decay_rate": 0.05,
             "exclude_from_weight_decay": EXCLUDE},
            schedules.get("linear", num_warmup_steps=2, num_training_steps=16),
        ),
        decayed=MODEL_DECAYED,
        mirrored=False,
    ),
    KerasOptimizerInfo(
        id="create_optimizer-AdamWeightDecay",
        factory="create_optimizer",
        returns="AdamWeightDecay",
        configs=[
            Case("decay-power2",
                 {"init_lr": 1e-2, "num_train_steps": 15, "num_warmup_steps": 5,
                  "min_lr_ratio": 0.1, "weight_decay_rate": 0.1, "power": 2.0}),
            Case("no-warmup-clipnorm-include",
                 {"init_lr": 3e-3, "num_train_steps": 25, "num_warmup_steps": 0,
                  "weight_decay_rate": 0.05, "adam_clipnorm": 0.05,
                  "include_in_weight_decay": ["LayerNorm/gamma"]}),
            Case("global-clipnorm-betas",
                 {"init_lr": 1e-2, "num_train_steps": 12, "num_warmup_steps": 3,
                  "weight_decay_rate": 0.01, "adam_global_clipnorm": 0.1, "adam_beta1": 0.8,
                  "adam_beta2": 0.99, "adam_epsilon": 1e-6}),
        ],
        paths={},  # the AdamWeightDecay it returns runs the default, fused path
        modes=("decay-power2",),
        state=LEGACY_ADAM_STATE,
        valid={**_CREATE_OPTIMIZER_VALID, "weight_decay_rate": 0.01},
        error_inputs=CREATE_OPTIMIZER_ERRORS,
        training=Case("warmup-decay", {**_TRAINING, "weight_decay_rate": 0.1}),
        decayed=MODEL_DECAYED,
        mirrored=True,
    ),
    KerasOptimizerInfo(
        id="create_optimizer-Adam",
        factory="create_optimizer",
        returns="Adam",
        configs=[
            Case("adam", {"init_lr": 1e-2, "num_train_steps": 15, "num_warmup_steps": 5}),
            Case("adam-clipnorm",
                 {"init_lr": 1e-2, "num_train_steps": 10, "num_warmup_steps": 4,
                  "adam_clipnorm": 0.05}),
        ],
        paths={},
        modes=("adam",),
        state=ADAM_STATE,
        valid=_CREATE_OPTIMIZER_VALID,
        error_inputs=CREATE_OPTIMIZER_ERRORS,
        training=Case("warmup-decay", _TRAINING),
        decayed=None,
        mirrored=False,
    ),
]
# fmt: on
