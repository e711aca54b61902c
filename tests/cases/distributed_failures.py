"""Micro-batches that raise on purpose: the exception-safety cases of ``GradientAccumulation``.

``run_micro_batch`` runs one ``with acc.accumulate():`` block on the model of
``cases.distributed`` (plain, DDP or FSDP2 wrapped) and, like a loop that skips a micro-batch
on an out-of-memory error, swallows the ``Failure`` it raises where ``failure`` says:

* ``"forward"``: inside the model's forward (before any gradient exists);
* ``"backward"``: inside autograd, after the last layer's gradients were written, so a
  partial gradient is left behind;
* ``"after"``: after the micro-batch's whole backward.

The failing micro-batch's loss is multiplied by ``poison``, so a gradient that leaks into an
update changes it visibly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

from cases.distributed import loss_fn

__all__ = ["FAILURES", "Failure", "run_micro_batch"]

FAILURES = ("forward", "backward", "after")


class Failure(RuntimeError):
    """The error a test's micro-batch raises on purpose."""


class _RaiseInBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        raise Failure("inside backward")


@contextlib.contextmanager
def _armed(model: torch.nn.Module, failure: str | None) -> Iterator[None]:
    layers = getattr(model, "module", model)  # DDP wraps the Sequential
    if failure not in ("forward", "backward"):
        yield
        return

    def hook(module: torch.nn.Module, args: Any, output: torch.Tensor) -> torch.Tensor:
        if failure == "forward":
            raise Failure("inside forward")
        return _RaiseInBackward.apply(output)

    handle = layers[1].register_forward_hook(hook)  # the activation between the two layers
    try:
        yield
    finally:
        handle.remove()


def run_micro_batch(
    acc: Any,
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    failure: str | None = None,
    poison: float = 1e3,
) -> bool:
    """One micro-batch through ``acc``; False if it raised (``failure``) and was skipped."""
    try:
        with acc.accumulate():
            with _armed(model, failure):
                loss = loss_fn(model, x, y)
                acc.backward(loss * poison if failure else loss)
            if failure == "after":
                raise Failure("after backward")
    except Failure:
        return False
    return True
