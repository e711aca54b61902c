"""Cache-sized pieces of many tensors, for the eager low-precision paths on the CPU.

An eager update of bfloat16 tensors computed in float32 makes a float32 temporary per
operation; over whole tensors every one of them is a pass over main memory (and, for tensors
of hundreds of megabytes, fresh pages). Cut into pieces of at most ``CPU_CHUNK_NUMEL``
elements, the temporaries stay in the cache and are reused: :func:`pieces` cuts the flat views
of a list of tensors, :func:`batches` groups consecutive pieces into lists of about that size
(many small tensors, or a part of a large one, per batch).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple

import torch

__all__ = ["CPU_CHUNK_NUMEL", "Piece", "batches", "chunk_numel", "pieces"]

# Elements per piece on the CPU: a few float32 temporaries of this size fit in a core's cache.
CPU_CHUNK_NUMEL = 1 << 18


class Piece(NamedTuple):
    """Elements [start, stop) of the flat view of tensor number ``number``."""

    number: int
    start: int
    stop: int

    def of(self, tensor: torch.Tensor) -> torch.Tensor:
        """This piece of ``tensor`` (the tensor itself if the piece is all of it, else a
        piece of its flat view: the tensor must then be contiguous)."""
        if self.start == 0 and self.stop == tensor.numel():
            return tensor
        return tensor.view(-1)[self.start : self.stop]


def chunk_numel(tensors: Sequence[torch.Tensor]) -> int | None:
    """The piece size for these tensors: ``CPU_CHUNK_NUMEL`` on the CPU when they are all
    contiguous, else None (whole tensors: accelerators run few large kernels best)."""
    if all(t.device.type == "cpu" and t.is_contiguous() for t in tensors):
        return CPU_CHUNK_NUMEL
    return None


def pieces(sizes: Sequence[int], limit: int | None) -> Iterator[Piece]:
    """The pieces of tensors of ``sizes`` elements, each at most ``limit`` (None: whole)."""
    for number, size in enumerate(sizes):
        step = size if limit is None else limit
        for start in range(0, size, max(step, 1)):
            yield Piece(number, start, min(start + step, size))


def batches(sizes: Sequence[int], limit: int | None) -> Iterator[list[Piece]]:
    """Consecutive pieces grouped into lists of at most ``limit`` elements (None: one list).

    Example:
        >>> [[tuple(piece) for piece in b] for b in batches([3, 10, 2], 4)]
        [[(0, 0, 3)], [(1, 0, 4)], [(1, 4, 8)], [(1, 8, 10), (2, 0, 2)]]
    """
    batch: list[Piece] = []
    total = 0
    for piece in pieces(sizes, limit):
        size = piece.stop - piece.start
        if batch and limit is not None and total + size > limit:
            yield batch
            batch, total = [], 0
        batch.append(piece)
        total += size
    if batch:
        yield batch
