"""Elementwise kernels compiled with ``torch.compile``, with the eager path as the fallback.

A low-precision update with Kahan compensation or stochastic rounding reads a handful of
bfloat16 tensors and writes a few back; in eager PyTorch each operation is a pass over memory
(and a float32 temporary), compiled it is one loop (inductor's C++/OpenMP on the CPU, Triton
on CUDA) that moves each byte once. :class:`CompiledKernel` compiles its function on first use,
once for every size (``dynamic=True``), and keeps it for the process.

The compiled kernels are used where they pay: for tensors of at least :data:`MIN_NUMEL`
elements, on CPU and CUDA, unless the environment variable ``STEPSIZE_COMPILE`` is ``0``
(read at every step). If compiling fails (no C++ compiler, an unsupported platform), a
warning says so, that call runs the same function eagerly, and the optimizers take their
eager multi-tensor path on that device type from then on.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["ENV", "MIN_NUMEL", "CompiledKernel", "enabled"]

ENV = "STEPSIZE_COMPILE"
# Below this many elements a tensor takes the eager path: the compiled call's fixed cost
# (tens of microseconds) exceeds what it saves, and small models never wait for a compile.
MIN_NUMEL = 1 << 16
_DEVICE_TYPES = ("cpu", "cuda")
# Inductor keeps fused bfloat16/float16 intermediates in float32 unless told to round them as
# eager does; Kahan summation needs the rounded parameter (round(p + s) − p is what was added).
_INDUCTOR_OPTIONS: dict[str, str | int | bool | Callable[..., Any]] = {
    "emulate_precision_casts": True
}


def enabled() -> bool:
    """Whether compiled kernels may run (``STEPSIZE_COMPILE`` is not ``0``)."""
    return os.environ.get(ENV, "1") != "0"


class CompiledKernel:
    """``fn`` compiled on first use (``torch.compile(fn, dynamic=True, fullgraph=True)``).

    Args:
        fn: an elementwise function of tensors and Python numbers, run for its in-place
            effects; also the eager fallback.
    """

    def __init__(self, fn: Callable[..., None]) -> None:
        self.fn = fn
        self._compiled: Callable[..., None] | None = None
        self._failed: set[str] = set()

    def usable(self, tensor: torch.Tensor) -> bool:
        """Whether to run this kernel on ``tensor``: compiling is on and works for its device
        type, and the tensor has at least :data:`MIN_NUMEL` elements."""
        device_type = tensor.device.type
        return (
            tensor.numel() >= MIN_NUMEL
            and device_type in _DEVICE_TYPES
            and device_type not in self._failed
            and enabled()
        )

    def __call__(self, *args: Any) -> None:
        """Runs the compiled function (compiling it on first use), else ``fn`` eagerly."""
        if args[0].device.type in self._failed:
            self.fn(*args)
            return
        if self._compiled is None:
            self._compiled = torch.compile(
                self.fn, dynamic=True, fullgraph=True, options=_INDUCTOR_OPTIONS
            )
        try:
            self._compiled(*args)
        except Exception as error:  # compiling failed: run this call eagerly, stop trying
            device_type = args[0].device.type
            self._failed.add(device_type)
            warnings.warn(
                f"stepsize: compiling {self.fn.__name__} for {device_type} failed, the "
                f"optimizers use their eager path there ({type(error).__name__}: {error})",
                RuntimeWarning,
                stacklevel=2,
            )
            self.fn(*args)
