"""Checks the LR schedulers share: learning rates, per-group lists and loaded state dicts.

A scheduler's ``load_state_dict`` checks every entry of the state dict it is given with
``checked_state`` before it changes anything, so a rejected state leaves the scheduler and the
optimizer as they were; the messages name the entry (``state_dict['base_lrs'][1]``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from stepsize._validation import check_instance, check_int, check_real, check_sequence, describe

__all__ = [
    "checked_state",
    "count",
    "group_lr",
    "lr_list",
    "lr_value",
    "set_group_lr",
    "shared_value",
]


def lr_value(argument: str, value: Any) -> float:
    """A learning rate as a float: a finite real >= 0, or a one-element float tensor holding one.

    Raises:
        TypeError: if ``value`` is neither (None, a string, a bool, an integer tensor...).
        ValueError: if it is NaN, infinite or negative.

    Example:
        >>> lr_value("lr", torch.tensor(0.5))
        0.5
    """
    if isinstance(value, torch.Tensor):
        if value.numel() != 1 or not value.is_floating_point():
            raise TypeError(
                f"{argument} must be a number or a one-element float tensor, got {describe(value)}"
            )
        value = value.item()
    return float(check_real(argument, value, low=0.0))


def lr_list(argument: str, value: Any, length: int, floats: bool = False) -> list[Any]:
    """A list of ``length`` learning rates (numbers or one-element tensors), each checked.

    Returns them as floats with ``floats``, else as given with tensors cloned: either way the
    result shares nothing with ``value``.
    """
    items = check_sequence(argument, value, length)
    checked = [lr_value(f"{argument}[{index}]", item) for index, item in enumerate(items)]
    if floats:
        return checked
    return [item.clone() if isinstance(item, torch.Tensor) else item for item in items]


def count(argument: str, value: Any) -> int:
    """A saved counter or step: an integer in [0, 2**63]."""
    return check_int(argument, value, low=0)


def group_lr(optimizer: torch.optim.Optimizer, index: int, key: str = "lr") -> float:
    """Param group ``index``'s ``key`` (its lr), checked: an lr that is already NaN or negative
    when a scheduler takes over is an error, not a value to scale."""
    return lr_value(f"param_groups[{index}][{key!r}]", optimizer.param_groups[index][key])


def set_group_lr(group: dict[str, Any], lr: float) -> None:
    """Sets a param group's lr; a tensor lr (capturable / fused optimizers) is updated in
    place, never replaced."""
    if isinstance(group["lr"], torch.Tensor):
        group["lr"].fill_(lr)
    else:
        group["lr"] = lr


def shared_value(argument: str, values: Sequence[Any], index: int, advice: str) -> Any:
    """The value every param group shares, for param group ``index``, added later.

    Raises:
        ValueError: if the groups have different values (``advice`` says what to do).
    """
    if values and all(value == values[0] for value in values):
        return values[0]
    raise ValueError(
        f"{argument} must be the same for every param group to extend it to param group "
        f"{index}, added to the optimizer later, got {describe(list(values))}: {advice}"
    )


def checked_state(
    state_dict: Any,
    checks: Mapping[str, Callable[[str, Any], Any]],
    ignored: Sequence[str] = (),
) -> dict[str, Any]:
    """The entries of ``state_dict``, each checked (and normalized) by ``checks[key]``.

    Keys in ``ignored`` (another class's, with nothing to restore) are left out; any other
    unknown key is an error, as is a state dict that is not a dict.

    Raises:
        TypeError: if ``state_dict`` is not a dict, or an entry has the wrong type.
        ValueError: if a key is unknown, or an entry has a bad value.
    """
    check_instance("state_dict", state_dict, dict, "a dict")
    unknown = [key for key in state_dict if key not in checks and key not in ignored]
    if unknown:
        raise ValueError(
            f"state_dict must hold only the keys {', '.join(checks)}, got {describe(unknown)}"
        )
    return {
        key: check(f"state_dict[{key!r}]", state_dict[key])
        for key, check in checks.items()
        if key in state_dict
    }
