"""``AdamWeightDecay``'s update in plain TensorFlow operations: the readable ground truth.

One step ``t`` (from 1) of one variable, with ``lr`` the (scheduled) learning rate:

1. decoupled weight decay, when the variable is decayed: ``var ← var − lr · rate · var``;
2. the moments: ``m ← β1·m + (1−β1)·g`` and ``v ← β2·v + (1−β2)·g²``; with AMSGrad
   ``v̂ ← max(v̂, v)`` takes the place of ``v`` below;
3. Adam: ``var ← var − lr · √(1−β2^t)/(1−β1^t) · m / (√v + ε)`` (ε outside the bias
   correction, as tf-keras' Adam and transformers).

The fused path (``_adam_fused``) computes the same update with TensorFlow's fused kernels and
is proved equal to this one by the tests; ``AdamWeightDecay(fused=False)`` runs this one.

Example:
    >>> import tensorflow as tf
    >>> variables = AdamVariables(tf.Variable([1.0]), tf.Variable([0.0]), tf.Variable([0.0]), None)
    >>> c = adam_coefficients(tf.constant(1), 0.1, 0.9, 0.999, 0.0, 0.1, tf.float32)
    >>> reference_update(variables, tf.constant([0.1]), c, decayed=True)
    >>> round(float(variables.variable[0]), 5)
    0.89
"""

from __future__ import annotations

from typing import Any, NamedTuple

import tensorflow as tf

__all__ = ["AdamVariables", "Coefficients", "adam_coefficients", "reference_update"]


class AdamVariables(NamedTuple):
    """One variable and the moment estimates the optimizer keeps for it."""

    variable: tf.Variable
    m: tf.Variable  # first moment
    v: tf.Variable  # second moment
    v_hat: tf.Variable | None  # AMSGrad's running maximum of v; None for plain Adam


class Coefficients(NamedTuple):
    """The scalars of one step, shared by every variable of one device and dtype."""

    lr: tf.Tensor
    beta_1: tf.Tensor
    beta_2: tf.Tensor
    beta_1_power: tf.Tensor  # β1^t
    beta_2_power: tf.Tensor  # β2^t
    epsilon: tf.Tensor
    weight_decay_rate: tf.Tensor


def adam_coefficients(
    step: Any,
    learning_rate: Any,
    beta_1: float,
    beta_2: float,
    epsilon: float,
    weight_decay_rate: float,
    dtype: tf.DType,
) -> Coefficients:
    """The coefficients of step ``step`` (counted from 1) as tensors of ``dtype``.

    Args:
        step: the step number t, from 1 (a tensor or number).
        learning_rate: the learning rate of this step.
        beta_1: β1.
        beta_2: β2.
        epsilon: ε.
        weight_decay_rate: the decoupled weight decay.
        dtype: the variables' dtype.

    Returns:
        The ``Coefficients``.
    """
    step = tf.cast(step, dtype)
    beta_1 = tf.cast(beta_1, dtype)
    beta_2 = tf.cast(beta_2, dtype)
    return Coefficients(
        lr=tf.cast(learning_rate, dtype),
        beta_1=beta_1,
        beta_2=beta_2,
        beta_1_power=tf.pow(beta_1, step),
        beta_2_power=tf.pow(beta_2, step),
        epsilon=tf.cast(epsilon, dtype),
        weight_decay_rate=tf.cast(weight_decay_rate, dtype),
    )


def reference_update(
    variables: AdamVariables, gradient: tf.Tensor, c: Coefficients, decayed: bool
) -> None:
    """Updates a variable and its moments in place by one step.

    Args:
        variables: the variable and its moments.
        gradient: the gradient, in the variable's dtype.
        c: the step's coefficients.
        decayed: whether the variable is decayed.
    """
    variable, m, v, v_hat = variables
    if decayed:
        variable.assign_sub(c.lr * variable * c.weight_decay_rate)
    m.assign(c.beta_1 * m + (1 - c.beta_1) * gradient)
    v.assign(c.beta_2 * v + (1 - c.beta_2) * tf.square(gradient))
    if v_hat is not None:
        v = v_hat.assign(tf.maximum(v_hat, v))
    step_size = c.lr * tf.sqrt(1 - c.beta_2_power) / (1 - c.beta_1_power)
    variable.assign_sub(step_size * m / (tf.sqrt(v) + c.epsilon))
