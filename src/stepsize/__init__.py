"""stepsize: optimizers, learning-rate schedules and gradient accumulation.

``import stepsize`` loads only the framework-free schedules; ``stepsize.torch`` and
``stepsize.tf`` hold the PyTorch and TensorFlow/Keras parts and are imported on demand.

Example:
    >>> import stepsize
    >>> stepsize.schedules.get("cosine", num_warmup_steps=0, num_training_steps=2)(2)
    0.0
"""

from stepsize import schedules
from stepsize.schedules import Schedule

__all__ = ["Schedule", "__version__", "schedules"]

__version__ = "0.1.0"
