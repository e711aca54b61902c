"""TensorFlow / Keras 3 optimizers and schedules with transformers' TF API and numbers.

Replaces ``transformers.optimization_tf``: change the import, keep the code. Every class is a
registered Keras serializable, so models compiled with them load without ``custom_objects``.

Example:
    >>> from stepsize.tf import create_optimizer
    >>> optimizer, lr_schedule = create_optimizer(1e-3, num_train_steps=100, num_warmup_steps=10)
    >>> round(float(lr_schedule(5)), 6)
    0.0005
"""

try:
    import keras as _keras  # noqa: F401
    import tensorflow as _tensorflow  # noqa: F401
except ModuleNotFoundError as _missing:
    if _missing.name not in ("tensorflow", "keras"):
        raise
    _message = "stepsize.tf needs TensorFlow and Keras 3: pip install 'stepsize[tf]'"
    raise ModuleNotFoundError(_message, name=_missing.name) from None

from stepsize.tf._adam_weight_decay import AdamWeightDecay
from stepsize.tf._create_optimizer import create_optimizer
from stepsize.tf._gradient_accumulator import GradientAccumulator
from stepsize.tf._keras_schedule import KerasSchedule
from stepsize.tf._warmup import WarmUp

__all__ = [
    "AdamWeightDecay",
    "GradientAccumulator",
    "KerasSchedule",
    "WarmUp",
    "create_optimizer",
]
