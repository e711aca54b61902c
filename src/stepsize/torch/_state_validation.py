"""Validated, all-or-nothing loading of an optimizer's state dict.

:func:`validated_state` checks a state dict against the optimizer it is loaded into and returns
the param groups and state to install (new objects; the optimizer is not touched), or raises.
What a parameter's state may hold is the optimizer's :class:`StateDescription`: one
:class:`StateEntry` per tensor (its shape and dtype follow from the parameter; whether a group
needs it) and how the step count is stored. A new state tensor is one more entry.

Checked: the structure (as many groups, of the same sizes; state keyed by the saved parameter
ids); every group's options, by the constructor's checks; and each parameter's state: the
entries its group needs, no unknown ones, ``step`` a whole number in [0, 2**63], tensors of the
entry's shape, floating point, finite (and >= 0 where the entry says so), each in memory of its
own. Tensors are cast to the parameter's device and the entry's dtype, and made contiguous.
A parameter without state (never stepped) stays without.
"""

from __future__ import annotations

import math
import numbers
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from .._validation import MAX_STEPS, check_int, check_real, check_sequence, describe

__all__ = [
    "StateDescription",
    "StateEntry",
    "always",
    "check_shapes",
    "misfit",
    "param_shape",
    "validated_state",
]


def param_shape(param: torch.Tensor) -> tuple[int, ...]:
    """A ``StateEntry.shape`` for entries shaped as the parameter."""
    return tuple(param.shape)


def always(group: Mapping[str, Any], param: torch.Tensor) -> bool:
    """A ``StateEntry.needed`` for entries every stepped parameter has."""
    return True


@dataclass(frozen=True)
class StateEntry:
    """One tensor of a parameter's state.

    Attributes:
        shape: the parameter -> the entry's shape.
        dtype: the parameter -> the dtype the entry is kept in.
        needed: (group options, parameter) -> whether a stepped parameter must have it; an
            entry that is not needed may still be present (and is then checked).
        low: the least value it may hold (real dtypes), or None: second moments, whose
            square root or reciprocal a step takes.
        in_place: whether steps update it in place (then it must not share memory with a
            parameter or another such entry); False for entries a step replaces.
    """

    shape: Callable[[torch.Tensor], tuple[int, ...]]
    dtype: Callable[[torch.Tensor], torch.dtype]
    needed: Callable[[Mapping[str, Any], torch.Tensor], bool] = always
    low: float | None = None
    in_place: bool = True


@dataclass(frozen=True)
class StateDescription:
    """What a parameter's state holds: ``step``, stored by ``step``, and tensor ``entries``."""

    entries: Mapping[str, StateEntry]
    step: Callable[[int], Any]


