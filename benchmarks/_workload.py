"""The reference workload of SPEC §5: a BERT-like set of parameter tensors with random grads.

The shapes are plain Python (usable from any framework's benchmark); ``make_params`` builds
torch parameters from them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

HIDDEN = 768
INTERMEDIATE = 3072
VOCAB = 30522
POSITIONS = 512
TYPES = 2
LAYERS = 4


def bert_shapes(layers: int = LAYERS, hidden: int = HIDDEN) -> list[tuple[int, ...]]:
    """Parameter shapes of a BERT-base-like encoder: embeddings and ``layers`` layers.

    With the defaults: 69 tensors, 52,188,672 parameters (≈52M).
    """
    intermediate = INTERMEDIATE * hidden // HIDDEN
    shapes: list[tuple[int, ...]] = [(VOCAB, hidden), (POSITIONS, hidden), (TYPES, hidden)]
    shapes += [(hidden,), (hidden,)]  # embedding LayerNorm
    for _ in range(layers):
        for _ in range(4):  # query, key, value, attention output
            shapes += [(hidden, hidden), (hidden,)]
        shapes += [(hidden,), (hidden,)]  # attention LayerNorm
        shapes += [(intermediate, hidden), (intermediate,)]
        shapes += [(hidden, intermediate), (hidden,)]
        shapes += [(hidden,), (hidden,)]  # output LayerNorm
    return shapes


def scaled_shapes(target: int) -> list[tuple[int, ...]]:
    """A BERT-like set of about ``target`` parameters, for scaling sweeps.

    The encoder's width is kept and its layer count chosen; below one layer's size the
    width (a multiple of 8) shrinks instead, so every size keeps a mix of matrices and
    vectors like BERT's.
    """
    base = bert_shapes(layers=0)
    per_layer = count(bert_shapes(layers=1)) - count(base)
    if target >= count(base) + per_layer:
        return bert_shapes(layers=max(1, round((target - count(base)) / per_layer)))
    widths = range(8, HIDDEN + 1, 8)
    return bert_shapes(1, min(widths, key=lambda h: abs(count(bert_shapes(1, h)) - target)))


def count(shapes: list[tuple[int, ...]]) -> int:
    """Total number of parameters of ``shapes``."""
    total = 0
    for shape in shapes:
        size = 1
        for dim in shape:
            size *= dim
        total += size
    return total


def make_params(
    shapes: list[tuple[int, ...]],
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    seed: int = 0,
) -> list[torch.nn.Parameter]:
    """Parameters of ``shapes`` (float32 unless ``dtype``) with random gradients attached."""
    import torch

    dtype = torch.float32 if dtype is None else dtype
    generator = torch.Generator().manual_seed(seed)
    params = []
    for shape in shapes:
        p = torch.nn.Parameter((torch.randn(shape, generator=generator) * 0.02).to(device, dtype))
        p.grad = (torch.randn(shape, generator=generator) * 1e-3).to(device, dtype)
        params.append(p)
    return params
