"""How ``GradientAccumulation`` controls, and after a failure clears, distributed gradients.

* DDP (``DistributedDataParallel``): ``model.no_sync()`` skips the all-reduce; the gradients
  accumulate in ``.grad``, and the backward that synchronizes all-reduces ``.grad`` itself.
* FSDP2 (``fully_shard``): ``set_requires_gradient_sync(False)`` skips the reduce-scatter; the
  unsharded gradients then accumulate inside FSDP, out of reach of ``.grad`` and ``zero_grad``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Protocol, TypeGuard, cast

import torch

__all__ = [
    "drop_gradients",
    "is_data_parallel",
    "is_fully_sharded",
    "synchronization",
]


class _FullyShardedModule(Protocol):  # a module wrapped by FSDP2's fully_shard
    def set_requires_gradient_sync(self, requires_gradient_sync: bool) -> None: ...

    def unshard(self) -> object: ...

    def reshard(self) -> None: ...


class _DataParallelModule(Protocol):  # DistributedDataParallel, or another no_sync wrapper
    def no_sync(self) -> contextlib.AbstractContextManager[None]: ...


def is_fully_sharded(model: torch.nn.Module) -> TypeGuard[_FullyShardedModule]:
    """Whether ``model`` is an FSDP2 module (it has ``set_requires_gradient_sync``)."""
    return callable(getattr(model, "set_requires_gradient_sync", None))


def is_data_parallel(model: torch.nn.Module) -> TypeGuard[_DataParallelModule]:
    """Whether ``model`` skips gradient synchronization with ``no_sync()`` (DDP, FSDP1)."""
    return callable(getattr(model, "no_sync", None))


@contextlib.contextmanager
def synchronization(model: torch.nn.Module, sync: bool) -> Iterator[None]:
    """Runs the block with the model's gradient synchronization on (``sync``) or off."""
    if not sync and is_fully_sharded(model):
        model.set_requires_gradient_sync(False)
        try:
            yield
        finally:
            model.set_requires_gradient_sync(True)
    elif not sync and is_data_parallel(model):
        # DDP decides at forward time whether the backward will all-reduce.
        with model.no_sync():
            yield
    else:
        yield


def drop_gradients(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Sets every gradient to None, FSDP2's internally accumulated ones included.

    For FSDP2 it first calls the root's ``reset_iter_state()`` (where torch has it), which
    recovers FSDP from a forward or backward that raised; then it unshards each FSDP module,
    drops the unsharded parameters' gradients (where FSDP2 accumulates without
    synchronization; ``reset_iter_state`` leaves them in torch 2.13) and reshards. Unsharding
    all-gathers the parameters: every rank must call this together.
    """
    fully_sharded = is_fully_sharded(model)  # a bool: `model` stays a Module for mypy
    if fully_sharded:
        reset = getattr(model, "reset_iter_state", None)
        if callable(reset):
            reset()
        sharded = [
            cast(_FullyShardedModule, m)
            for m in model.modules()
            if callable(getattr(m, "unshard", None)) and callable(getattr(m, "reshard", None))
        ]
        for module in sharded:
            module.unshard()
        for p in model.parameters():  # now the unsharded parameters
            p.grad = None
        for module in sharded:
            module.reshard()
    model.zero_grad(set_to_none=True)
    optimizer.zero_grad(set_to_none=True)
