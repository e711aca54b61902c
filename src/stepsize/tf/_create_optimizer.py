"""``create_optimizer``: transformers' one-call Adam + warmup + linear-decay set-up on Keras 3."""

from __future__ import annotations

from typing import Any

import keras

from stepsize._validation import check_int, check_optional, check_real
from stepsize.tf._adam_weight_decay import AdamWeightDecay
from stepsize.tf._decay_rule import check_patterns
from stepsize.tf._warmup import WarmUp

__all__ = ["create_optimizer"]


def create_optimizer(
    init_lr: float,
    num_train_steps: int,
    num_warmup_steps: int,
    min_lr_ratio: float = 0.0,
    adam_beta1: float = 0.9,
    adam_beta2: float = 0.999,
    adam_epsilon: float = 1e-8,
    adam_clipnorm: float | None = None,
    adam_global_clipnorm: float | None = None,
    weight_decay_rate: float = 0.0,
    power: float = 1.0,
    include_in_weight_decay: list[str] | None = None,
) -> tuple[keras.optimizers.Optimizer, keras.optimizers.schedules.LearningRateSchedule]:
    """Creates Adam with a warmup and a polynomial decay of the learning rate.

    The rate rises linearly from 0 to ``init_lr`` over ``num_warmup_steps`` (``WarmUp``),
    then decays polynomially (``power``) to ``init_lr · min_lr_ratio`` at
    ``num_train_steps`` and stays there. With ``weight_decay_rate > 0`` the optimizer is
    ``AdamWeightDecay`` excluding ``LayerNorm``, ``layer_norm`` and ``bias`` variables from
    the decay (``include_in_weight_decay`` patterns override that); otherwise Keras' ``Adam``.
    When no decay steps are left (``num_warmup_steps >= num_train_steps``) the rate holds
    ``init_lr · min_lr_ratio`` after the warmup, as transformers does when warmup exceeds
    training; where they are equal transformers divides 0 by 0 and produces NaN.

    Args:
        init_lr: the learning rate at the end of the warmup.
        num_train_steps: the total number of optimizer steps.
        num_warmup_steps: the number of warmup steps.
        min_lr_ratio: the final rate as a fraction of ``init_lr``, in [0, 1].
        adam_beta1: Adam's β1, in [0, 1).
        adam_beta2: Adam's β2, in [0, 1).
        adam_epsilon: Adam's ε, >= 0.
        adam_clipnorm: clip each gradient to this norm (> 0), or None.
        adam_global_clipnorm: clip all gradients to this global norm (> 0), or None.
        weight_decay_rate: the decoupled weight decay, >= 0.
        power: the exponent of the polynomial decay, > 0.
        include_in_weight_decay: patterns of variables decayed despite the exclusions.

    Returns:
        ``(optimizer, lr_schedule)``.

    Raises:
        TypeError: for an argument of the wrong type (named in the message), e.g. a
            fractional or None step count.
        ValueError: for an argument out of range (named in the message), or both
            ``adam_clipnorm`` and ``adam_global_clipnorm``.

    Example:
        >>> optimizer, schedule = create_optimizer(1.0, 10, 4, min_lr_ratio=0.1)
        >>> [round(float(schedule(t)), 4) for t in (0, 2, 4, 5, 10, 12)]
        [0.0, 0.5, 1.0, 0.85, 0.1, 0.1]
    """
    init_lr = float(check_real("init_lr", init_lr, low=0.0))
    num_train_steps = check_int("num_train_steps", num_train_steps, low=0)
    num_warmup_steps = check_int("num_warmup_steps", num_warmup_steps, low=0)
    min_lr_ratio = float(check_real("min_lr_ratio", min_lr_ratio, low=0.0, high=1.0))
    power = float(check_real("power", power, low=0.0, low_open=True))
    clipnorm = check_optional(check_real, "adam_clipnorm", adam_clipnorm, low=0.0, low_open=True)
    global_clipnorm = check_optional(
        check_real, "adam_global_clipnorm", adam_global_clipnorm, low=0.0, low_open=True
    )
    if clipnorm is not None and global_clipnorm is not None:
        raise ValueError(
            "adam_clipnorm and adam_global_clipnorm cannot both be set, got "
            f"adam_clipnorm={adam_clipnorm!r} and adam_global_clipnorm={adam_global_clipnorm!r}"
        )
    adam: dict[str, Any] = {
        "beta_1": float(check_real("adam_beta1", adam_beta1, low=0.0, high=1.0, high_open=True)),
        "beta_2": float(check_real("adam_beta2", adam_beta2, low=0.0, high=1.0, high_open=True)),
        "epsilon": float(check_real("adam_epsilon", adam_epsilon, low=0.0)),
        "clipnorm": None if clipnorm is None else float(clipnorm),
        "global_clipnorm": None if global_clipnorm is None else float(global_clipnorm),
    }
    weight_decay_rate = float(check_real("weight_decay_rate", weight_decay_rate, low=0.0))
    include_in_weight_decay = check_patterns("include_in_weight_decay", include_in_weight_decay)

    end_lr = init_lr * min_lr_ratio
    decay_steps = num_train_steps - num_warmup_steps
    if decay_steps > 0:
        lr_schedule = keras.optimizers.schedules.PolynomialDecay(
            initial_learning_rate=init_lr,
            decay_steps=decay_steps,
            end_learning_rate=end_lr,
            power=power,
        )
    else:
        # Keras' PolynomialDecay divides 0 by 0 with decay_steps=0; with decay_steps < 0 it
        # returns the final rate, which is what every case without decay steps now holds.
        lr_schedule = keras.optimizers.schedules.PolynomialDecay(
            initial_learning_rate=end_lr, decay_steps=1, end_learning_rate=end_lr, power=power
        )
    if num_warmup_steps:
        lr_schedule = WarmUp(
            initial_learning_rate=init_lr,
            decay_schedule_fn=lr_schedule,
            warmup_steps=num_warmup_steps,
        )
    if weight_decay_rate > 0.0:
        optimizer = AdamWeightDecay(
            learning_rate=lr_schedule,
            weight_decay_rate=weight_decay_rate,
            exclude_from_weight_decay=["LayerNorm", "layer_norm", "bias"],
            include_in_weight_decay=include_in_weight_decay,
            **adam,
        )
    else:
        optimizer = keras.optimizers.Adam(learning_rate=lr_schedule, **adam)
    return optimizer, lr_schedule
