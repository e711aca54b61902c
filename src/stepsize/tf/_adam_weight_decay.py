"""``AdamWeightDecay``: Adam with decoupled weight decay, transformers' TF semantics on Keras 3."""

from __future__ import annotations

import numbers
from typing import Any

import keras
import tensorflow as tf

from stepsize._validation import check_bool, check_callable, check_real, describe
from stepsize.tf._adam_fused import fused_update
from stepsize.tf._adam_reference import (
    AdamVariables,
    Coefficients,
    adam_coefficients,
    reference_update,
)
from stepsize.tf._decay_rule import check_patterns, is_decayed

__all__ = ["AdamWeightDecay"]

_KERAS_CLIPPING = ("clipnorm", "clipvalue", "global_clipnorm")


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
    ``tf.Variable``).

    Args:
        learning_rate: a number >= 0, a ``keras.optimizers.schedules.LearningRateSchedule``
            or a callable without arguments.
        beta_1: decay rate of the first-moment estimate, in [0, 1).
        beta_2: decay rate of the second-moment estimate, in [0, 1).
        epsilon: ε added to √v, >= 0.
        amsgrad: use the AMSGrad variant.
        weight_decay_rate: the decoupled weight decay, >= 0.
        include_in_weight_decay: patterns of variables always decayed (they override
            ``exclude_from_weight_decay``).
        exclude_from_weight_decay: patterns of variables not decayed.
        name: the optimizer's name.
        fused: True runs TensorFlow's fused Adam kernel and an in-place XLA kernel for the
            decay (fast); False the same update in plain TensorFlow operations, the readable
            reference the fused path is tested against. Both give the same numbers up to
            rounding.
        **kwargs: Keras optimizer arguments: ``clipnorm``, ``clipvalue``,
            ``global_clipnorm``, ``use_ema``, ``gradient_accumulation_steps``, ...

    Raises:
        TypeError: for an argument of the wrong type (named in the message), e.g. a string
            learning rate, ``amsgrad=1`` or a bare string of patterns.
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
        *,
        fused: bool = True,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("weight_decay") is not None:
            raise ValueError(
                "weight_decay must be None (AdamWeightDecay takes weight_decay_rate), "
                f"got {describe(kwargs['weight_decay'])}"
            )
        if isinstance(learning_rate, numbers.Real):
            learning_rate = float(check_real("learning_rate", learning_rate, low=0.0))
        else:
            check_callable(
                "learning_rate",
                learning_rate,
                "a number >= 0, a LearningRateSchedule or a callable",
            )
        for argument in _KERAS_CLIPPING:
            if kwargs.get(argument) is not None:
                kwargs[argument] = float(
                    check_real(argument, kwargs[argument], low=0.0, low_open=True)
                )
        super().__init__(
            learning_rate=learning_rate,
            beta_1=float(check_real("beta_1", beta_1, low=0.0, high=1.0, high_open=True)),
            beta_2=float(check_real("beta_2", beta_2, low=0.0, high=1.0, high_open=True)),
            epsilon=float(check_real("epsilon", epsilon, low=0.0)),
            amsgrad=check_bool("amsgrad", amsgrad),
            name=name,
            **kwargs,
        )
        self.weight_decay_rate = float(check_real("weight_decay_rate", weight_decay_rate, low=0.0))
        self._include_patterns = check_patterns("include_in_weight_decay", include_in_weight_decay)
        self._exclude_patterns = check_patterns(
            "exclude_from_weight_decay", exclude_from_weight_decay
        )
        self.fused = check_bool("fused", fused)
        self._excluded_keys: set[Any] = set()
        self._decayed: list[bool] = []
        self._coefficients: dict[Any, Coefficients] = {}

    def _do_use_weight_decay(self, param_name: str) -> bool:
        """Whether the variable at path ``param_name`` is decayed (transformers' rule)."""
        return is_decayed(
            param_name, self.weight_decay_rate, self._include_patterns, self._exclude_patterns
        )

    def exclude_from_weight_decay(
        self, var_list: list[Any] | None = None, var_names: list[str] | None = None
    ) -> None:
        """Excludes variables (or paths matching ``var_names`` patterns) from the decay.

        Keras' method, kept working for this optimizer's decay; call it before ``build``.

        Raises:
            TypeError: if ``var_names`` is not a list or tuple of strings.
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

    def _get_coefficients(self, variable: Any, learning_rate: Any) -> Coefficients:
        key = (variable.device, variable.dtype)
        if key not in self._coefficients:
            self._coefficients[key] = adam_coefficients(
                self.iterations + 1,
                learning_rate,
                self.beta_1,
                self.beta_2,
                self.epsilon,
                self.weight_decay_rate,
                variable.dtype,
            )
        return self._coefficients[key]

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        if isinstance(variable, keras.Variable):
            variable = variable.value
        index = self._get_variable_index(variable)
        variables = AdamVariables(
            variable,
            self._momentums[index].value,
            self._velocities[index].value,
            self._velocity_hats[index].value if self.amsgrad else None,
        )
        update = fused_update if self.fused else reference_update
        update(
            variables,
            tf.cast(tf.convert_to_tensor(gradient), variable.dtype),
            self._get_coefficients(variable, learning_rate),
            self._decayed[index],
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "weight_decay_rate": self.weight_decay_rate,
                "include_in_weight_decay": self._include_patterns,
                "exclude_from_weight_decay": self._exclude_patterns,
                "fused": self.fused,
            }
        )
        return config
