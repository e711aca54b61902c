"""The NumPy array namespace: the schedule formulas' operations on float64 arrays.

Kept out of ``_ops`` so that ``import stepsize`` never imports NumPy: ``numpy_namespace()``
imports this module on first use.

Example:
    >>> NumpyNamespace.minimum(NumpyNamespace.asarray([1, 5]), 3).tolist()
    [1.0, 3.0]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stepsize.schedules._ops import ArrayNamespace

__all__ = ["NumpyNamespace"]


class NumpyNamespace(ArrayNamespace):
    """``ArrayNamespace``'s operations as NumPy's elementwise functions."""

    @staticmethod
    def asarray(x: Any) -> Any:
        return np.asarray(x, dtype=np.float64)

    @staticmethod
    def where(condition: Any, x: Any, y: Any) -> Any:
        return np.where(condition, x, y)

    @staticmethod
    def minimum(x: Any, y: Any) -> Any:
        return np.minimum(x, y)

    @staticmethod
    def maximum(x: Any, y: Any) -> Any:
        return np.maximum(x, y)

    @staticmethod
    def cos(x: Any) -> Any:
        return np.cos(x)

    @staticmethod
    def sqrt(x: Any) -> Any:
        return np.sqrt(x)

    @staticmethod
    def power(x: Any, y: Any) -> Any:
        return np.power(x, y)

    @staticmethod
    def floor(x: Any) -> Any:
        return np.floor(x)
