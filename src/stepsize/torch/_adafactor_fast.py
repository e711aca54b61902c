"""Adafactor's fast path: factored parameters in cache-sized blocks, the rest multi-tensor.

It computes the update of the reference loop in ``_adafactor.py`` (transformers' Adafactor)
with few passes over memory. For a factored parameter (leading dims batched, last two m×n)
the reference loop makes a dozen full-size passes and temporaries; here the gradient is read
twice and the parameter twice:

* pass 1, per block of rows: ‖p_block‖² (a BLAS dot), S = g² (kept in cache), its row
  sums (the new row statistic of these rows: a row lies in one block) and two column sums,
  Σ_i S_ij (the column statistic) and t_j = Σ_i S_ij / row_i, as one batched matrix
  product over chunks of rows (so that threads share it).
* ‖U‖², with U_ij = g_ij·√(mean(row)/(row_i·col_j)), then needs no pass of its own:
  ‖U‖² = Σ_j t_j·mean(row)/col_j. The clip factor and lr of every parameter follow at once,
  as small vector operations.
* pass 2, per block, last block first (still in cache): the outer product a⊗c, with
  a_i = ±lr·(1/√row_i)/max(1, RMS(U)/clip_threshold) and c_j = √(mean(row)/col_j), then
  one ``addcmul_`` reads g and p and writes p (``exp_avg`` instead, with beta1).

Unfactored parameters (biases, norms) go through ``torch._foreach_*`` calls. With
``block_numel=None`` each factored parameter is one block: the multi-tensor path, meant for
accelerators, where a few large kernels beat many small ones.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ._optimizer_base import working_dtype

# A block of a factored parameter holds about this many elements: its squared gradient
# (4 MiB in float32) stays in the CPU's cache between the operations that read it.
CPU_BLOCK_NUMEL = 1 << 20
_DOT_CHUNK = 1 << 20


class Workspace:
    """Scratch memory reused by the blocked path, and its block plans."""

    def __init__(self) -> None:
        self._buffers: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}
        self._plans: dict[tuple[int, int, int, int | None], _Plan] = {}

    def get(self, numel: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """A flat tensor of at least ``numel`` elements (contents undefined)."""
        buffer = self._buffers.get((device, dtype))
        if buffer is None or buffer.numel() < numel:
            buffer = torch.empty(numel, dtype=dtype, device=device)
            self._buffers[(device, dtype)] = buffer
        return buffer[:numel]

    def plan(self, batch: int, m: int, n: int, block_numel: int | None) -> _Plan:
        """How a (batch, m, n) parameter splits into blocks (cached)."""
        key = (batch, m, n, block_numel)
        if key not in self._plans:
            self._plans[key] = _Plan(batch, m, n, block_numel)
        return self._plans[key]


def relative_step(group: dict[str, Any], step: int) -> float:
    """ρ: min(1e-6·step if warmup_init else 1e-2, 1/√step) with relative_step, else lr."""
    if group["relative_step"]:
        min_step = 1e-6 * step if group["warmup_init"] else 1e-2
        return min(min_step, 1.0 / math.sqrt(step))
    return float(group["lr"])


def adafactor_fast(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    states: list[dict[str, Any]],
    group: dict[str, Any],
    block_numel: int | None,
    workspace: Workspace,
) -> None:
    """One Adafactor step of ``params`` (plain, non-empty, dense gradients, state created).

    Args:
        params, grads, states: the parameters, their gradients and their state dicts.
        group: the param group's hyper-parameters.
        block_numel: elements per block of a factored parameter on the CPU (None: whole
            parameters, also on every other device).
        workspace: scratch memory reused across steps.
    """
    buckets: dict[tuple[torch.device, torch.dtype, int], list[int]] = {}
    for index, (p, state) in enumerate(zip(params, states, strict=True)):
        state["step"] += 1
        key = (p.device, working_dtype(p.dtype), state["step"])
        buckets.setdefault(key, []).append(index)
    for (device, dtype, step), indices in buckets.items():
        _step_bucket(
            [params[i] for i in indices],
            [grads[i].to(dtype) for i in indices],
            [states[i] for i in indices],
            group,
            step,
            dtype,
            block_numel if device.type == "cpu" else None,
            workspace,
        )


def _step_bucket(params, grads, states, group, step, dtype, block_numel, workspace) -> None:
    """Update parameters of one device, working dtype and step count together."""
    # float16/bfloat16 or non-contiguous parameters are updated in a contiguous working copy
    # of the working dtype, written back at the end.
    work = [
        p if p.dtype == dtype and p.is_contiguous() else _contiguous_copy(p, dtype) for p in params
    ]
    beta2t = 1.0 - math.pow(step, group["decay_rate"])
    eps0, eps1 = group["eps"]
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
    factored = [_Factored(work[i], grads[i], states[i], block_numel, workspace) for i in matrices]
    if factored:
        rows, cols = [f.row for f in factored], [f.col for f in factored]
        torch._foreach_mul_(rows, beta2t)
        torch._foreach_add_(rows, (1.0 - beta2t) * eps0)
        torch._foreach_mul_(cols, beta2t)
        for f in factored:
            f.first_pass(beta2t)
        torch._foreach_add_(cols, (1.0 - beta2t) * eps0)
        # ‖p‖ = √(Σ ‖p_block‖²); the blocks' squared norms are positive, so Σ is their 1-norm.
        p_matrices = torch._foreach_norm([f.block_squares for f in factored], ord=1)
        torch._foreach_sqrt_(p_matrices)
        for i, f, p_norm in zip(matrices, factored, p_matrices, strict=True):
            p_norms[i], u_norms[i] = p_norm, f.u_norm()

    # lr_eff and the clip factor of every parameter, as vectors (no host-device copies).
    roots = [math.sqrt(p.numel()) for p in work]
    rms = torch.stack(torch._foreach_div(p_norms, roots))
    for state, value in zip(states, rms.unbind(), strict=True):
        state["RMS"] = value
    rho = relative_step(group, step)
    lrs = rms.clamp(min=eps1).mul_(rho) if group["scale_parameter"] else torch.full_like(rms, rho)
    clips = torch.stack(torch._foreach_div(u_norms, roots))
    scales = lrs / clips.div_(group["clip_threshold"]).clamp_(min=1.0)
    beta1 = group["beta1"]
    # Signed factor of the update direction: into exp_avg with beta1, else subtracted from p.
    factors = (scales.neg_() if beta1 is None else scales.mul_(1.0 - beta1)).unbind()
    decays = [None] * len(work)
    if group["weight_decay"] != 0:
        decays = lrs.mul_(-group["weight_decay"]).add_(1.0).unbind()

    # Updates.
    if flat:
        _unfactored_update(
            [work[i] for i in flat],
            directions,
            [states[i] for i in flat],
            [factors[i] for i in flat],
            None if group["weight_decay"] == 0 else [decays[i] for i in flat],
            beta1,
        )
    for i, f in zip(matrices, factored, strict=True):
        f.second_pass(factors[i], decays[i], beta1)
    for p, w in zip(params, work, strict=True):
        if w is not p:
            p.copy_(w)


def _contiguous_copy(p: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return torch.empty_like(p, dtype=dtype, memory_format=torch.contiguous_format).copy_(p)


def _unfactored_directions(grads, states, beta2t, eps0) -> list[torch.Tensor]:
    """v ← β2t·v + (1−β2t)·(g² + eps[0]); returns U = g/√v for each parameter."""
    vs = [state["exp_avg_sq"] for state in states]
    squares = torch._foreach_mul(grads, grads)
    torch._foreach_add_(squares, eps0)
    torch._foreach_mul_(vs, beta2t)
    torch._foreach_add_(vs, squares, alpha=1.0 - beta2t)
    directions = torch._foreach_rsqrt(vs)
    torch._foreach_mul_(directions, grads)
    return directions


def _unfactored_update(params, directions, states, factors, decays, beta1) -> None:
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


class _Factored:
    """One parameter with ≥ 2 dims, seen as (batch, m, n), and its two passes."""

    def __init__(self, p, g, state, block_numel, workspace) -> None:
        m, n = p.shape[-2], p.shape[-1]
        batch = p.numel() // (m * n)
        self.m, self.n = m, n
        self.plan = plan = workspace.plan(batch, m, n, block_numel)
        self.row = state["exp_avg_sq_row"].view(batch, m)
        self.col = state["exp_avg_sq_col"].view(batch, n)
        self.average = state.get("exp_avg")
        self.p_blocks = plan.split(p.view(batch, m, n))
        self.g_blocks = plan.split(g.reshape(batch, m, n))
        self.workspace = workspace
        kw = {"dtype": p.dtype, "device": p.device}
        self.partials = torch.empty(batch, plan.row_blocks, plan.chunks, 2, n, **kw)
        self.block_squares = torch.empty(plan.count, **kw)

    def _buffer(self) -> torch.Tensor:
        """A flat scratch buffer of a block's size, for one pass."""
        plan, p = self.plan, self.p_blocks[0]
        numel = plan.batch_step * plan.row_step * self.n
        if p.device.type == "cpu":  # fresh large CPU allocations cost page faults every step
            return self.workspace.get(numel, p.dtype, p.device)
        return torch.empty(numel, dtype=p.dtype, device=p.device)  # the caching allocator's

    def first_pass(self, beta2t: float) -> None:
        """Per block: ‖p‖, S = g², the rows' new statistic, Σ_i S_ij and Σ_i S_ij/row_i.

        Expects row = β2t·row + (1−β2t)·eps[0] and col = β2t·col; adds the column sums
        to col (its eps[0] term is added by the caller).
        """
        blocks = zip(
            self.p_blocks,
            self.g_blocks,
            self.plan.split(self.row),
            self.plan.partials(self.partials),
            self.block_squares.unbind(),
            strict=True,
        )
        buffer, h, n = self._buffer(), self.plan.chunks, self.n
        scratch = {}  # block shape -> (S, S in row chunks, row sums, [1; 1/row] weights)
        for pb, gb, rb, part, p_square in blocks:
            nb, nr = rb.shape
            if (nb, nr) not in scratch:
                squares = buffer[: nb * nr * n].view(nb, nr, n)
                chunked = squares.view(nb * h, nr // h, n)
                weights = rb.new_ones(nb * h, 2, nr // h)
                scratch[(nb, nr)] = (squares, chunked, rb.new_empty(nb, nr), weights)
            squares, chunked, row_sums, weights = scratch[(nb, nr)]
            _sum_of_squares(pb.view(-1), p_square)
            torch.mul(gb, gb, out=squares)
            torch.sum(squares, dim=-1, out=row_sums)
            rb.add_(row_sums, alpha=(1.0 - beta2t) / self.n)
            torch.reciprocal(rb.view(nb * h, nr // h), out=weights[:, 1])
            # [Σ_i S_ij, Σ_i S_ij/row_i] of each chunk of rows: batched, so multi-threaded.
            torch.bmm(weights, chunked, out=part)
        self.sums = self.partials.sum(dim=(1, 2))
        self.col.add_(self.sums[:, 0], alpha=(1.0 - beta2t) / self.m)

    def u_norm(self) -> torch.Tensor:
        """‖U‖ = √(Σ_j t_j·mean(row)/col_j); keeps c = √(mean(row)/col) for the update."""
        self.c = torch.div(self.row.mean(dim=-1, keepdim=True), self.col)
        norm = torch.mul(self.sums[:, 1], self.c).sum().sqrt_()
        self.c.sqrt_()
        return norm

    def second_pass(self, factor, decay, beta1) -> None:
        """p ← decay·p + factor·g_ij·c_j/√row_i (or through exp_avg), last block first."""
        plan = self.plan
        a_blocks = plan.split(self.row.rsqrt().mul_(factor).unsqueeze(-1))
        c_blocks = plan.per_batch(self.c.unsqueeze(-2))
        e_blocks = None
        if beta1 is not None:
            e_blocks = plan.split(self.average.view(*self.row.shape, self.n))
        buffer = self._buffer()
        for k in reversed(range(plan.count)):
            pb, gb = self.p_blocks[k], self.g_blocks[k]
            nb, nr = a_blocks[k].shape[:2]
            outer = buffer[: nb * nr * self.n].view(nb, nr, self.n)
            torch.mul(a_blocks[k], c_blocks[k], out=outer)
            if decay is not None:
                pb.mul_(decay)
            if e_blocks is None:
                pb.addcmul_(gb, outer)
            else:
                e_blocks[k].mul_(beta1).addcmul_(gb, outer)
                pb.sub_(e_blocks[k])


class _Plan:
    """How a (batch, m, n) parameter splits into blocks of at most ``block_numel`` elements.

    A block is either ``row_step`` rows of one matrix (large matrices) or ``batch_step``
    whole matrices (small ones); ``block_numel=None`` makes the whole parameter one block.
    """

    def __init__(self, batch: int, m: int, n: int, block_numel: int | None) -> None:
        self.batch, self.m = batch, m
        if block_numel is None or batch * m * n <= block_numel:
            self.batch_step, self.row_step = batch, m
        elif m * n > block_numel:
            rows = block_numel // n
            # A multiple of 4 rows (when possible) splits into chunks; see ``chunks``.
            self.batch_step, self.row_step = 1, rows - rows % 4 if rows >= 4 else max(1, rows)
        else:
            self.batch_step, self.row_step = block_numel // (m * n), m
        self.batch_sizes = _sizes(batch, self.batch_step)
        self.row_sizes = _sizes(m, self.row_step)
        self.row_blocks = len(self.row_sizes)  # blocks per matrix
        self.count = len(self.batch_sizes) * self.row_blocks
        # Row chunks per block for the batched column sums (threads split the batch).
        self.chunks = next(h for h in (4, 2, 1) if all(r % h == 0 for r in self.row_sizes))

    def split(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Views of the blocks of ``x``, shaped (batch, m, ...)."""
        # split_with_sizes: a C method, cheaper than Tensor.split's Python wrapper.
        if self.row_step == self.m:
            return x.split_with_sizes(self.batch_sizes)
        if self.batch == 1:
            return x.split_with_sizes(self.row_sizes, 1)
        return [b for xb in x.unbind() for b in xb.unsqueeze(0).split_with_sizes(self.row_sizes, 1)]

    def per_batch(self, x: torch.Tensor) -> list[torch.Tensor]:
        """For each block, the view of ``x`` (shaped (batch, ...)) at the block's matrices."""
        if self.row_step == self.m:
            return x.split_with_sizes(self.batch_sizes)
        return [xb for xb in x.split_with_sizes([1] * self.batch) for _ in self.row_sizes]

    def partials(self, x: torch.Tensor) -> list[torch.Tensor]:
        """For each block, its (matrices·chunks, 2, n) slot of ``x``, shaped
        (batch, row_blocks, chunks, 2, n)."""
        flat = x.view(-1, *x.shape[3:])
        if self.row_step == self.m:
            return flat.split_with_sizes([b * self.chunks for b in self.batch_sizes])
        return flat.split_with_sizes([self.chunks] * self.count)


def _sum_of_squares(x: torch.Tensor, out: torch.Tensor) -> None:
    """Σ x² of a flat tensor into ``out``: BLAS dot, in CPU chunks of at most 2^20 elements.

    Faster than ``vector_norm`` (multi-threaded, and no square root) and accurate: float32
    dot products of longer CPU vectors, like ``vector_norm`` of tens of millions of elements,
    are off by up to ~1e-4 relative.
    """
    if x.numel() <= _DOT_CHUNK or x.device.type != "cpu":
        torch.dot(x, x, out=out)
    else:
        torch.sum(torch.stack([torch.dot(c, c) for c in x.split(_DOT_CHUNK)]), dim=0, out=out)


def _sizes(total: int, step: int) -> list[int]:
    """``total`` cut into pieces of ``step`` (the last one shorter)."""
    return [min(step, total - start) for start in range(0, total, step)]