def validated_state(
    optimizer: torch.optim.Optimizer,
    state_dict: Any,
    description: StateDescription,
    check_group: Callable[[dict[str, Any]], dict[str, Any]],
    kept_options: tuple[str, ...],
) -> dict[str, Any]:
    """The ``{"state": ..., "param_groups": ...}`` that loading ``state_dict`` installs.

    Args:
        optimizer: the optimizer loaded into (read only).
        state_dict: what ``state_dict()`` returned, possibly altered or from transformers.
        description: what a parameter's state holds.
        check_group: validates a group's options (given with ``params``), returning them
            normalized: the constructor's check.
        kept_options: options a saved group may lack (older or transformers' checkpoints);
            they keep the optimizer's values.

    Raises:
        TypeError: for a value of the wrong type (naming where it is).
        ValueError: for a structure, option or state that does not fit, naming the group and
            parameter index.
    """
    _check_dict("state_dict", state_dict)
    for key in ("state", "param_groups"):
        if key not in state_dict:
            raise ValueError(f"state_dict must have 'state' and 'param_groups', has no {key!r}")
    groups = optimizer.param_groups
    saved_groups = check_sequence("state_dict['param_groups']", state_dict["param_groups"])
    if len(saved_groups) != len(groups):
        raise ValueError(
            f"state_dict['param_groups'] must hold {len(groups)} groups, as the optimizer, "
            f"got {len(saved_groups)}"
        )
    required = [key for key in optimizer.defaults if all(key in group for group in groups)]
    new_groups, where = [], {}
    for index, (group, saved) in enumerate(zip(groups, saved_groups, strict=True)):
        new_groups.append(_group(index, group, saved, check_group, required, kept_options))
        for j, saved_id in enumerate(saved["params"]):
            name = f"param_groups[{index}]['params'][{j}]"
            if not _hashable(saved_id):
                raise TypeError(f"{name} must be a parameter id, got {describe(saved_id)}")
            if saved_id in where:
                raise ValueError(f"{name} must be a new parameter id, got {describe(saved_id)}")
            where[saved_id] = (index, j)
    saved_state = _check_dict("state_dict['state']", state_dict["state"])
    state: defaultdict[torch.Tensor, dict[str, Any]] = defaultdict(dict)  # as torch's
    owners: dict[int, str] = {}
    for p in (p for group in groups for p in group["params"]):
        owners.setdefault(_memory(p), "a parameter")
    for saved_id, saved in saved_state.items():
        if not _hashable(saved_id) or saved_id not in where:
            raise ValueError(
                f"state_dict['state'] is keyed by the saved parameter ids, got {describe(saved_id)}"
                ", which no param group lists"
            )
        index, j = where[saved_id]
        group, p = new_groups[index], groups[index]["params"][j]
        location = f"state of param_groups[{index}]['params'][{j}]"
        try:
            entries = _param_state(group, p, saved, description, owners, location)
        except (TypeError, ValueError) as error:
            raise type(error)(f"{location}: {error}") from None
        if entries:
            state[p] = entries
    return {"state": state, "param_groups": new_groups}


def check_shapes(description: StateDescription, p: torch.Tensor, state: Mapping[str, Any]) -> None:
    """Raise ValueError unless every tensor entry of ``state`` has the shape ``p`` needs.

    For a step: cheap (no device sync), it catches a state changed by hand, or a parameter
    resized since, with a clear message.
    """
    for key, entry in description.entries.items():
        value = state.get(key)
        if isinstance(value, torch.Tensor) and tuple(value.shape) != tuple(entry.shape(p)):
            raise ValueError(misfit(key, value, p))


def misfit(key: str, value: torch.Tensor, p: torch.Tensor) -> str:
    """The message of a step whose state entry ``key`` no longer fits the parameter ``p``."""
    return (
        f"{key} has shape {tuple(value.shape)}, the parameter {tuple(p.shape)}: the optimizer "
        "state no longer fits its parameter (changed by hand, or the parameter resized?)"
    )


def _group(
    index: int,
    group: dict[str, Any],
    saved: Any,
    check_group: Callable[[dict[str, Any]], dict[str, Any]],
    required: list[str],
    kept_options: tuple[str, ...],
) -> dict[str, Any]:
    """A saved group with this group's parameters, its options checked and normalized."""
    where = f"param_groups[{index}]"
    saved = _check_dict(where, saved)
    ids = check_sequence(f"{where}['params']", saved.get("params"))
    params = group["params"]
    if len(ids) != len(params):
        raise ValueError(
            f"{where}['params'] must list {len(params)} parameters, as the optimizer's group, "
            f"got {len(ids)}"
        )
    new_group = {key: group[key] for key in kept_options if key in group}
    new_group.update(saved)
    missing = [key for key in required if key not in new_group]
    if missing:
        raise ValueError(f"{where} must have every option, has no {missing[0]!r}")
    new_group["params"] = params
    if "param_names" in group and "param_names" not in saved:
        new_group["param_names"] = group["param_names"]
    try:
        new_group.update(check_group(new_group))
    except (TypeError, ValueError) as error:
        raise type(error)(f"{where}: {error}") from None
    return new_group


