"""Adafactor's compiled update of a factored bfloat16/float16 parameter (without ``beta1``).

The blocked path's second pass, p ← decay·p + g_ij·a_i·c_j (a_i the signed lr factor of row
i, c_j the column factor), written back with Kahan summation or stochastic rounding, as one
compiled loop over the whole (batch, m, n) parameter: it reads p, g and the Kahan buffer c
(6 bytes per element in bfloat16) and writes p and c, with the outer product a⊗c formed in
registers. The same float32 operations as the eager blocks (``_adafactor_blocks.py``), in
their order, so the two agree to float32 rounding of the update.
"""

from __future__ import annotations

import functools

import torch

from ._compiled import CompiledKernel
from ._kahan import kahan_update
from ._lowp import Rounding
from ._stochastic_round import random_bits, stochastic_round

__all__ = ["factored_update"]


def _new_value(
    p: torch.Tensor, g: torch.Tensor, a: torch.Tensor, c: torch.Tensor, decay: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    old = p.float()
    return old, old * decay + g.float() * (a * c)


def _kahan_update(
    p: torch.Tensor,
    g: torch.Tensor,
    comp: torch.Tensor,
    a: torch.Tensor,
    c: torch.Tensor,
    decay: torch.Tensor,
) -> None:
    old, new = _new_value(p, g, a, c, decay)
    rounded, comp_new = kahan_update(old, new, comp)
    p.copy_(rounded)
    comp.copy_(comp_new)


def _stochastic_update(
    p: torch.Tensor,
    g: torch.Tensor,
    key: int,
    a: torch.Tensor,
    c: torch.Tensor,
    decay: torch.Tensor,
) -> None:
    new = _new_value(p, g, a, c, decay)[1]
    bits = random_bits(p.numel(), key, p.device).view(p.shape)
    p.copy_(stochastic_round(new, p.dtype, bits))


KAHAN = CompiledKernel(_kahan_update)
STOCHASTIC = CompiledKernel(_stochastic_update)


@functools.cache
def _one(device: torch.device) -> torch.Tensor:
    return torch.ones((), device=device)


def factored_update(
    p: torch.Tensor,
    g: torch.Tensor,
    a: torch.Tensor,
    c: torch.Tensor,
    decay: torch.Tensor | None,
    rounding: Rounding,
    comp: torch.Tensor | None,
    key: int | None,
) -> bool:
    """Runs the compiled update if it applies to this parameter; returns whether it ran.

    Args:
        p, g: the parameter and its gradient (contiguous), shaped (batch, m, n).
        a: the rows' signed factors (batch, m, 1); c: the columns' factors (batch, 1, n).
        decay: the weight decay factor (0-d), or None.
        rounding, comp, key: how p is written back (see ``_lowp.store``).
    """
    decay = _one(p.device) if decay is None else decay
    if rounding == "kahan" and comp is not None and KAHAN.usable(p):
        KAHAN(p, g, comp.view(p.shape), a, c, decay)
        return True
    if rounding == "stochastic" and key is not None and STOCHASTIC.usable(p):
        STOCHASTIC(p, g, key, a, c, decay)
        return True
    return False
