"""Token-weighted accumulation: the items (e.g. tokens) a window's micro-batches hold.

``GradientAccumulation.backward(loss, num_items=n)`` takes each micro-batch's *summed* loss
and its item count; at the update the accumulated gradient is divided by the window's total,
so it is the gradient of the window's loss per item, as on one batch holding the whole window.
Under DDP and FSDP2 the totals of every rank are added up (one all-reduce of one number per
update) and the ranks' averaging is undone (multiplied by the world size), so every item of
every rank weighs the same. A micro-batch's count joins the window only when the micro-batch
completes, so one that raises leaves the window's total as it was.
"""

from __future__ import annotations

from typing import Any, Literal

import torch

from stepsize._validation import check_int, describe
from stepsize.torch._gradient_sync import is_data_parallel, is_fully_sharded

__all__ = ["WindowItems"]

Mode = Literal["items", "mean"]


class WindowItems:
    """How a window's losses are weighted, and the item count of a token-weighted window.

    Example:
        >>> items = WindowItems()
        >>> for n in (3, 5):
        ...     items.start_micro_batch()
        ...     items.add(n)
        ...     items.commit()
        >>> items.factor(torch.nn.Linear(1, 1), mean_factor=1.0)
        0.125
    """

    def __init__(self) -> None:
        self.reset()
        self.start_micro_batch()

    def reset(self) -> None:
        """Start a new window."""
        self.mode: Mode | None = None
        self.total: Any = 0  # an int, or a tensor when counts come as tensors

    def start_micro_batch(self) -> None:
        """Start a micro-batch: its counts join the window at ``commit()``."""
        self._micro_mode: Mode | None = None
        self._micro_total: Any = 0

    def add(self, num_items: Any) -> None:
        """Record one ``backward`` call: ``num_items`` items, or None for a mean-reduced loss.

        Raises:
            TypeError: if ``num_items`` is neither an integer nor a one-element tensor.
            ValueError: if it is negative, or the window already took the other kind of loss.
        """
        mode: Mode = "mean" if num_items is None else "items"
        before = self._micro_mode or self.mode
        if before is not None and before != mode:
            given = "without num_items" if mode == "mean" else "with num_items"
            raise ValueError(
                f"num_items must be given for every micro-batch of a window or for none: this "
                f"window's losses came {'with' if before == 'items' else 'without'} it, then "
                f"one {given} (got num_items={describe(num_items)})"
            )
        self._micro_mode = mode
        if num_items is None:
            return
        if isinstance(num_items, torch.Tensor):
            if num_items.numel() != 1:
                raise TypeError(
                    f"num_items must be an integer or a one-element tensor, got a tensor of "
                    f"shape {tuple(num_items.shape)}"
                )
            count: Any = num_items.detach().reshape(())
        else:
            count = check_int("num_items", num_items, low=0)
        self._micro_total = self._micro_total + count

    def commit(self) -> None:
        """The micro-batch completed: its counts join the window's."""
        if self._micro_mode is not None:
            self.mode = self._micro_mode
            self.total = self.total + self._micro_total
        self.start_micro_batch()

    def factor(self, model: torch.nn.Module, mean_factor: float) -> float:
        """What the window's accumulated gradient is multiplied by before clipping.

        ``mean_factor`` for mean-reduced losses; world size / total items of every rank for
        summed ones.

        Raises:
            ValueError: if a token-weighted window holds no item on any rank.
        """
        if self.mode != "items":
            return mean_factor
        total, world = self.total, 1
        device = next(model.parameters()).device  # before the checks narrow ``model``
        if (is_data_parallel(model) or is_fully_sharded(model)) and _distributed():
            import torch.distributed as dist

            group = getattr(model, "process_group", None)  # DDP's; FSDP2 runs on the world
            total = torch.as_tensor(total, dtype=torch.float64, device=device).clone()
            dist.all_reduce(total, group=group)
            world = dist.get_world_size(group)
        total = float(total)
        if not total > 0:
            raise ValueError(
                f"num_items must add up to more than 0 over a window (every rank's), got {total}"
            )
        return world / total


def _distributed() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()
