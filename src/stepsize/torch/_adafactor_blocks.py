"""The blocked path's pieces: block plans, scratch memory and the passes over a factored tensor.

For a factored parameter (leading dims batched, last two m×n) the reference loop makes a dozen
full-size passes and temporaries; here the gradient is read twice and the parameter twice:

* pass 1, per block of rows: ‖p_block‖² (a BLAS dot), S = g² (kept in cache), its row
  sums (the new row statistic of these rows: a row lies in one block) and two column sums,
  Σ_i S_ij (the column statistic) and t_j = Σ_i S_ij / row_i, as one batched matrix
  product over chunks of rows (so that threads share it).
* ‖U‖², with U_ij = g_ij·√(mean(row)/(row_i·col_j)), then needs no pass of its own:
  ‖U‖² = Σ_j t_j·mean(row)/col_j. The clip factor and lr of every parameter follow at once,
  as small vector operations (in ``_adafactor_fast.py``).
* pass 2, per block, last block first (still in cache): the outer product a⊗c, with
  a_i = ±lr·(1/√row_i)/max(1, RMS(U)/clip_threshold) and c_j = √(mean(row)/col_j), then
  one ``addcmul_`` reads g and p and writes p (``exp_avg`` instead, with beta1).

A bfloat16/float16 parameter is read block by block into float32 scratch memory and its new
value written back as its options say (``_lowp.store``); without beta1 the compiled kernel of
``_adafactor_compiled.py`` does pass 2 in one loop where it is usable.

A :class:`BlockPlan` says how a parameter splits into blocks of at most ``block_numel``
elements (``None``: one block, the whole parameter).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ._adafactor_compiled import factored_update
from ._lowp import Rounding, store

__all__ = ["CPU_BLOCK_NUMEL", "BlockPlan", "FactoredBlocks", "Workspace", "sum_of_squares"]

# A block of a factored parameter holds about this many elements by default: its squared
# gradient (4 MiB in float32) stays in the CPU's cache between the operations that read it.
CPU_BLOCK_NUMEL = 1 << 20
_DOT_CHUNK = 1 << 20


class Workspace:
    """Scratch memory reused by the blocked path, and its block plans."""

    def __init__(self) -> None:
        self._buffers: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}
        self._plans: dict[tuple[int, int, int, int | None], BlockPlan] = {}

    def get(self, numel: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """A flat tensor of at least ``numel`` elements (contents undefined)."""
        buffer = self._buffers.get((device, dtype))
        if buffer is None or buffer.numel() < numel:
            buffer = torch.empty(numel, dtype=dtype, device=device)
            self._buffers[(device, dtype)] = buffer
        return buffer[:numel]

    def plan(self, batch: int, m: int, n: int, block_numel: int | None) -> BlockPlan:
        """How a (batch, m, n) parameter splits into blocks (cached)."""
        key = (batch, m, n, block_numel)
        if key not in self._plans:
            self._plans[key] = BlockPlan(batch, m, n, block_numel)
        return self._plans[key]


class FactoredBlocks:
    """One parameter with ≥ 2 dims, seen as (batch, m, n) and split into blocks; its passes.

    Each pass takes what it needs and returns what it computes: ``first_pass`` →
    ``u_norm`` → ``second_pass``, with the parameter's statistics updated in place.
    """

    def __init__(
        self,
        p: torch.Tensor,
        g: torch.Tensor,
        state: dict[str, Any],
        block_numel: int | None,
        workspace: Workspace,
        write: tuple[Rounding, torch.Tensor | None, int | None, bool] | None = None,
    ) -> None:
        m, n = p.shape[-2], p.shape[-1]
        batch = p.numel() // (m * n)
        self.m, self.n = m, n
        self.plan = plan = workspace.plan(batch, m, n, block_numel)
        self.row = state["exp_avg_sq_row"].view(batch, m)
        self.col = state["exp_avg_sq_col"].view(batch, n)
        self.average: torch.Tensor | None = state.get("exp_avg")  # created with beta1
        self.p, self.g = p.view(batch, m, n), g.reshape(batch, m, n)
        self.p_blocks, self.g_blocks = plan.split(self.p), plan.split(self.g)
        self.workspace = workspace
        # A low-precision p: (rounding, Kahan buffer, random stream key, compiled allowed).
        self.write = write
        self.low = p.dtype != self.row.dtype

    def _buffer(self, count: int = 1) -> torch.Tensor:
        """A flat scratch buffer of ``count`` blocks' size (float32 for low precision)."""
        plan, row = self.plan, self.row
        numel = count * plan.batch_step * plan.row_step * self.n
        if row.device.type == "cpu":  # fresh large CPU allocations cost page faults every step
            return self.workspace.get(numel, row.dtype, row.device)
        return torch.empty(numel, dtype=row.dtype, device=row.device)  # the caching allocator's

    def first_pass(self, beta2t: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Per block: ‖p‖², S = g², the rows' new statistic, Σ_i S_ij and Σ_i S_ij/row_i.

        Expects row = β2t·row + (1−β2t)·eps[0] and col = β2t·col; adds the column sums
        to col (its eps[0] term is added by the caller).

        Returns:
            (‖p_block‖² of every block, t_j = Σ_i S_ij/row_i of every matrix (batch, n)).
        """
        plan, row = self.plan, self.row
        batch, n = row.shape[0], self.n
        partials = row.new_empty(batch, plan.row_blocks, plan.chunks, 2, n)
        block_squares = row.new_empty(plan.count)
        blocks = zip(
            self.p_blocks,
            self.g_blocks,
            plan.split(self.row),
            plan.partials(partials),
            block_squares.unbind(),
            strict=True,
        )
        buffer, h = self._buffer(), plan.chunks
        scratch = {}  # block shape -> (S, S in row chunks, row sums, [1; 1/row] weights)
        for pb, gb, rb, part, p_square in blocks:
            nb, nr = rb.shape
            if (nb, nr) not in scratch:
                squares = buffer[: nb * nr * n].view(nb, nr, n)
                chunked = squares.view(nb * h, nr // h, n)
                weights = rb.new_ones(nb * h, 2, nr // h)
                scratch[(nb, nr)] = (squares, chunked, rb.new_empty(nb, nr), weights)
            squares, chunked, row_sums, weights = scratch[(nb, nr)]
            if self.low:  # exact float32 copies first: p², g² need more bits than p, g have
                sum_of_squares(squares.copy_(pb).view(-1), p_square)
                squares.copy_(gb).square_()
            else:
                sum_of_squares(pb.view(-1), p_square)
                torch.mul(gb, gb, out=squares)
            torch.sum(squares, dim=-1, out=row_sums)
            rb.add_(row_sums, alpha=(1.0 - beta2t) / self.n)
            torch.reciprocal(rb.view(nb * h, nr // h), out=weights[:, 1])
            # [Σ_i S_ij, Σ_i S_ij/row_i] of each chunk of rows: batched, so multi-threaded.
            torch.bmm(weights, chunked, out=part)
        sums = partials.sum(dim=(1, 2))
        self.col.add_(sums[:, 0], alpha=(1.0 - beta2t) / self.m)
        return block_squares, sums[:, 1]

    def u_norm(self, weighted_sums: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """‖U‖ = √(Σ_j t_j·mean(row)/col_j), from ``first_pass``'s t_j and the new statistics.

        Returns:
            (‖U‖, c = √(mean(row)/col): the column factor of ``second_pass``).
        """
        c = torch.div(self.row.mean(dim=-1, keepdim=True), self.col)
        norm = torch.mul(weighted_sums, c).sum().sqrt_()
        return norm, c.sqrt_()

    def second_pass(
        self,
        c: torch.Tensor,
        factor: torch.Tensor,
        decay: torch.Tensor | None,
        beta1: float | None,
    ) -> None:
        """p ← decay·p + factor·g_ij·c_j/√row_i (or through exp_avg), last block first."""
        plan = self.plan
        a = self.row.rsqrt().mul_(factor).unsqueeze(-1)
        write = self.write
        if self.low and beta1 is None and write is not None and write[3]:
            rounding, comp, key, _ = write
            if factored_update(self.p, self.g, a, c.unsqueeze(-2), decay, rounding, comp, key):
                return
        a_blocks, c_blocks = plan.split(a), plan.per_batch(c.unsqueeze(-2))
        e_blocks: Sequence[torch.Tensor] = ()
        if beta1 is not None:
            if self.average is None:
                raise ValueError("beta1 is set but the state has no exp_avg")
            e_blocks = plan.split(self.average.view(*self.row.shape, self.n))
        buffer = self._buffer(2 if self.low else 1)
        half = buffer.numel() // 2
        for k in reversed(range(plan.count)):
            pb, gb = self.p_blocks[k], self.g_blocks[k]
            nb, nr = a_blocks[k].shape[:2]
            outer = buffer[: nb * nr * self.n].view(nb, nr, self.n)
            torch.mul(a_blocks[k], c_blocks[k], out=outer)
            # A low-precision block is updated in a float32 copy, then written back.
            new = buffer[half : half + outer.numel()].view_as(pb).copy_(pb) if self.low else pb
            if decay is not None:
                new.mul_(decay)
            if beta1 is None:
                new.addcmul_(gb, outer)
            else:
                e_blocks[k].mul_(beta1).addcmul_(gb, outer)
                new.sub_(e_blocks[k])
            if new is not pb:
                self._store(pb, new)

    def _store(self, block: torch.Tensor, new: torch.Tensor) -> None:
        """Writes a low-precision block's float32 result as ``write`` says."""
        if self.write is None:
            raise ValueError("a low-precision parameter needs its write options")
        rounding, comp, key, _ = self.write
        offset = int(block.storage_offset() - self.p.storage_offset())  # its first element
        comp_block = None if comp is None else comp.view(-1)[offset : offset + block.numel()]
        key = None if key is None else key + offset
        store(block, new, rounding, None if comp_block is None else comp_block.view_as(block), key)


class BlockPlan:
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

    def split(self, x: torch.Tensor) -> Sequence[torch.Tensor]:
        """Views of the blocks of ``x``, shaped (batch, m, ...)."""
        # split_with_sizes: a C method, cheaper than Tensor.split's Python wrapper.
        if self.row_step == self.m:
            return x.split_with_sizes(self.batch_sizes)
        if self.batch == 1:
            return x.split_with_sizes(self.row_sizes, 1)
        return [b for xb in x.unbind() for b in xb.unsqueeze(0).split_with_sizes(self.row_sizes, 1)]

    def per_batch(self, x: torch.Tensor) -> Sequence[torch.Tensor]:
        """For each block, the view of ``x`` (shaped (batch, ...)) at the block's matrices."""
        if self.row_step == self.m:
            return x.split_with_sizes(self.batch_sizes)
        return [xb for xb in x.split_with_sizes([1] * self.batch) for _ in self.row_sizes]

    def partials(self, x: torch.Tensor) -> Sequence[torch.Tensor]:
        """For each block, its (matrices·chunks, 2, n) slot of ``x``, shaped
        (batch, row_blocks, chunks, 2, n)."""
        flat = x.view(-1, *x.shape[3:])
        if self.row_step == self.m:
            return flat.split_with_sizes([b * self.chunks for b in self.batch_sizes])
        return flat.split_with_sizes([self.chunks] * self.count)


def sum_of_squares(x: torch.Tensor, out: torch.Tensor) -> None:
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
