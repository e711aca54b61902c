"""Following the updates an optimizer applies: a step post-hook that leaves out the steps a
``GradScaler`` skipped.

GradScaler calls an optimizer that handles its scaling itself (``_step_supports_amp_scaling``:
stepsize's, torch's fused ones) even when it found inf/NaN gradients, with ``found_inf`` set
for the duration of the call: the optimizer then leaves everything as it was. Other optimizers
are not called at all for a skipped step. Either way the hook below sees only applied updates.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import torch
from torch.utils.hooks import RemovableHandle

from stepsize.torch._optimizer_base import amp_inputs

__all__ = ["on_applied_update"]


def on_applied_update(
    optimizer: torch.optim.Optimizer, owner: Any, callback: Callable[[Any], None]
) -> RemovableHandle:
    """Calls ``callback(owner)`` after each update ``optimizer`` applies.

    The optimizer holds only a weak reference to ``owner``: the hook does not keep it alive,
    and is removed when ``owner`` is collected.

    Returns:
        The hook's handle (``handle.remove()`` stops following).

    Example:
        >>> class Counter:
        ...     updates = 0
        >>> counter = Counter()
        >>> optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        >>> handle = on_applied_update(
        ...     optimizer, counter, lambda owner: setattr(owner, "updates", owner.updates + 1)
        ... )
        >>> optimizer.step(); optimizer.step()
        >>> counter.updates
        2
    """
    reference = weakref.ref(owner)

    def hook(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        target = reference()
        if target is not None and not amp_inputs(optimizer)[1]:
            callback(target)

    handle = optimizer.register_step_post_hook(hook)
    weakref.finalize(owner, handle.remove)
    return handle
