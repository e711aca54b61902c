"""AdamW's fast paths: the multi-tensor (``torch._foreach_*``) path and torch's fused kernel.

Both compute exactly the update of the reference loop ``_adamw.adamw_loop`` (transformers'
AdamW): bias correction in the step size, eps added to the uncorrected √v, and weight decay
applied after the update, to the updated parameter.

The fused path runs ``torch._fused_adamw_`` (torch.optim.AdamW's kernel, CPU and CUDA), whose
update at step t is, with bc1 = 1 − β1^t and bc2 = 1 − β2^t,

    p ← p·(1 − lr'·wd') − (lr'/bc1) · m / (√v/√bc2 + eps')

transformers' update expands to

    p ← p·(1 − lr·wd) − (1 − lr·wd) · lr·c · m / (√v + eps),   c = √bc2/bc1  (1 without bias
                                                                 correction)

so the kernel gives it with eps' = eps/√bc2 (then √v/√bc2 + eps' = (√v + eps)/√bc2),
lr' = lr·s·(1 − lr·wd) with s = 1 (bias correction) or bc1/√bc2 (none), and
wd' = lr·wd / lr'. The decay is folded into the kernel's own pass (a separate multiply
would cost a fifth more memory traffic); only for lr·wd > 0.5, where 1 − lr·wd loses
precision or reaches 0, does a multiply after the kernel apply it. Because eps' and lr'
depend on t, tensors are launched in buckets of equal step count (one in the usual case).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import torch

from ._adamw import AdamWHyperParams, AdamWTensors
from ._chunks import batches, chunk_numel
from ._lowp import local, store_foreach
from ._optimizer_base import AUTO_FUSED_DEVICES, fused_devices, working_dtype
from ._state_validation import misfit

__all__ = [
    "adamw_foreach",
    "adamw_fused",
    "advance",
    "check_fits",
    "fusable",
    "fused_hyperparameters",
]

_FUSED_DTYPES = frozenset((torch.float16, torch.bfloat16, torch.float32, torch.float64))
_PLAIN = (torch.Tensor, torch.nn.Parameter)  # not subclasses such as DTensor
_MAX_FOLDED_DECAY = 0.5  # above this lr·wd, 1 − lr·wd loses precision when folded


def advance(steps: Sequence[torch.Tensor]) -> list[float]:
    """Add 1 to every step counter; return the new counts as Python floats."""
    if not steps:
        return []
    torch._foreach_add_(list(steps), 1.0)
    return [float(step) for step in steps]


@functools.cache
def _auto_devices() -> tuple[str, ...]:
    """Device types the automatic choice sends to the kernel (CPU has it since torch 2.4)."""
    probe = [torch.zeros(1)]
    try:
        torch._fused_adamw_(
            probe,
            [torch.zeros(1)],
            [torch.zeros(1)],
            [torch.zeros(1)],
            [],
            [torch.ones(())],
            lr=0.0,
            beta1=0.9,
            beta2=0.9,
            weight_decay=0.0,
            eps=1.0,
            amsgrad=False,
            maximize=False,
        )
    except (RuntimeError, NotImplementedError):
        return tuple(d for d in AUTO_FUSED_DEVICES if d != "cpu")
    return AUTO_FUSED_DEVICES


def fusable(
    p: torch.Tensor, g: torch.Tensor, m: torch.Tensor, v: torch.Tensor, explicit: bool
) -> bool:
    """Whether torch's fused kernel can update this parameter correctly.

    The CPU kernel reads every tensor as flat memory, so all four must be contiguous (a
    transposed gradient is silently misread otherwise) and of one floating dtype. (They share
    the parameter's device: autograd and ``load_state_dict`` see to that.)
    """
    dtype = p.dtype
    return (
        dtype in _FUSED_DTYPES
        and g.dtype is dtype
        and m.dtype is dtype
        and v.dtype is dtype
        and type(p) in _PLAIN
        and p.device.type in (fused_devices() if explicit else _auto_devices())
        and p.is_contiguous()
        and g.is_contiguous()
        and m.is_contiguous()
        and v.is_contiguous()
    )


def check_fits(p: torch.Tensor, g: torch.Tensor, m: torch.Tensor, v: torch.Tensor) -> None:
    """Raise ValueError unless the gradient ``g`` and moments ``m``, ``v`` have the shape of
    the parameter ``p`` (a state changed by hand, or a parameter resized since).

    Cheap: three shape comparisons, no device sync. The fused kernel reads each tensor as
    memory of p's size: a smaller one would be read and written out of bounds. (Devices and
    dtypes that differ are rejected by torch's kernels themselves.)
    """
    if p.shape == g.shape == m.shape == v.shape:
        return
    for name, x in (("grad", g), ("exp_avg", m), ("exp_avg_sq", v)):
        if x.shape != p.shape:
            raise ValueError(misfit(name, x, p))


def _by_device_and_dtype(
    tensors: Sequence[torch.Tensor],
) -> dict[tuple[torch.device, torch.dtype], list[int]]:
    groups: dict[tuple[torch.device, torch.dtype], list[int]] = {}
    for index, tensor in enumerate(tensors):
        groups.setdefault((tensor.device, tensor.dtype), []).append(index)
    return groups


def adamw_foreach(
    tensors: AdamWTensors, hyper: AdamWHyperParams, grad_scale: torch.Tensor | None = None
) -> None:
    """The multi-tensor path: the reference loop's math, one ``_foreach`` op per stage.

    Takes the arguments of ``adamw_loop``. float16/bfloat16 tensors are computed in float32
    copies, on the CPU piece by piece (``_chunks.py``); the moments are written back rounded
    to nearest, the parameters as ``hyper.rounding`` says (state stays in their dtype).
    """
    counts = advance(tensors.steps)
    for (device, dtype), index in _by_device_and_dtype(tensors.params).items():
        chosen = tensors.pick(index)
        sizes = [-hyper.step_size(counts[i]) for i in index]
        scale = None if grad_scale is None else grad_scale.to(device)
        if working_dtype(dtype) == dtype:
            _foreach_update(*chosen[:4], sizes, hyper, scale)
            continue
        rounding = hyper.rounding(dtype)
        keys = [hyper.key(counts[i], at) for i, at in zip(index, chosen.positions, strict=True)]
        # Elementwise work: on the local shards of DTensors, in pieces on the CPU.
        whole = [[local(x) for x in xs] for xs in chosen[:4]]
        comps = [local(c) for c in chosen.compensations if c is not None]
        limit = chunk_numel([x for xs in (*whole, comps) for x in xs])
        for batch in batches([p.numel() for p in whole[0]], limit):
            ps, gs, ms, vs = ([piece.of(xs[piece.number]) for piece in batch] for xs in whole)
            cs = [piece.of(comps[piece.number]) if comps else None for piece in batch]
            pw, gw, mw, vw = ([x.float() for x in xs] for xs in (ps, gs, ms, vs))
            if scale is not None:
                torch._foreach_div_(gw, scale)
                torch._foreach_copy_(gs, gw)  # leave .grad unscaled, as GradScaler does
            _foreach_update(pw, gw, mw, vw, [sizes[piece.number] for piece in batch], hyper)
            for dst, src in ((ms, mw), (vs, vw)):
                torch._foreach_copy_(dst, src)
            at = [_offset(keys[piece.number], piece.start) for piece in batch]
            store_foreach(ps, pw, rounding, cs, at)


def _offset(key: int | None, start: int) -> int | None:
    """The random stream key of a piece starting at element ``start`` (see ``random_bits``)."""
    return None if key is None else key + start


def _foreach_update(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    exp_avgs: list[torch.Tensor],
    exp_avg_sqs: list[torch.Tensor],
    sizes: list[float],
    hyper: AdamWHyperParams,
    grad_scale: torch.Tensor | None = None,
) -> None:
    """The update of tensors of one device and working dtype, in place (``sizes``: each
    tensor's negated step size)."""
    if grad_scale is not None:
        torch._foreach_div_(grads, grad_scale)
    torch._foreach_lerp_(exp_avgs, grads, 1.0 - hyper.beta1)
    torch._foreach_mul_(exp_avg_sqs, hyper.beta2)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1.0 - hyper.beta2)
    denom = torch._foreach_sqrt(exp_avg_sqs)
    torch._foreach_add_(denom, hyper.eps)
    torch._foreach_addcdiv_(params, exp_avgs, denom, sizes)
    del denom
    if hyper.weight_decay:
        torch._foreach_mul_(params, 1.0 - hyper.lr * hyper.weight_decay)


def fused_hyperparameters(
    hyper: AdamWHyperParams, t: float
) -> tuple[float, float, float, float | None]:
    """The kernel's (lr', wd', eps', post) that make it compute transformers' step ``t``.

    ``post`` is None when the decay is folded into the kernel, else the factor 1 − lr·wd to
    multiply the parameters by after the kernel (which then runs without decay).
    """
    lr, eps = hyper.lr, hyper.eps
    root = math.sqrt(1.0 - hyper.beta2**t)
    rate = lr if hyper.correct_bias else lr * (1.0 - hyper.beta1**t) / root
    decay = lr * hyper.weight_decay
    if decay == 0.0:
        return rate, 0.0, eps / root, None
    if decay > _MAX_FOLDED_DECAY:
        return rate, 0.0, eps / root, 1.0 - decay
    kernel_lr = rate * (1.0 - decay)
    return kernel_lr, decay / kernel_lr, eps / root, None


def adamw_fused(
    tensors: AdamWTensors, hyper: AdamWHyperParams, grad_scale: torch.Tensor | None = None
) -> None:
    """The fused path: ``torch._fused_adamw_`` with transformed hyper-parameters.

    Takes the arguments of ``adamw_loop``; every tensor must pass :func:`fusable` and be
    written back rounded to nearest (the kernel rounds). float16/bfloat16 are computed in
    float32 by the kernel. With ``grad_scale`` the kernel divides the gradients by it (and
    stores them so).

    Raises:
        ValueError: if a gradient or moment does not fit its parameter (see
            :func:`check_fits`), before anything is updated.
    """
    params, grads, exp_avgs, exp_avg_sqs, steps = tensors[:5]
    for p, g, m, v in zip(params, grads, exp_avgs, exp_avg_sqs, strict=True):
        if not p.shape == g.shape == m.shape == v.shape:  # the kernel would read out of bounds
            check_fits(p, g, m, v)
    counts = advance(steps)
    buckets: dict[tuple[torch.device, torch.dtype, float], list[int]] = {}
    for index, (p, t) in enumerate(zip(params, counts, strict=True)):
        buckets.setdefault((p.device, p.dtype, t), []).append(index)
    scales: dict[torch.device, torch.Tensor] = {}
    for (device, _, t), indices in buckets.items():
        ps = [params[i] for i in indices]
        kernel_lr, kernel_wd, kernel_eps, post = fused_hyperparameters(hyper, t)
        scale = None
        if grad_scale is not None:
            if device not in scales:
                scales[device] = grad_scale.to(device=device, dtype=torch.float32)
            scale = scales[device]
        # One step tensor for the bucket: the kernel reads t from it on the device.
        count = torch.full((), t, dtype=torch.float32, device=device)
        torch._fused_adamw_(
            ps,
            [grads[i] for i in indices],
            [exp_avgs[i] for i in indices],
            [exp_avg_sqs[i] for i in indices],
            [],
            [count] * len(indices),
            lr=kernel_lr,
            beta1=hyper.beta1,
            beta2=hyper.beta2,
            weight_decay=kernel_wd,
            eps=kernel_eps,
            amsgrad=False,
            maximize=False,
            grad_scale=scale,
            found_inf=None,
        )
        if post is not None:
            torch._foreach_mul_(ps, post)
