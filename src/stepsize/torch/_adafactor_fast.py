"""Adafactor's fast path: factored parameters in cache-sized blocks, the rest multi-tensor.

It computes the update of the reference loop ``_adafactor.adafactor_loop`` (transformers'
Adafactor) with few passes over memory. Factored parameters are read in blocks
(``_adafactor_blocks.py`` explains the passes); ‖p‖, ‖U‖ and from them every parameter's lr
and clip factor are computed as small vector operations, with no host-device copies.

Unfactored parameters (biases, norms) go through ``torch._foreach_*`` calls. With
``block_numel=None`` each factored parameter is one block: the multi-tensor path, meant for
accelerators, where a few large kernels beat many small ones.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ._adafactor import AdafactorHyperParams, AdafactorTensors
from ._adafactor_blocks import FactoredBlocks, Workspace
from ._lowp import KAHAN_KEY, store
from ._optimizer_base import working_dtype

__all__ = ["adafactor_fast"]


def adafactor_fast(
    tensors: AdafactorTensors,
    hyper: AdafactorHyperParams,
    workspace: Workspace,
    block_numel: int | None,
    compiled: bool = False,
) -> None:
    """One Adafactor step of ``tensors`` (plain, non-empty, dense gradients, state created).

    Args:
        tensors: the parameters, their gradients, state dicts and positions.
        hyper: the param group's hyper-parameters.
        workspace: scratch memory and block plans reused across steps.
        block_numel: elements per block of a factored parameter on the CPU (None: whole
            parameters; on other devices parameters are always whole).
        compiled: whether low-precision factored parameters may take the compiled update.
    """
    buckets: dict[tuple[torch.device, torch.dtype, int], list[int]] = {}
    for index, (p, state) in enumerate(zip(tensors.params, tensors.states, strict=True)):
        state["step"] += 1
        key = (p.device, working_dtype(p.dtype), state["step"])
        buckets.setdefault(key, []).append(index)
    for (device, dtype, step), indices in buckets.items():
        blocks = block_numel if device.type == "cpu" else None
        _step_bucket(tensors.pick(indices), hyper, step, dtype, blocks, workspace, compiled)


def _step_bucket(
    tensors: AdafactorTensors,
    hyper: AdafactorHyperParams,
    step: int,
    dtype: torch.dtype,
    block_numel: int | None,
    workspace: Workspace,
    compiled: bool,
) -> None:
    """Update parameters of one device, working dtype and step count together."""
    params, grads, states, positions = tensors
    # Non-contiguous or unfactored float16/bfloat16 parameters are updated in a contiguous
    # working copy of the working dtype, written back at the end; factored low-precision ones
    # are read block by block into float32 scratch memory (``FactoredBlocks``).
    native = [p.dtype != dtype and p.dim() >= 2 and p.is_contiguous() for p in params]
    work = [
        p if keep or (p.dtype == dtype and p.is_contiguous()) else _contiguous_copy(p, dtype)
        for p, keep in zip(params, native, strict=True)
    ]
    grads = [g if keep else g.to(dtype) for g, keep in zip(grads, native, strict=True)]
    writes = [
        (
            hyper.rounding(p.dtype),
            state.get(KAHAN_KEY),
            hyper.key(step, position),
            compiled,
        )
        for p, state, position in zip(params, states, positions, strict=True)
    ]
    beta2t = hyper.beta2t(step)
    eps0, eps1 = hyper.eps
    flat = [i for i, p in enumerate(work) if p.dim() < 2]
    matrices = [i for i, p in enumerate(work) if p.dim() >= 2]

    # Statistics: the second moments, ‖p‖ and ‖U‖ (U the update before clipping and lr).
    p_norms: list[Any] = [None] * len(work)
    u_norms: list[Any] = [None] * len(work)
    if flat:
        directions = _unfactored_directions(
            [grads[i] for i in flat], [states[i] for i in flat], beta2t, eps0
        )
        p_flat = torch._foreach_norm([work[i] for i in flat])
        for i, p_norm, u_norm in zip(flat, p_flat, torch._foreach_norm(directions), strict=True):
            p_norms[i], u_norms[i] = p_norm, u_norm
    factored = [
        FactoredBlocks(work[i], grads[i], states[i], block_numel, workspace, writes[i])
        for i in matrices
    ]
    column_factors = []
    if factored:
        rows, cols = [f.row for f in factored], [f.col for f in factored]
        torch._foreach_mul_(rows, beta2t)
        torch._foreach_add_(rows, (1.0 - beta2t) * eps0)
        torch._foreach_mul_(cols, beta2t)
        block_squares, weighted_sums = zip(*(f.first_pass(beta2t) for f in factored), strict=True)
        torch._foreach_add_(cols, (1.0 - beta2t) * eps0)
        # ‖p‖ = √(Σ ‖p_block‖²); the blocks' squared norms are positive, so Σ is their 1-norm.
        p_matrices = torch._foreach_norm(list(block_squares), ord=1)
        torch._foreach_sqrt_(p_matrices)
        for i, f, p_norm, sums in zip(matrices, factored, p_matrices, weighted_sums, strict=True):
            p_norms[i] = p_norm
            u_norms[i], c = f.u_norm(sums)
            column_factors.append(c)

    # lr_eff and the clip factor of every parameter, as vectors (no host-device copies).
    roots = [math.sqrt(p.numel()) for p in work]
    rms = torch.stack(torch._foreach_div(p_norms, roots))
    for state, value in zip(states, rms.unbind(), strict=True):
        state["RMS"] = value
    rho = hyper.rho(step)
    lrs = rms.clamp(min=eps1).mul_(rho) if hyper.scale_parameter else torch.full_like(rms, rho)
    clips = torch.stack(torch._foreach_div(u_norms, roots))
    scales = lrs / clips.div_(hyper.clip_threshold).clamp_(min=1.0)
    beta1 = hyper.beta1
    # Signed factor of the update direction: into exp_avg with beta1, else subtracted from p.
    factors = (scales.neg_() if beta1 is None else scales.mul_(1.0 - beta1)).unbind()
    decays = None if hyper.weight_decay == 0 else lrs.mul_(-hyper.weight_decay).add_(1.0).unbind()

    # Updates.
    if flat:
        _unfactored_update(
            [work[i] for i in flat],
            directions,
            [states[i] for i in flat],
            [factors[i] for i in flat],
            None if decays is None else [decays[i] for i in flat],
            beta1,
        )
    for i, f, c in zip(matrices, factored, column_factors, strict=True):
        f.second_pass(c, factors[i], None if decays is None else decays[i], beta1)
    for p, w, write in zip(params, work, writes, strict=True):
        if w is not p:
            store(p, w, *write[:3])


def _contiguous_copy(p: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return torch.empty_like(p, dtype=dtype, memory_format=torch.contiguous_format).copy_(p)


def _unfactored_directions(
    grads: list[torch.Tensor], states: list[dict[str, Any]], beta2t: float, eps0: float
) -> tuple[torch.Tensor, ...]:
    """v ← β2t·v + (1−β2t)·(g² + eps[0]); returns U = g/√v for each parameter."""
    vs = [state["exp_avg_sq"] for state in states]
    squares = torch._foreach_mul(grads, grads)
    torch._foreach_add_(squares, eps0)
    torch._foreach_mul_(vs, beta2t)
    torch._foreach_add_(vs, squares, alpha=1.0 - beta2t)
    directions = torch._foreach_rsqrt(vs)
    torch._foreach_mul_(directions, grads)
    return directions


def _unfactored_update(
    params: list[torch.Tensor],
    directions: tuple[torch.Tensor, ...],
    states: list[dict[str, Any]],
    factors: list[torch.Tensor],
    decays: list[torch.Tensor] | None,
    beta1: float | None,
) -> None:
    """p ← decay·p + factor·U; with beta1, m ← β1·m + factor·U and p ← decay·p − m."""
    torch._foreach_mul_(directions, factors)
    if decays is not None:
        torch._foreach_mul_(params, decays)
    if beta1 is None:
        torch._foreach_add_(params, directions)
        return
    averages = [state["exp_avg"] for state in states]
    torch._foreach_mul_(averages, beta1)
    torch._foreach_add_(averages, directions)
    torch._foreach_sub_(params, averages)
