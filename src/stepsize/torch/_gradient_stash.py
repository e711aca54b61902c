"""``GradientStash``: keeps one micro-batch's gradient apart until it has finished.

``GradientAccumulation`` wraps each micro-batch in a stash, so a micro-batch that raises takes
its (possibly partial) gradient with it instead of leaving it in ``.grad`` for the next update.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch.nn.parallel import DistributedDataParallel

from stepsize.torch._gradient_sync import is_data_parallel, is_fully_sharded

__all__ = ["GradientStash", "stash_micro_batch"]


def stash_micro_batch(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, sync: bool
) -> GradientStash | None:
    """A stash for the next micro-batch, or None where its gradient cannot be kept apart.

    Not under FSDP2 (it accumulates inside FSDP, not in ``.grad``), not on DDP's synchronizing
    micro-batch (its all-reduce must find the window's sum in ``.grad``), and not under other
    ``no_sync`` wrappers, whose own accumulation is unknown.
    """
    if is_fully_sharded(model) or (
        is_data_parallel(model) and (sync or not isinstance(model, DistributedDataParallel))
    ):
        return None
    groups = optimizer.param_groups
    return GradientStash([*model.parameters(), *(p for g in groups for p in g["params"])])


class GradientStash:
    """Holds the window's gradients aside while one micro-batch runs.

    On creation it takes every parameter's ``.grad`` and leaves ``None`` in its place, so
    autograd writes the micro-batch's gradient into fresh tensors. ``merge()`` adds those into
    the held ones in place and puts the held ones back: the same one addition per parameter, in
    the same memory, that autograd makes when it accumulates into an existing ``.grad``, so the
    result is bit-identical (for one backward per micro-batch; two backwards sum their gradients
    before the addition). ``restore()`` puts the held gradients back and drops whatever the
    micro-batch wrote.

    Inside the block ``.grad`` therefore holds the micro-batch's own gradient, and hooks
    registered with ``register_post_accumulate_grad_hook`` see that gradient, not the sum.

    Example:
        >>> w = torch.nn.Parameter(torch.ones(2))
        >>> (2 * w).sum().backward()
        >>> stash = GradientStash([w])
        >>> (3 * w).sum().backward()
        >>> stash.merge()
        >>> w.grad.tolist()
        [5.0, 5.0]
        >>> stash = GradientStash([w])
        >>> (100 * w).sum().backward()
        >>> stash.restore()  # the micro-batch failed: its gradient is dropped
        >>> w.grad.tolist()
        [5.0, 5.0]
    """

    def __init__(self, params: Iterable[torch.Tensor]) -> None:
        unique = {id(p): p for p in params if p.requires_grad}
        self._params = list(unique.values())
        self._held = [p.grad for p in self._params]
        for p in self._params:
            p.grad = None

    def merge(self) -> None:
        """Adds the micro-batch's gradients into the held ones and puts those back."""
        for p, held in zip(self._params, self._held, strict=True):
            new = p.grad
            if held is None:
                continue  # the micro-batch's gradient (or None) is the sum
            if new is None:
                p.grad = held
            elif held.is_sparse and not new.is_sparse:
                p.grad = new.add_(held)  # a sparse tensor cannot take a dense sum in place
            else:
                p.grad = held.add_(new)

    def restore(self) -> None:
        """Puts the held gradients back; the micro-batch's gradients are dropped."""
        for p, held in zip(self._params, self._held, strict=True):
            p.grad = held
