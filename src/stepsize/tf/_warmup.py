"""``WarmUp``: a polynomial warmup in front of any Keras learning-rate schedule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import tensorflow as tf

from stepsize._validation import (
    check_callable,
    check_instance,
    check_int,
    check_optional,
    check_real,
)

__all__ = ["WarmUp"]


@keras.saving.register_keras_serializable(package="stepsize")
class WarmUp(keras.optimizers.schedules.LearningRateSchedule):
    """transformers' ``WarmUp`` schedule on Keras 3.

    For ``step < warmup_steps`` the rate is
    ``initial_learning_rate · (step / warmup_steps) ** power``; from then on it is
    ``decay_schedule_fn(step − warmup_steps)``. The warmup is computed in float64 and
    returned in the decay schedule's dtype (float32 for Keras' built-in schedules).

    Args:
        initial_learning_rate: the rate reached at the end of the warmup.
        decay_schedule_fn: the schedule for the steps after the warmup (a Keras
            ``LearningRateSchedule`` or a callable of the step); it sees the steps since the
            end of the warmup.
        warmup_steps: the number of warmup steps (0 means no warmup).
        power: the warmup's exponent (1 = linear).
        name: an optional name for the schedule's operations.

    Raises:
        TypeError: if ``initial_learning_rate`` or ``power`` is not a real number,
            ``warmup_steps`` not an integer, ``decay_schedule_fn`` not callable or ``name``
            not a string.
        ValueError: if a number is negative or not finite, or ``power`` is not > 0.

    Example:
        >>> import keras
        >>> decay = keras.optimizers.schedules.PolynomialDecay(1.0, 6, 0.1)
        >>> schedule = WarmUp(1.0, decay, warmup_steps=4)
        >>> [round(float(schedule(t)), 4) for t in (2, 4, 5)]
        [0.5, 1.0, 0.85]
    """

    def __init__(
        self,
        initial_learning_rate: float,
        decay_schedule_fn: Callable[[Any], Any],
        warmup_steps: int,
        power: float = 1.0,
        name: str | None = None,
    ) -> None:
        super().__init__()
        self.initial_learning_rate = float(
            check_real("initial_learning_rate", initial_learning_rate, low=0.0)
        )
        self.decay_schedule_fn = check_callable(
            "decay_schedule_fn", decay_schedule_fn, "a schedule or callable"
        )
        self.warmup_steps = check_int("warmup_steps", warmup_steps, low=0)
        self.power = float(check_real("power", power, low=0.0, low_open=True))
        self.name = check_optional(check_instance, "name", name, str, "a string")

    def __call__(self, step: Any) -> tf.Tensor:
        with tf.name_scope(self.name or "WarmUp"):
            step = tf.convert_to_tensor(step)
            # Clamped at 0: the decay never sees a negative step, even in the unused branch.
            decay_step = tf.maximum(step - self.warmup_steps, 0)
            decayed = tf.convert_to_tensor(self.decay_schedule_fn(decay_step))
            dtype = decayed.dtype if decayed.dtype.is_floating else tf.float32
            step_float = tf.cast(step, tf.float64)
            # max(1, ·) keeps the branch that is not taken finite when warmup_steps is 0.
            fraction = step_float / max(1, self.warmup_steps)
            warmup = self.initial_learning_rate * tf.pow(
                fraction, tf.constant(self.power, tf.float64)
            )
            return tf.where(
                step_float < self.warmup_steps, tf.cast(warmup, dtype), tf.cast(decayed, dtype)
            )

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_schedule_fn": keras.saving.serialize_keras_object(self.decay_schedule_fn),
            "warmup_steps": self.warmup_steps,
            "power": self.power,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> WarmUp:
        config = dict(config)
        if isinstance(config["decay_schedule_fn"], dict):
            config["decay_schedule_fn"] = keras.saving.deserialize_keras_object(
                config["decay_schedule_fn"]
            )
        return cls(**config)
