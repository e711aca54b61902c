"""PyTorch optimizers, LR schedulers and helpers with transformers' API and numbers.

Replaces ``transformers.optimization``: change the import, keep the code.
"""

try:
    import torch as _torch  # noqa: F401
except ModuleNotFoundError as _missing:
    if _missing.name != "torch":
        raise
    _message = "stepsize.torch needs PyTorch: pip install 'stepsize[torch]'"
    raise ModuleNotFoundError(_message, name="torch") from None

from stepsize.torch._accumulation import GradientAccumulation
from stepsize.torch._adafactor_optimizer import Adafactor
from stepsize.torch._adafactor_schedule import AdafactorSchedule, get_adafactor_schedule
from stepsize.torch._adamw_optimizer import AdamW
from stepsize.torch._get_scheduler import TYPE_TO_SCHEDULER_FUNCTION, SchedulerType, get_scheduler
from stepsize.torch._greedy import GreedyLR, get_greedy_schedule
from stepsize.torch._param_groups import default_no_decay, param_groups
from stepsize.torch._scheduled_lr import ScheduledLR
from stepsize.torch._schedulers import (
    get_constant_schedule,
    get_constant_schedule_with_warmup,
    get_cosine_schedule_with_warmup,
    get_cosine_with_hard_restarts_schedule_with_warmup,
    get_cosine_with_min_lr_schedule_with_warmup,
    get_cosine_with_min_lr_schedule_with_warmup_lr_rate,
    get_inverse_sqrt_schedule,
    get_linear_schedule_with_warmup,
    get_polynomial_decay_schedule_with_warmup,
    get_reduce_on_plateau_schedule,
    get_wsd_schedule,
)
from stepsize.torch._streaming_average import StreamingAverage

__all__ = [
    "TYPE_TO_SCHEDULER_FUNCTION",
    "Adafactor",
    "AdafactorSchedule",
    "AdamW",
    "GradientAccumulation",
    "GreedyLR",
    "ScheduledLR",
    "SchedulerType",
    "StreamingAverage",
    "default_no_decay",
    "get_adafactor_schedule",
    "get_constant_schedule",
    "get_constant_schedule_with_warmup",
    "get_cosine_schedule_with_warmup",
    "get_cosine_with_hard_restarts_schedule_with_warmup",
    "get_cosine_with_min_lr_schedule_with_warmup",
    "get_cosine_with_min_lr_schedule_with_warmup_lr_rate",
    "get_greedy_schedule",
    "get_inverse_sqrt_schedule",
    "get_linear_schedule_with_warmup",
    "get_polynomial_decay_schedule_with_warmup",
    "get_reduce_on_plateau_schedule",
    "get_scheduler",
    "get_wsd_schedule",
    "param_groups",
]
