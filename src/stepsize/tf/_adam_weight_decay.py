"""``AdamWeightDecay``: Adam with decoupled weight decay, transformers' TF semantics on Keras 3."""

from __future__ import annotations

import numbers
import re
from typing import Any

import keras
import tensorflow as tf

from stepsize.tf._checks import check_patterns, check_real

__all__ = ["AdamWeightDecay"]


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
    coefficients: dict[str, tf.Tensor],
) -> None:
    # The arithmetic of TensorFlow's ResourceApplyAdamWithAmsgrad kernel, which XLA lacks.
    c = coefficients
    dtype = gradient.dtype
    alpha = c["lr"] * tf.sqrt(1 - c["beta_2_power"]) / (1 - c["beta_1_power"])
    m_t = _read(m, dtype)
    m_t = m_t + (gradient - m_t) * (1 - c["beta_1"])
    v_t = _read(v, dtype)
    v_t = v_t + (tf.square(gradient) - v_t) * (1 - c["beta_2"])
    v_hat_t = tf.maximum(_read(v_hat, dtype), v_t)
    tf.raw_ops.AssignVariableOp(resource=m, value=m_t)
    tf.raw_ops.AssignVariableOp(resource=v, value=v_t)
    tf.raw_ops.AssignVariableOp(resource=v_hat, value=v_hat_t)
    tf.raw_ops.AssignSubVariableOp(
        resource=variable, value=m_t * alpha / (tf.sqrt(v_hat_t) + c["epsilon"])
    )


