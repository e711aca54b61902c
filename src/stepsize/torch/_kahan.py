"""Kahan-compensated writes of float32 results into bfloat16/float16 parameters.

A parameter p stored in low precision loses every update u smaller than half a unit of p when
p + u is rounded to nearest. Kahan summation keeps what the rounding dropped in a compensation
buffer c (in p's dtype) and adds it to the next update; with the update u = new − p of the
step (new: the float32 value the optimizer computed from p), in float32::

    s ← u + c
    p ← round(p + s)            (to nearest, in p's dtype)
    c ← round(s − (p_new − p_old))

p + c then carries about twice p's significant bits (16 for bfloat16): the lost updates are
applied as soon as they add up to a unit. p_new − p_old is exact in float32 (two nearby
low-precision values), so c holds what the rounding of p dropped, itself rounded to c's dtype.
"""

from __future__ import annotations

import torch

__all__ = ["kahan_update", "kahan_update_foreach"]


def kahan_update(
    old: torch.Tensor, new: torch.Tensor, comp: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The Kahan-compensated (p, c) after an update from ``old`` to ``new``.

    Args:
        old: p before the step, in float32 (its exact value).
        new: the float32 value the step computed for p.
        comp: the compensation buffer c, in p's dtype.

    Returns:
        (p, c) in c's dtype; the caller writes them into the parameter and the buffer.

    Example:
        >>> old = torch.ones(1)  # a bfloat16 1.0; its unit is 2^-7
        >>> p, c = kahan_update(old, old + 2.0**-9, torch.zeros(1, dtype=torch.bfloat16))
        >>> p.item(), c.item()  # rounded away, kept in c
        (1.0, 0.001953125)
        >>> p, c = kahan_update(old, old + 2.0**-8, c)  # 2^-8 + 2^-9 passes half a unit
        >>> p.item(), c.item()
        (1.0078125, -0.001953125)
    """
    total = (new - old) + comp.float()
    rounded = (old + total).to(comp.dtype)
    return rounded, (total - (rounded.float() - old)).to(comp.dtype)


def kahan_update_foreach(
    params: list[torch.Tensor],
    olds: list[torch.Tensor],
    news: list[torch.Tensor],
    comps: list[torch.Tensor],
) -> None:
    """:func:`kahan_update` of lists, written into ``params`` and ``comps`` in place.

    ``olds`` (float32 copies of the parameters before the step) and ``news`` (float32) are
    overwritten as scratch.
    """
    torch._foreach_sub_(news, olds)
    torch._foreach_add_(news, comps)  # s = u + c
    torch._foreach_copy_(params, torch._foreach_add(olds, news))  # p ← round(p + s)
    torch._foreach_sub_(olds, params)  # −(p_new − p_old), exact
    torch._foreach_add_(news, olds)
    torch._foreach_copy_(comps, news)
