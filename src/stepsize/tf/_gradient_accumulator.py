"""``GradientAccumulator``: sums gradients over micro-batches, per replica, in TF variables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from stepsize._validation import check_sequence, describe

__all__ = ["GradientAccumulator"]


def _local_variable(initial_value: Any) -> tf.Variable:
    # ON_READ: assignments stay on the replica that makes them (no synchronization);
    # reading in cross-replica context returns the first replica's value.
    return tf.Variable(
        initial_value,
        trainable=False,
        synchronization=tf.VariableSynchronization.ON_READ,
        aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
    )


class GradientAccumulator:
    """Accumulates (sums) gradients over several micro-batches, as transformers' TF one.

    The accumulators are created on the first call, one per gradient (``None`` stays
    ``None``). Under a ``tf.distribute`` strategy, call it in replica context: each replica
    sums its own gradients without synchronization; read ``gradients`` there, scale them if
    needed, and pass them to ``apply_gradients`` (which all-reduces them). Works eagerly and
    inside ``tf.function``. Gradients of another float dtype are cast to the accumulator's;
    ``tf.IndexedSlices`` are densified. Every gradient of a call is checked before any is
    added: a rejected call leaves the accumulators and the step as they were.

    Example:
        >>> import tensorflow as tf
        >>> accumulator = GradientAccumulator()
        >>> accumulator([tf.constant([1.0, 2.0])])
        >>> accumulator([tf.constant([-2.0, 1.0])])
        >>> int(accumulator.step), accumulator.gradients[0].numpy().tolist()
        (2, [-1.0, 3.0])
    """

    def __init__(self) -> None:
        self._gradients: list[tf.Variable | None] = []
        self._accum_steps: tf.Variable | None = None

    @property
    def step(self) -> tf.Tensor:
        """The number of accumulated micro-batches (int64) since creation or ``reset()``."""
        return self._counter().value()

    def _counter(self) -> tf.Variable:
        if self._accum_steps is None:
            self._accum_steps = _local_variable(tf.constant(0, dtype=tf.int64))
        return self._accum_steps

    @property
    def gradients(self) -> list[tf.Tensor | None]:
        """The accumulated gradients on the current replica.

        Raises:
            ValueError: if the accumulator has not been called yet.
        """
        if not self._gradients:
            raise ValueError("The accumulator should be called first to initialize the gradients")
        return [g.value() if g is not None else None for g in self._gradients]

    def __call__(self, gradients: Sequence[Any]) -> None:
        """Adds ``gradients`` to the accumulators of the current replica.

        Args:
            gradients: a list or tuple of gradients (float tensors, ``tf.IndexedSlices`` or
                None), in the same order and with the same shapes at every call.

        Raises:
            TypeError: if ``gradients`` is not a list or tuple, or one of them is not a float
                tensor (or convertible to one).
            ValueError: if the number of gradients differs from the first call's, or a
                gradient's shape from its accumulator's (the message names the index).
                Inside ``tf.function``, a shape known only when it runs is checked then,
                before anything is added: ``tf.errors.InvalidArgumentError`` at the node
                ``gradients_<index>_shape``.
        """
        length = len(self._gradients) or None  # fixed by the first call
        items = check_sequence("gradients", gradients, length)
        dense = [_dense(f"gradients[{i}]", g) for i, g in enumerate(items)]
        if not self._gradients:
            self._counter()  # created with the accumulators
            self._gradients.extend(
                _local_variable(_zeros(g)) if g is not None else None for g in dense
            )
        pairs = [
            (accumulator, _same_shape(i, gradient, accumulator))
            for i, (accumulator, gradient) in enumerate(zip(self._gradients, dense, strict=True))
            if accumulator is not None and gradient is not None
        ]
        # Nothing is added before every shape is known to fit: a shape known only when a
        # tf.function runs is checked by tf.ensure_shape, on which every addition waits.
        with tf.control_dependencies([gradient for _, gradient in pairs]):
            for accumulator, gradient in pairs:
                accumulator.assign_add(tf.cast(gradient, accumulator.dtype))
            self._counter().assign_add(1)

    def reset(self) -> None:
        """Zeroes the step count and the accumulated gradients of the current replica."""
        if not self._gradients:
            return
        self._counter().assign(0)
        for accumulator in self._gradients:
            if accumulator is not None:
                accumulator.assign(tf.zeros_like(accumulator))


def _dense(argument: str, gradient: Any) -> tf.Tensor | None:
    # A float tensor (IndexedSlices densified), or None; anything else is refused.
    if gradient is None:
        return None
    try:
        tensor = tf.convert_to_tensor(gradient)
    except (TypeError, ValueError):
        raise TypeError(f"{argument} must be a float tensor, got {describe(gradient)}") from None
    if not tensor.dtype.is_floating:
        what = f"{describe(gradient)} ({type(gradient).__name__})"
        if hasattr(gradient, "dtype"):  # the dtype and shape say more than a shortened repr
            what = f"a {tensor.dtype.name} tensor of shape {tensor.shape.as_list()}"
        raise TypeError(f"{argument} must be a float tensor, got {what}")
    return tensor


def _same_shape(index: int, gradient: tf.Tensor, accumulator: tf.Variable) -> tf.Tensor:
    # Raises for static shapes that differ; a shape not known yet is checked when it runs.
    if not gradient.shape.is_compatible_with(accumulator.shape):
        raise ValueError(
            f"gradients[{index}] must have its accumulator's shape "
            f"{accumulator.shape.as_list()}, got shape {gradient.shape.as_list()}"
        )
    if gradient.shape.is_fully_defined():
        return gradient
    # (An Assert op would not do: graph optimization drops it, and the additions run.)
    return tf.ensure_shape(gradient, accumulator.shape, name=f"gradients_{index}_shape")


def _zeros(gradient: tf.Tensor) -> tf.Tensor:
    # A static shape gives an initial value that does not depend on the traced gradient,
    # so tf.function can lift the accumulator's initialization out of the function.
    if gradient.shape.is_fully_defined():
        return tf.zeros(gradient.shape, gradient.dtype)
    return tf.zeros_like(gradient)