def _param_state(
    group: Mapping[str, Any],
    p: torch.Tensor,
    saved: Any,
    description: StateDescription,
    owners: dict[int, str],
    location: str,
) -> dict[str, Any]:
    """One parameter's state, checked and converted (empty: the parameter has no state)."""
    saved = _check_dict("the state", saved)
    if not saved:
        return {}
    entries = description.entries
    unknown = [key for key in saved if key != "step" and key not in entries]
    if unknown:
        known = ", ".join(repr(key) for key in ("step", *entries))
        raise ValueError(f"{describe(unknown[0])} is not a state entry (those are {known})")
    needed = ["step", *(key for key, entry in entries.items() if entry.needed(group, p))]
    missing = [key for key in needed if key not in saved]
    if missing:
        raise ValueError(f"{missing[0]} is missing (the state has {', '.join(map(str, saved))})")
    state = {"step": description.step(_step(saved["step"]))}
    for key, entry in entries.items():
        if key in saved:
            state[key] = value = _tensor(key, saved[key], entry, p)
            if entry.in_place:
                owner = owners.setdefault(_memory(value), f"{location}['{key}']")
                if owner != f"{location}['{key}']":
                    raise ValueError(f"{key} must have memory of its own, it shares {owner}'s")
    return state


def _step(value: Any) -> int:
    """A step count: a whole number in [0, MAX_STEPS], as an int, a float or a 0-d tensor."""
    if isinstance(value, torch.Tensor):
        if value.dim() != 0 or value.dtype == torch.bool or value.is_complex() or value.is_meta:
            raise TypeError(f"step must be a number or a 0-d real tensor, got {describe(value)}")
        value = value.item()
    if isinstance(value, numbers.Real) and not isinstance(value, bool | numbers.Integral):
        number = float(value)
        if not (math.isfinite(number) and number.is_integer()):
            raise ValueError(f"step must be a whole number >= 0, got {describe(value)}")
        value = int(number)
    return check_int("step", value, low=0, high=MAX_STEPS)


def _tensor(key: str, value: Any, entry: StateEntry, p: torch.Tensor) -> torch.Tensor:
    """A state tensor, checked against ``entry`` and ``p``, on p's device in the entry's dtype."""
    shape = entry.shape(p)
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and shape == ():
        # a 0-d entry saved as a number (transformers' RMS before its first step)
        value = torch.tensor(float(check_real(key, value)))
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{key} must be a tensor, got {describe(value)} ({type(value).__name__})")
    dtype = entry.dtype(p)
    if not (value.is_floating_point() or (value.is_complex() and dtype.is_complex)):
        raise TypeError(f"{key} must be a floating-point tensor, got one of {value.dtype}")
    if value.layout != torch.strided or value.is_meta:
        raise TypeError(f"{key} must be a dense tensor, got a {value.layout} one on {value.device}")
    if tuple(value.shape) != tuple(shape):
        raise ValueError(
            f"{key} has shape {tuple(value.shape)}, the parameter {tuple(p.shape)}"
            + ("" if shape == tuple(p.shape) else f" (so {key} must have {tuple(shape)})")
        )
    value = value.to(device=p.device, dtype=dtype).contiguous()
    if value.numel():
        real = torch.view_as_real(value) if value.is_complex() else value
        least, most = (float(x) for x in torch.aminmax(real))
        if not (math.isfinite(least) and math.isfinite(most)):
            raise ValueError(f"{key} must hold finite values in {dtype}, it holds NaN or inf")
        if entry.low is not None and not value.is_complex() and least < entry.low:
            raise ValueError(f"{key} must hold values >= {entry.low!r}, it holds {least!r}")
    return value


def _check_dict(argument: str, value: Any) -> Mapping[Any, Any]:
    """``value`` if it is a dict; else TypeError naming its type (a repr could span lines)."""
    if not isinstance(value, Mapping):
        raise TypeError(f"{argument} must be a dict, got a {type(value).__name__}")
    return value


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _memory(tensor: torch.Tensor) -> int:
    """An id of the memory ``tensor`` lives in (its own id where storage is not reachable)."""
    if type(tensor) not in (torch.Tensor, torch.nn.Parameter) or not tensor.numel():
        return id(tensor)
    return tensor.untyped_storage().data_ptr()
