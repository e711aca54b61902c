"""``AdamWeightDecay``'s fused update: ``reference_update``'s math in TensorFlow's kernels.

Plain Adam runs TensorFlow's ``ResourceApplyAdam`` kernel (what tf-keras' Adam, and so
transformers, runs); AMSGrad, whose kernel XLA lacks, runs that kernel's arithmetic compiled
by XLA; the weight decay runs an in-place XLA kernel. The kernels write the moments as
``m + (g − m)·(1 − β1)``, which rounds differently from the reference's
``β1·m + (1 − β1)·g``: the two paths agree to the closeness rule, not bit for bit.

Example:
    >>> import tensorflow as tf
    >>> from stepsize.tf._adam_reference import adam_coefficients
    >>> variables = AdamVariables(tf.Variable([1.0]), tf.Variable([0.0]), tf.Variable([0.0]), None)
    >>> c = adam_coefficients(tf.constant(1), 0.1, 0.9, 0.999, 0.0, 0.1, tf.float32)
    >>> fused_update(variables, tf.constant([0.1]), c, decayed=True)
    >>> round(float(variables.variable[0]), 5)
    0.89
"""

from __future__ import annotations

import tensorflow as tf

from stepsize.tf._adam_reference import AdamVariables, Coefficients

__all__ = ["fused_update"]


# The kernels take resource handles, not tf.Variables: a traced function keeps weak references
# to the variables it was traced with, so sharing it between variables of one shape fails
# once the first of them is deleted; handles are plain inputs.


def _read(handle: tf.Tensor, dtype: tf.DType) -> tf.Tensor:
    return tf.raw_ops.ReadVariableOp(resource=handle, dtype=dtype)


@tf.function(jit_compile=True, autograph=False)
def _decay(variable: tf.Tensor, learning_rate: tf.Tensor, rate: tf.Tensor) -> None:
    # XLA updates the variable in place; the plain-TF equivalent allocates a temporary the
    # size of the variable, and for large tensors that allocation costs more than the math.
    value = _read(variable, learning_rate.dtype)
    tf.raw_ops.AssignSubVariableOp(resource=variable, value=learning_rate * value * rate)


@tf.function(jit_compile=True, autograph=False)
def _amsgrad(
    variable: tf.Tensor,
    m: tf.Tensor,
    v: tf.Tensor,
    v_hat: tf.Tensor,
    gradient: tf.Tensor,
    c: Coefficients,
) -> None:
    # The arithmetic of TensorFlow's ResourceApplyAdamWithAmsgrad kernel, which XLA lacks.
    dtype = gradient.dtype
    alpha = c.lr * tf.sqrt(1 - c.beta_2_power) / (1 - c.beta_1_power)
    m_t = _read(m, dtype)
    m_t = m_t + (gradient - m_t) * (1 - c.beta_1)
    v_t = _read(v, dtype)
    v_t = v_t + (tf.square(gradient) - v_t) * (1 - c.beta_2)
    v_hat_t = tf.maximum(_read(v_hat, dtype), v_t)
    tf.raw_ops.AssignVariableOp(resource=m, value=m_t)
    tf.raw_ops.AssignVariableOp(resource=v, value=v_t)
    tf.raw_ops.AssignVariableOp(resource=v_hat, value=v_hat_t)
    tf.raw_ops.AssignSubVariableOp(
        resource=variable, value=m_t * alpha / (tf.sqrt(v_hat_t) + c.epsilon)
    )


def fused_update(
    variables: AdamVariables, gradient: tf.Tensor, c: Coefficients, decayed: bool
) -> None:
    """``reference_update`` (same arguments) run by the fused kernels."""
    variable, m, v, v_hat = variables
    if decayed:
        _decay(variable.handle, c.lr, c.weight_decay_rate)
    if v_hat is not None:
        _amsgrad(variable.handle, m.handle, v.handle, v_hat.handle, gradient, c)
        return
    tf.raw_ops.ResourceApplyAdam(
        var=variable.handle,
        m=m.handle,
        v=v.handle,
        beta1_power=c.beta_1_power,
        beta2_power=c.beta_2_power,
        lr=c.lr,
        beta1=c.beta_1,
        beta2=c.beta_2,
        epsilon=c.epsilon,
        grad=gradient,
    )