@keras.saving.register_keras_serializable(package="stepsize")
class AdamWeightDecay(keras.optimizers.Adam):
    """Adam with decoupled weight decay, as transformers' TF ``AdamWeightDecay``, on Keras 3.

    Per variable and step ``t`` (from 1), with ``lr`` the (scheduled) learning rate:
    first ``var ← var − lr · weight_decay_rate · var`` (when the variable is decayed), then
    Adam: ``m ← β1·m + (1−β1)·g``, ``v ← β2·v + (1−β2)·g²`` and
    ``var ← var − lr · √(1−β2^t)/(1−β1^t) · m / (√v + ε)`` (ε outside the bias correction,
    as tf-keras' Adam). With ``amsgrad`` the running maximum of ``v`` replaces ``v``.

    A variable is decayed unless ``weight_decay_rate`` is 0 or, failing a match of any
    ``include_in_weight_decay`` pattern, an ``exclude_from_weight_decay`` pattern matches.
    Patterns are regular expressions searched (``re.search``) in the variable's path
    (``variable.path``, e.g. ``"encoder/layer_norm/gamma"``; ``name`` for a bare
    ``tf.Variable``). The update runs TensorFlow's fused Adam kernel, and the decay an
    in-place XLA kernel.

    Args:
        learning_rate: a float, a ``keras.optimizers.schedules.LearningRateSchedule`` or a
            callable without arguments.
        beta_1: decay rate of the first-moment estimate, in [0, 1).
        beta_2: decay rate of the second-moment estimate, in [0, 1).
        epsilon: ε added to √v, >= 0.
        amsgrad: use the AMSGrad variant.
        weight_decay_rate: the decoupled weight decay, >= 0.
        include_in_weight_decay: patterns of variables always decayed (they override
            ``exclude_from_weight_decay``).
        exclude_from_weight_decay: patterns of variables not decayed.
        name: the optimizer's name.
        **kwargs: Keras optimizer arguments: ``clipnorm``, ``clipvalue``,
            ``global_clipnorm``, ``use_ema``, ``gradient_accumulation_steps``, ...

    Raises:
        ValueError: for an argument out of range (named in the message), an invalid
            pattern, or Keras' own ``weight_decay`` (use ``weight_decay_rate``).

    Example:
        >>> import keras
        >>> kernel = keras.Variable([1.0, -2.0], name="kernel")
        >>> optimizer = AdamWeightDecay(learning_rate=0.1, weight_decay_rate=0.1)
        >>> _ = optimizer.apply_gradients([(keras.ops.convert_to_tensor([0.1, -0.2]), kernel)])
        >>> [round(float(x), 5) for x in kernel.numpy()]
        [0.89, -1.88]
    """

    def __init__(
        self,
        learning_rate: float | keras.optimizers.schedules.LearningRateSchedule = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        weight_decay_rate: float = 0.0,
        include_in_weight_decay: list[str] | None = None,
        exclude_from_weight_decay: list[str] | None = None,
        name: str = "AdamWeightDecay",
        **kwargs: Any,
    ) -> None:
        if kwargs.get("weight_decay") is not None:
            raise ValueError(
                f"weight_decay={kwargs['weight_decay']!r} is Keras' own decay; "
                "AdamWeightDecay takes weight_decay_rate"
            )
        if isinstance(learning_rate, numbers.Real) and not isinstance(learning_rate, bool):
            learning_rate = check_real("learning_rate", learning_rate, low=0.0)
        elif not callable(learning_rate):
            raise ValueError(
                "learning_rate must be a float, a LearningRateSchedule or a callable, "
                f"got {learning_rate!r}"
            )
        beta_1 = check_real("beta_1", beta_1, low=0.0, high=1.0, high_open=True)
        beta_2 = check_real("beta_2", beta_2, low=0.0, high=1.0, high_open=True)
        epsilon = check_real("epsilon", epsilon, low=0.0)
        for argument in ("clipnorm", "clipvalue", "global_clipnorm"):
            if kwargs.get(argument) is not None:
                kwargs[argument] = check_real(argument, kwargs[argument], low=0.0, low_open=True)
        if not isinstance(amsgrad, bool):
            raise ValueError(f"amsgrad must be a bool, got {amsgrad!r}")
        super().__init__(
            learning_rate=learning_rate,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            amsgrad=amsgrad,
            name=name,
            **kwargs,
        )
        self.weight_decay_rate = check_real("weight_decay_rate", weight_decay_rate, low=0.0)
        self._include_patterns = check_patterns("include_in_weight_decay", include_in_weight_decay)
        self._exclude_patterns = check_patterns(
            "exclude_from_weight_decay", exclude_from_weight_decay
        )
        self._excluded_keys: set[Any] = set()
        self._decayed: list[bool] = []
        self._coefficients: dict[Any, dict[str, tf.Tensor]] = {}
        self._fused = True  # False runs the plain-TF reference update (for tests).

    def _do_use_weight_decay(self, param_name: str) -> bool:
        """Whether the variable at path ``param_name`` is decayed (transformers' rule)."""
        if self.weight_decay_rate == 0:
            return False
        if any(re.search(p, param_name) for p in self._include_patterns or ()):
            return True
        return not any(re.search(p, param_name) for p in self._exclude_patterns or ())

    def exclude_from_weight_decay(
        self, var_list: list[Any] | None = None, var_names: list[str] | None = None
    ) -> None:
        """Excludes variables (or paths matching ``var_names`` patterns) from the decay.

        Keras' method, kept working for this optimizer's decay; call it before ``build``.

        Raises:
            ValueError: if the optimizer is already built or a pattern is invalid.
        """
        if self.built:
            raise ValueError("exclude_from_weight_decay() must be called before build()")
        names = check_patterns("var_names", var_names) or []
        self._exclude_patterns = (self._exclude_patterns or []) + names
        self._excluded_keys |= {self._var_key(v) for v in var_list or ()}

    def build(self, var_list: list[Any]) -> None:
        if self.built:
            return
        super().build(var_list)
        self._decayed = [
            self._var_key(v) not in self._excluded_keys
            and self._do_use_weight_decay(getattr(v, "path", None) or v.name)
            for v in var_list
        ]

    def _backend_update_step(
        self, grads: Any, trainable_variables: Any, learning_rate: Any
    ) -> None:
        # The scalar coefficients are computed once per (device, dtype) and step, not per
        # variable; the cache only lives while this step is traced or run.
        self._coefficients.clear()
        try:
            super()._backend_update_step(grads, trainable_variables, learning_rate)
        finally:
            self._coefficients.clear()

    def _get_coefficients(self, variable: Any, learning_rate: Any) -> dict[str, tf.Tensor]:
        dtype = variable.dtype
        key = (variable.device, dtype)
        if key not in self._coefficients:
            step = tf.cast(self.iterations + 1, dtype)
            beta_1 = tf.cast(self.beta_1, dtype)
            beta_2 = tf.cast(self.beta_2, dtype)
            self._coefficients[key] = {
                "lr": tf.cast(learning_rate, dtype),
                "beta_1": beta_1,
                "beta_2": beta_2,
                "beta_1_power": tf.pow(beta_1, step),
                "beta_2_power": tf.pow(beta_2, step),
                "epsilon": tf.cast(self.epsilon, dtype),
                "weight_decay_rate": tf.cast(self.weight_decay_rate, dtype),
            }
        return self._coefficients[key]

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        if isinstance(variable, keras.Variable):
            variable = variable.value
        index = self._get_variable_index(variable)
        c = self._get_coefficients(variable, learning_rate)
        gradient = tf.cast(tf.convert_to_tensor(gradient), variable.dtype)
        m = self._momentums[index].value
        v = self._velocities[index].value
        decayed = self._decayed[index]
        if not self._fused:
            self._reference_update(variable, m, v, index, gradient, c, decayed)
            return
        if decayed:
            _decay(variable.handle, c["lr"], c["weight_decay_rate"])
        if self.amsgrad:
            v_hat = self._velocity_hats[index].value
            _amsgrad(variable.handle, m.handle, v.handle, v_hat.handle, gradient, c)
            return
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle,
            m=m.handle,
            v=v.handle,
            beta1_power=c["beta_1_power"],
            beta2_power=c["beta_2_power"],
            lr=c["lr"],
            beta1=c["beta_1"],
            beta2=c["beta_2"],
            epsilon=c["epsilon"],
            grad=gradient,
        )

    def _reference_update(
        self,
        variable: tf.Variable,
        m: tf.Variable,
        v: tf.Variable,
        index: int,
        gradient: tf.Tensor,
        c: dict[str, tf.Tensor],
        decayed: bool,
    ) -> None:
        """The update in plain TensorFlow operations: the readable ground truth."""
        if decayed:
            variable.assign_sub(c["lr"] * variable * c["weight_decay_rate"])
        m.assign(c["beta_1"] * m + (1 - c["beta_1"]) * gradient)
        v.assign(c["beta_2"] * v + (1 - c["beta_2"]) * tf.square(gradient))
        if self.amsgrad:
            v_hat = self._velocity_hats[index].value
            v = v_hat.assign(tf.maximum(v_hat, v))
        step_size = c["lr"] * tf.sqrt(1 - c["beta_2_power"]) / (1 - c["beta_1_power"])
        variable.assign_sub(step_size * m / (tf.sqrt(v) + c["epsilon"]))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "weight_decay_rate": self.weight_decay_rate,
                "include_in_weight_decay": self._include_patterns,
                "exclude_from_weight_decay": self._exclude_patterns,
            }
        )
        return config
