"""Low-precision parameters: the ``kahan_sum`` / ``stochastic_round`` options and the write-back.

The optimizers compute a bfloat16/float16 parameter's new value in float32; this module says
how it is written back (:func:`rounding_of`): rounded to nearest (transformers' numbers),
with Kahan compensation (``_kahan.py``; the compensation buffer is the state entry
``kahan_comp``, in the parameter's dtype), or rounded stochastically (``_stochastic_round.py``;
no state: the random bits come from the optimizer's ``seed``, the step and the parameter's
position). float32/float64 parameters are written as computed. Both optimizers check the
options with :func:`check_precision_options` / :func:`check_precision_params`.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from .._validation import check_bool, check_instance, check_int, check_optional, describe
from ._chunks import chunk_numel, pieces
from ._kahan import kahan_update, kahan_update_foreach
from ._optimizer_base import LOW_PRECISION
from ._state_validation import StateEntry, param_shape
from ._stochastic_round import random_bits, stochastic_round, stream_key

__all__ = [
    "KAHAN_ENTRY",
    "KAHAN_KEY",
    "PrecisionOptions",
    "Rounding",
    "check_precision_options",
    "check_precision_params",
    "compensation",
    "local",
    "rounding_of",
    "store",
    "store_foreach",
    "stream_key",
]

Rounding = Literal["nearest", "kahan", "stochastic"]

KAHAN_KEY = "kahan_comp"  # the state entry of the compensation buffer


def _own_dtype(p: torch.Tensor) -> torch.dtype:
    return p.dtype


def _optional(group: Mapping[str, Any], p: torch.Tensor) -> bool:
    """A state without the buffer loads too (transformers', or saved without Kahan): the
    buffer starts at zero."""
    return False


# The buffer as ``load_state_dict`` checks it: the parameter's shape and dtype, finite.
KAHAN_ENTRY = StateEntry(param_shape, _own_dtype, _optional)
_MAX_SEED = 2**64 - 1


def rounding_of(dtype: torch.dtype, kahan_sum: bool | None, stochastic_round: bool) -> Rounding:
    """How a float32 result is written into a parameter of ``dtype``.

    ``kahan_sum=None`` means Kahan for bfloat16/float16 unless ``stochastic_round``; float32
    and float64 parameters are computed in their own dtype ("nearest": written as computed).

    Example:
        >>> rounding_of(torch.bfloat16, None, False), rounding_of(torch.float32, None, False)
        ('kahan', 'nearest')
    """
    if dtype not in LOW_PRECISION:
        return "nearest"
    if stochastic_round:
        return "stochastic"
    return "nearest" if kahan_sum is False else "kahan"


@dataclass(frozen=True, slots=True, kw_only=True)
class PrecisionOptions:
    """A param group's low-precision options: the fields every hyper-parameter record has.

    Example:
        >>> options = PrecisionOptions(stochastic_round=True, seed=7)
        >>> options.rounding(torch.bfloat16), options.key(3, 0) == stream_key(7, 3, 0)
        ('stochastic', True)
    """

    kahan_sum: bool | None = None
    stochastic_round: bool = False
    seed: int | None = None

    @staticmethod
    def of_group(group: Mapping[str, Any]) -> dict[str, Any]:
        """The options of a param group (already validated), as keyword arguments."""
        return {
            "kahan_sum": group.get("kahan_sum"),
            "stochastic_round": bool(group.get("stochastic_round", False)),
            "seed": group.get("seed"),
        }

    def rounding(self, dtype: torch.dtype) -> Rounding:
        """How a parameter of ``dtype`` is written back (see :func:`rounding_of`)."""
        return rounding_of(dtype, self.kahan_sum, self.stochastic_round)

    def key(self, step: float, position: int) -> int | None:
        """The random stream of the parameter at ``position`` at ``step`` (with
        ``stochastic_round``), else None."""
        if not self.stochastic_round or self.seed is None:
            return None
        return stream_key(self.seed, int(step), position)


def check_precision_options(group: dict[str, Any]) -> dict[str, Any]:
    """A param group's ``kahan_sum``, ``stochastic_round`` and ``seed``, validated.

    A ``torch.Generator`` seed, or None with ``stochastic_round``, becomes an int drawn from
    that generator (None: torch's default one), so that state dicts hold plain numbers.

    Raises:
        TypeError: for a wrong type (naming the argument and its value).
        ValueError: if both options are True, or for a negative seed.

    Example:
        >>> check_precision_options({"kahan_sum": None, "stochastic_round": False, "seed": 3})
        {'kahan_sum': None, 'stochastic_round': False, 'seed': 3}
    """
    kahan = check_optional(check_bool, "kahan_sum", group.get("kahan_sum"))
    stochastic = check_bool("stochastic_round", group.get("stochastic_round", False))
    if kahan and stochastic:
        raise ValueError(
            "kahan_sum and stochastic_round must not both be True, "
            "got kahan_sum=True, stochastic_round=True"
        )
    seed = group.get("seed")
    if seed is not None and not isinstance(seed, torch.Generator):
        check_instance("seed", seed, numbers.Integral, "an integer or a torch.Generator")
    if isinstance(seed, torch.Generator) or (seed is None and stochastic):
        seed = int(torch.randint(0, 2**62, (), generator=seed))
    seed = check_optional(check_int, "seed", seed, low=0, high=_MAX_SEED)
    return {"kahan_sum": kahan, "stochastic_round": stochastic, "seed": seed}


def check_precision_params(
    params: Iterable[torch.Tensor], kahan_sum: bool | None, stochastic_round: bool
) -> None:
    """Explicit ``kahan_sum=True`` or ``stochastic_round=True`` need bfloat16/float16 params.

    Raises:
        ValueError: naming the option and the dtype of the first parameter that is not.
    """
    for name, value in (("kahan_sum", kahan_sum), ("stochastic_round", stochastic_round)):
        if not value:
            continue
        for p in params:
            if p.dtype not in LOW_PRECISION:
                raise ValueError(
                    f"{name} must be {'None or ' if name == 'kahan_sum' else ''}False with "
                    f"{describe(p.dtype).removeprefix('torch.')} parameters (it is for "
                    f"bfloat16/float16 ones), got True"
                )


def compensation(state: dict[str, Any], p: torch.Tensor, rounding: Rounding) -> Any:
    """The Kahan buffer of ``p`` (created as zeros, kept in p's dtype and device), or None
    when ``rounding`` is not Kahan (a buffer left from other settings is dropped)."""
    comp = state.get(KAHAN_KEY)
    if rounding != "kahan":
        if comp is not None:
            del state[KAHAN_KEY]
        return None
    if comp is None or comp.shape != p.shape:
        comp = state[KAHAN_KEY] = torch.zeros_like(p, memory_format=torch.preserve_format)
    elif comp.dtype != p.dtype or comp.device != p.device:  # e.g. the model moved
        comp = state[KAHAN_KEY] = comp.to(dtype=p.dtype, device=p.device)
    return comp


def local(tensor: torch.Tensor) -> torch.Tensor:
    """A DTensor's local shard (elementwise work is the same on it), else the tensor."""
    to_local = getattr(tensor, "to_local", None)
    return tensor if to_local is None else to_local()


def store(
    p: torch.Tensor, new: torch.Tensor, rounding: Rounding, comp: Any, key: int | None
) -> None:
    """Writes the float32 result ``new`` into the low-precision parameter ``p``.

    Args:
        p: the parameter (bfloat16/float16), still holding its old value.
        new: its new value as computed in float32.
        rounding: how to round (see :func:`rounding_of`).
        comp: the Kahan buffer (with ``"kahan"``), else None.
        key: the random stream's key (with ``"stochastic"``: see ``stream_key``), else None.
    """
    p, new = local(p), local(new)
    comp = None if comp is None else local(comp)
    whole = [p, new] if comp is None else [p, new, comp]
    limit = chunk_numel(whole)
    if limit is not None and p.numel() > limit:  # in cache-sized pieces (``_chunks.py``)
        for piece in pieces([p.numel()], limit):
            piece_comp = None if comp is None else piece.of(comp)
            piece_key = None if key is None else key + piece.start
            _store(piece.of(p), piece.of(new), rounding, piece_comp, piece_key)
        return
    _store(p, new, rounding, comp, key)


def _store(
    p: torch.Tensor, new: torch.Tensor, rounding: Rounding, comp: Any, key: int | None
) -> None:
    if rounding == "kahan":
        rounded, comp_new = kahan_update(p.float(), new, comp)
        p.copy_(rounded)
        comp.copy_(comp_new)
    elif rounding == "stochastic":
        if key is None:
            raise ValueError("stochastic rounding needs a key")
        bits = random_bits(new.numel(), key, new.device).view(new.shape)
        p.copy_(stochastic_round(new, p.dtype, bits))
    else:
        p.copy_(new)


def store_foreach(
    params: Sequence[torch.Tensor],
    news: list[torch.Tensor],
    rounding: Rounding,
    comps: Sequence[Any],
    keys: Sequence[int | None],
) -> None:
    """:func:`store` of lists of one dtype (``news`` may be overwritten as scratch)."""
    if rounding == "kahan":
        ps, ns, cs = ([local(t) for t in ts] for ts in (params, news, comps))
        kahan_update_foreach(ps, [p.float() for p in ps], ns, cs)
    elif rounding == "stochastic":
        for p, new, key in zip(params, news, keys, strict=True):
            store(p, new, rounding, None, key)
    else:
        torch._foreach_copy_(list(params), news)
