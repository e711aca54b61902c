"""Framework-free learning-rate schedules: immutable, serializable functions of the step.

Every transformers ``SchedulerType`` (except the metric-driven ones) is a ``Schedule`` built
by name with ``get``; ``Join``, ``WithWarmup`` and ``Scale`` compose schedules. A schedule
evaluates on Python ints (``s(t)``), NumPy arrays (``s.values(steps)``) and framework
tensors (through ``stepsize.torch`` and ``stepsize.tf``).

Every schedule is finite and >= 0 at every step from 0 to 2**63, for every parameter it
accepts (a parameter it cannot honour is refused when it is built); its values never exceed
``Schedule.upper_bound``. Compositions nest at most ``MAX_DEPTH`` levels and hold at most
``MAX_SCHEDULES`` schedules.

Example:
    >>> from stepsize import schedules
    >>> s = schedules.get("linear", num_warmup_steps=2, num_training_steps=10)
    >>> s(1), s.get_config()
    (0.5, {'name': 'linear', 'num_warmup_steps': 2, 'num_training_steps': 10})
    >>> schedules.from_config(s.get_config()) == s
    True
"""

from stepsize.schedules._base import Schedule, from_config, get, names
from stepsize.schedules._compose import Join, Scale
from stepsize.schedules._constant import Constant, ConstantWithWarmup
from stepsize.schedules._cosine import Cosine, CosineWithRestarts
from stepsize.schedules._cosine_min_lr import CosineWarmupWithMinLR, CosineWithMinLR
from stepsize.schedules._inverse_sqrt import InverseSqrt
from stepsize.schedules._limits import MAX_DEPTH, MAX_SCHEDULES
from stepsize.schedules._linear import Linear
from stepsize.schedules._polynomial import Polynomial
from stepsize.schedules._with_warmup import WithWarmup
from stepsize.schedules._wsd import WarmupStableDecay

__all__ = [
    "MAX_DEPTH",
    "MAX_SCHEDULES",
    "Constant",
    "ConstantWithWarmup",
    "Cosine",
    "CosineWarmupWithMinLR",
    "CosineWithMinLR",
    "CosineWithRestarts",
    "InverseSqrt",
    "Join",
    "Linear",
    "Polynomial",
    "Scale",
    "Schedule",
    "WarmupStableDecay",
    "WithWarmup",
    "from_config",
    "get",
    "names",
]
