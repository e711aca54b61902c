"""``KerasSchedule``: any ``stepsize.schedules`` object as a Keras ``LearningRateSchedule``."""

from __future__ import annotations

import math
from typing import Any

import keras
import tensorflow as tf

from stepsize import schedules
from stepsize._validation import check_instance, check_real, describe
from stepsize.schedules._ops import ArrayNamespace

__all__ = ["TENSORFLOW", "KerasSchedule"]


def _float64(x: Any) -> tf.Tensor:
    return tf.cast(x, tf.float64) if tf.is_tensor(x) else tf.constant(x, tf.float64)


class _TensorFlowNamespace(ArrayNamespace):
    """The schedule formulas' operations on float64 TensorFlow tensors (graph-safe)."""

    pi = math.pi

    @staticmethod
    def asarray(x: Any) -> tf.Tensor:
        return tf.cast(tf.convert_to_tensor(x), tf.float64)

    @staticmethod
    def where(condition: Any, x: Any, y: Any) -> tf.Tensor:
        return tf.where(condition, _float64(x), _float64(y))

    @staticmethod
    def minimum(x: Any, y: Any) -> tf.Tensor:
        return tf.minimum(_float64(x), _float64(y))

    @staticmethod
    def maximum(x: Any, y: Any) -> tf.Tensor:
        return tf.maximum(_float64(x), _float64(y))

    @staticmethod
    def cos(x: Any) -> tf.Tensor:
        return tf.cos(_float64(x))

    @staticmethod
    def sqrt(x: Any) -> tf.Tensor:
        return tf.sqrt(_float64(x))

    @staticmethod
    def power(x: Any, y: Any) -> tf.Tensor:
        return tf.pow(_float64(x), _float64(y))

    @staticmethod
    def floor(x: Any) -> tf.Tensor:
        return tf.floor(_float64(x))


TENSORFLOW = _TensorFlowNamespace()


def _float_dtype(value: Any) -> str:
    """The name of the float dtype ``value`` (a dtype or its name)."""
    try:
        dtype = tf.as_dtype(value)
    except TypeError:
        if not isinstance(value, str):
            raise TypeError(f"dtype must be a dtype or its name, got {describe(value)}") from None
        dtype = None
    if dtype is None or not dtype.is_floating:
        raise ValueError(f"dtype must be a float dtype, got {describe(value)}")
    return dtype.name


@keras.saving.register_keras_serializable(package="stepsize")
class KerasSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A ``stepsize.schedules`` schedule as a Keras ``LearningRateSchedule``.

    The rate at step ``t`` is ``learning_rate · schedule(t)``, evaluated by the schedule's
    own formula on the step tensor (float64, inside ``tf.function`` and XLA too) and returned
    as ``dtype``. The config nests the schedule's config, so a model compiled with it saves
    and loads without custom objects.

    Args:
        schedule: a ``stepsize.schedules.Schedule`` (e.g. from ``schedules.get``).
        learning_rate: the base (peak) learning rate the schedule multiplies, >= 0.
        dtype: the dtype of the returned rate.

    Raises:
        TypeError: if ``schedule`` is not a ``stepsize.schedules.Schedule``,
            ``learning_rate`` not a real number or ``dtype`` not a dtype (or its name).
        ValueError: if ``learning_rate`` is negative or not finite, or ``dtype`` is not a
            float dtype.

    Example:
        >>> from stepsize import schedules
        >>> linear = schedules.get("linear", num_warmup_steps=2, num_training_steps=10)
        >>> lr = KerasSchedule(linear, learning_rate=1e-3)
        >>> round(float(lr(1)), 7), round(float(lr(6)), 7)
        (0.0005, 0.0005)
    """

    def __init__(
        self, schedule: schedules.Schedule, learning_rate: float = 1.0, dtype: str = "float32"
    ) -> None:
        super().__init__()
        self.schedule = check_instance(
            "schedule", schedule, schedules.Schedule, "a stepsize.schedules.Schedule"
        )
        self.learning_rate = float(check_real("learning_rate", learning_rate, low=0.0))
        self.dtype = _float_dtype(dtype)

    def __call__(self, step: Any) -> tf.Tensor:
        with tf.name_scope(f"KerasSchedule_{self.schedule.name}"):
            value = self.schedule.formula(TENSORFLOW.asarray(step), TENSORFLOW)
            return tf.cast(self.learning_rate * _float64(value), self.dtype)

    def get_config(self) -> dict[str, Any]:
        return {
            "schedule": self.schedule.get_config(),
            "learning_rate": self.learning_rate,
            "dtype": self.dtype,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> KerasSchedule:
        config = dict(config)
        config["schedule"] = schedules.from_config(config["schedule"])
        return cls(**config)

    def __repr__(self) -> str:
        return f"KerasSchedule({self.schedule!r}, learning_rate={self.learning_rate!r})"
