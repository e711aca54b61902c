"""How "equal" is judged, per precision (the README's "How equal is measured").

Different operation orders round differently, so two implementations of one update are
compared elementwise with a bound that depends on the precision they ran in:

* float64: |x − y| <= 1e-10·|y|;
* float32 (after ~30 steps at lr <= 1e-2): |x − y| <= 1e-6 + 1e-5·|y|.

Low-precision (bfloat16/float16) runs are not compared elementwise: each is compared with the
float32 run of the reference, by ``relative_distance``.

Works on PyTorch and TensorFlow tensors, NumPy arrays and Python numbers, and on lists of them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["TOLERANCES", "assert_close", "relative_distance", "to_numpy"]

# precision name -> (rtol, atol)
TOLERANCES: dict[str, tuple[float, float]] = {
    "float64": (1e-10, 0.0),
    "float32": (1e-5, 1e-6),
}


def _precision(dtype: Any) -> str:
    name = str(getattr(dtype, "name", dtype)).removeprefix("torch.")
    if name not in TOLERANCES:
        raise ValueError(f"no elementwise tolerance for {dtype!r}: compare with float32 instead")
    return name


def to_numpy(x: Any) -> np.ndarray:
    """A float64 NumPy copy of a torch/TF tensor, an array or a number."""
    if hasattr(x, "detach"):  # torch (bfloat16 has no NumPy dtype: widen first)
        return x.detach().cpu().double().numpy()
    if hasattr(x, "numpy"):  # TensorFlow, Keras variables
        return np.asarray(x.numpy(), dtype=np.float64)
    return np.asarray(x, dtype=np.float64)


def assert_close(actual: Any, expected: Any, dtype: Any, *, what: str = "") -> None:
    """Asserts ``actual`` equals ``expected`` within the bound of precision ``dtype``.

    Args:
        actual: a tensor, array or number, or a list/tuple of them.
        expected: the same structure, the reference values.
        dtype: the precision the values were computed in (a torch/TF/NumPy dtype or its name).
        what: a label for the failure message.
    """
    if isinstance(actual, list | tuple):
        assert len(actual) == len(expected), f"{what}: {len(actual)} != {len(expected)} values"
        for index, (x, y) in enumerate(zip(actual, expected, strict=True)):
            assert_close(x, y, dtype, what=f"{what}[{index}]")
        return
    rtol, atol = TOLERANCES[_precision(dtype)]
    x, y = to_numpy(actual), to_numpy(expected)
    assert x.shape == y.shape, f"{what}: shape {x.shape} != {y.shape}"
    excess = np.abs(x - y) - (atol + rtol * np.abs(y))
    worst = float(np.max(excess, initial=-np.inf))  # NaN anywhere makes it NaN: a failure
    assert worst <= 0, f"{what}: off by {worst:.3g} beyond the {_precision(dtype)} bound"


def relative_distance(run: Any, reference: Any) -> float:
    """‖run − reference‖ / ‖reference‖ over all values (lists are concatenated)."""
    if isinstance(run, list | tuple):
        x = np.concatenate([to_numpy(t).ravel() for t in run])
        y = np.concatenate([to_numpy(t).ravel() for t in reference])
    else:
        x, y = to_numpy(run).ravel(), to_numpy(reference).ravel()
    return float(np.linalg.norm(x - y) / np.linalg.norm(y))
