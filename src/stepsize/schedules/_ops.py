"""Array namespaces: the handful of operations every schedule formula is written against.

A schedule's formula is written once, as ``formula(step, xp)``, where ``step`` is a float64
scalar or array and ``xp`` is one of these namespaces. Python floats, NumPy arrays and
framework tensors (the Keras adapter in ``stepsize.tf`` adds one for TensorFlow) then all run
the same arithmetic. Arithmetic operators and comparisons are used directly; only what
differs between backends lives here.

Every namespace evaluates both branches of ``where``, so formulas guard their divisions,
square roots and powers (``maximum(denominator, 1)`` and the like) to keep the branch that
is not taken finite.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["NUMPY", "PYTHON", "ArrayNamespace", "numpy_namespace"]


class ArrayNamespace:
    """Operations on Python floats; subclasses override them for arrays or tensors."""

    pi = math.pi

    @staticmethod
    def asarray(x: Any) -> Any:
        """Converts a step (or steps) to float64."""
        return float(x)

    @staticmethod
    def where(condition: Any, x: Any, y: Any) -> Any:
        return x if condition else y

    @staticmethod
    def minimum(x: Any, y: Any) -> Any:
        return min(x, y)

    @staticmethod
    def maximum(x: Any, y: Any) -> Any:
        return max(x, y)

    @staticmethod
    def cos(x: Any) -> Any:
        return math.cos(x)

    @staticmethod
    def sqrt(x: Any) -> Any:
        return math.sqrt(x)

    @staticmethod
    def power(x: Any, y: Any) -> Any:
        return float(x) ** y

    @staticmethod
    def floor(x: Any) -> Any:
        return float(math.floor(x))


PYTHON = ArrayNamespace()
NUMPY: ArrayNamespace | None = None  # built on first use: `import stepsize` never imports numpy


def numpy_namespace() -> ArrayNamespace:
    """Returns the NumPy namespace, importing NumPy on first use."""
    global NUMPY
    if NUMPY is None:
        from stepsize.schedules._numpy_ops import NumpyNamespace

        NUMPY = NumpyNamespace()
    return NUMPY
