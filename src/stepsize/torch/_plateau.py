"""``get_reduce_on_plateau_schedule``: torch's ``ReduceLROnPlateau``, its arguments checked.

transformers passes the keyword arguments to torch unchecked, and torch checks only some:
a NaN ``factor``, a negative ``patience`` or a ``min_lr`` of the wrong length per group would
fail (or silently misbehave) at a later ``step``. Here each is checked first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch.optim import Optimizer
from torch.optim.lr_scheduler import ReduceLROnPlateau

from stepsize._validation import (
    check_choice,
    check_instance,
    check_int,
    check_real,
    check_sequence,
)

__all__ = ["get_reduce_on_plateau_schedule"]


def get_reduce_on_plateau_schedule(optimizer: Optimizer, **kwargs: Any) -> ReduceLROnPlateau:
    """torch's ``ReduceLROnPlateau(optimizer, **kwargs)``: lowers the lr when a metric stalls.

    Step it with the metric: ``scheduler.step(val_loss)``. The keyword arguments torch takes
    are checked first, so none fails later at a ``step``: ``mode`` "min" or "max", ``factor``
    in [0, 1), ``patience`` and ``cooldown`` integers >= 0, ``threshold`` and ``eps`` finite
    numbers >= 0, ``threshold_mode`` "rel" or "abs", ``min_lr`` a finite number >= 0 or a list
    of one per param group.

    Raises:
        TypeError: if ``optimizer`` is not an optimizer, an argument has the wrong type or
            torch does not take it.
        ValueError: if an argument has a bad value.

    Example:
        >>> import torch
        >>> optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        >>> scheduler = get_reduce_on_plateau_schedule(optimizer, patience=0, factor=0.5)
        >>> for loss in (3.0, 4.0, 5.0):
        ...     scheduler.step(loss)
        >>> scheduler.get_last_lr()
        [0.25]
    """
    check_instance("optimizer", optimizer, Optimizer, "a torch.optim.Optimizer")
    checked = {
        key: _PLATEAU_CHECKS[key](optimizer, value) if key in _PLATEAU_CHECKS else value
        for key, value in kwargs.items()
    }
    return ReduceLROnPlateau(optimizer, **checked)


def _min_lrs(optimizer: Optimizer, value: Any) -> Any:
    if not isinstance(value, list | tuple):
        return check_real("min_lr", value, low=0.0)
    values = check_sequence("min_lr", value, len(optimizer.param_groups))
    return [check_real(f"min_lr[{i}]", v, low=0.0) for i, v in enumerate(values)]


_PLATEAU_CHECKS: dict[str, Callable[[Optimizer, Any], Any]] = {
    "mode": lambda _, v: check_choice("mode", v, ("min", "max")),
    "factor": lambda _, v: check_real("factor", v, low=0.0, high=1.0, high_open=True),
    "patience": lambda _, v: check_int("patience", v, low=0),
    "threshold": lambda _, v: check_real("threshold", v, low=0.0),
    "threshold_mode": lambda _, v: check_choice("threshold_mode", v, ("rel", "abs")),
    "cooldown": lambda _, v: check_int("cooldown", v, low=0),
    "min_lr": _min_lrs,
    "eps": lambda _, v: check_real("eps", v, low=0.0),
}
