"""AdamW's compiled path for bfloat16/float16 parameters with Kahan summation or stochastic
rounding: the whole update of one tensor in one compiled loop.

The reference loop's operations, in its order and in float32, on 1-D views of p, g, m, v
(and the Kahan buffer c): per element it reads 10 bytes (p, g, m, v, c in bfloat16) and writes
8 (p, m, v, c) where torch's fused float32 AdamW moves 28. The kernels are compiled once per
dtype and device type (``_compiled.CompiledKernel``); tensors the compiled path does not take
(small, strided, tensor subclasses, or where compiling is off) go to the multi-tensor path.
Its results equal the reference loop's up to float32 rounding of the update (the order of
operations in a compiled loop, e.g. fused multiply-adds, is the compiler's): m, v and p within
a unit in the last place, p + c within the precision of the compensated pair.
"""

from __future__ import annotations

import torch

from ._adamw import AdamWHyperParams, AdamWTensors
from ._adamw_fast import advance
from ._compiled import CompiledKernel
from ._kahan import kahan_update
from ._optimizer_base import LOW_PRECISION, is_plain
from ._stochastic_round import random_bits, stochastic_round

__all__ = ["adamw_compiled", "compilable"]


def _moments_and_new(
    old: torch.Tensor,
    g: torch.Tensor,
    m: torch.Tensor,
    v: torch.Tensor,
    beta1: float,
    beta2: float,
    step_size: float,
    eps: float,
    decay: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(m, v, p) after the step from p = ``old`` (float32); m and v are written back."""
    gw = g.float()
    mw = m.float() * beta1 + gw * (1.0 - beta1)
    vw = v.float() * beta2 + gw * gw * (1.0 - beta2)
    new = old - step_size * mw / (vw.sqrt() + eps)
    new = new - decay * new
    m.copy_(mw)
    v.copy_(vw)
    return mw, vw, new


def _kahan_step(
    p: torch.Tensor,
    g: torch.Tensor,
    m: torch.Tensor,
    v: torch.Tensor,
    comp: torch.Tensor,
    beta1: float,
    beta2: float,
    step_size: float,
    eps: float,
    decay: float,
) -> None:
    old = p.float()
    new = _moments_and_new(old, g, m, v, beta1, beta2, step_size, eps, decay)[2]
    rounded, comp_new = kahan_update(old, new, comp)
    p.copy_(rounded)
    comp.copy_(comp_new)


def _stochastic_step(
    p: torch.Tensor,
    g: torch.Tensor,
    m: torch.Tensor,
    v: torch.Tensor,
    key: int,
    beta1: float,
    beta2: float,
    step_size: float,
    eps: float,
    decay: float,
) -> None:
    new = _moments_and_new(p.float(), g, m, v, beta1, beta2, step_size, eps, decay)[2]
    p.copy_(stochastic_round(new, p.dtype, random_bits(p.numel(), key, p.device)))


KAHAN = CompiledKernel(_kahan_step)
STOCHASTIC = CompiledKernel(_stochastic_step)


def compilable(
    p: torch.Tensor, g: torch.Tensor, m: torch.Tensor, v: torch.Tensor, stochastic: bool
) -> bool:
    """Whether the compiled path takes this low-precision parameter: plain, contiguous
    tensors of one dtype, and the kernel usable for it (see ``CompiledKernel.usable``)."""
    dtype = p.dtype
    return (
        dtype in LOW_PRECISION
        and g.dtype is dtype
        and m.dtype is dtype
        and v.dtype is dtype
        and is_plain(p)
        and p.is_contiguous()
        and g.is_contiguous()
        and m.is_contiguous()
        and v.is_contiguous()
        and (STOCHASTIC if stochastic else KAHAN).usable(p)
    )


def adamw_compiled(
    tensors: AdamWTensors, hyper: AdamWHyperParams, grad_scale: torch.Tensor | None = None
) -> None:
    """The compiled path: one compiled kernel call per parameter.

    Takes the arguments of ``adamw_loop``; every parameter must pass :func:`compilable` and
    have a Kahan buffer (contiguous, of its dtype) unless ``hyper.stochastic_round``.
    """
    if grad_scale is not None:
        for device in {g.device for g in tensors.grads}:
            on_device = [g for g in tensors.grads if g.device == device]
            torch._foreach_div_(on_device, grad_scale.to(device))  # left unscaled, as AMP does
    counts = advance(tensors.steps)
    decay = hyper.lr * hyper.weight_decay
    rows = zip(*tensors[:4], tensors.compensations, counts, tensors.positions, strict=True)
    for p, g, m, v, comp, t, position in rows:
        flat = [x.detach().view(-1) for x in (p, g, m, v)]
        options = (hyper.beta1, hyper.beta2, hyper.step_size(t), hyper.eps, decay)
        key = hyper.key(t, position)
        if key is not None:
            STOCHASTIC(*flat, key, *options)
        elif comp is not None:
            KAHAN(*flat, comp.view(-1), *options)
        else:
            raise ValueError("the compiled path needs a Kahan buffer or stochastic rounding")
