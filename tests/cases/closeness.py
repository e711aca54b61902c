"""How "equal" is judged, per precision (the README's "How equal is measured").

Different operation orders round differently, so two implementations of one update are
compared elementwise with a bound that depends on the precision they ran in:

* float64: |x − y| <= 1e-10·|y|;
* float32 (after ~30 steps at lr <= 1e-2): |x − y| <= 1e-6 + 1e-5·|y|.

Low-precision (bfloat16/float16) runs are not compared elementwise: each is compared with the
float32 run of the reference, by ``relative_distance``, and must be no further from it than the
reference implementation's own low-precision run (``assert_no_further``). Two implementations
that round the same float32 values once per stored value may differ by one unit in the last
place (``assert_within_ulps``); their Kahan-compensated pairs (p, c) agree on p + c to the
precision of the pair (``assert_compensated_close``).

Works on PyTorch and TensorFlow tensors, NumPy arrays and Python numbers, and on lists of them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "TOLERANCES",
    "assert_close",
    "assert_compensated_close",
    "assert_no_further",
    "assert_within_ulps",
    "relative_distance",
    "to_numpy",
]

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
    rtol, atol = TOLERANCES[_precision(dtype)]
    bound = f"the {_precision(dtype)} bound"
    _assert_within(actual, expected, lambda size: atol + rtol * size, bound, what)


def _assert_within(actual: Any, expected: Any, allowed: Any, bound: str, what: str) -> None:
    """|actual − expected| <= allowed(|expected|) elementwise, through lists and tuples."""
    if isinstance(actual, list | tuple):
        assert len(actual) == len(expected), f"{what}: {len(actual)} != {len(expected)} values"
        for index, (x, y) in enumerate(zip(actual, expected, strict=True)):
            _assert_within(x, y, allowed, bound, f"{what}[{index}]")
        return
    x, y = to_numpy(actual), to_numpy(expected)
    assert x.shape == y.shape, f"{what}: shape {x.shape} != {y.shape}"
    excess = np.abs(x - y) - allowed(np.abs(y))
    worst = float(np.max(excess, initial=-np.inf))  # NaN anywhere makes it NaN: a failure
    assert worst <= 0, f"{what}: off by {worst:.3g} beyond {bound}"


# The distance from 1 to the next larger number (one unit in the last place at 1).
_MACHINE_EPSILON = {"bfloat16": 2.0**-7, "float16": 2.0**-10}


def assert_within_ulps(actual: Any, expected: Any, dtype: Any, *, what: str = "") -> None:
    """Asserts ``|actual − expected| <= eps(dtype)·|expected|`` elementwise: at most one unit
    in the last place of a low-precision (bfloat16/float16) value apart.

    Args:
        actual: a tensor, array or number, or a list/tuple of them.
        expected: the same structure, the reference values.
        dtype: the precision both were stored in (a dtype or its name).
        what: a label for the failure message.
    """
    eps = _MACHINE_EPSILON[str(getattr(dtype, "name", dtype)).removeprefix("torch.")]
    _assert_within(actual, expected, lambda size: eps * size, "one unit in the last place", what)


def relative_distance(run: Any, reference: Any) -> float:
    """‖run − reference‖ / ‖reference‖ over all values (lists are concatenated)."""
    if isinstance(run, list | tuple):
        x = np.concatenate([to_numpy(t).ravel() for t in run])
        y = np.concatenate([to_numpy(t).ravel() for t in reference])
    else:
        x, y = to_numpy(run).ravel(), to_numpy(reference).ravel()
    return float(np.linalg.norm(x - y) / np.linalg.norm(y))


def assert_no_further(
    run: Any, theirs: Any, reference: Any, *, slack: float = 0.0, what: str = ""
) -> None:
    """Asserts a low-precision ``run`` is no further from ``reference`` than ``theirs``.

    Args:
        run: the low-precision values under test (a tensor, array, or a list of them).
        theirs: the reference implementation's own run in the same precision, from the same
            start and inputs.
        reference: the reference implementation's float32 run, from the same (rounded) start
            and inputs.
        slack: relative excess allowed, for implementations that round the same float32
            values as the reference (their distances then agree only up to float32 rounding).
        what: a label for the failure message.
    """
    mine, their = relative_distance(run, reference), relative_distance(theirs, reference)
    assert mine <= their * (1.0 + slack), (
        f"{what}: {mine:.6g} from the float32 run, the reference's {their:.6g}"
    )


# The absolute precision of a float16 compensation where it is subnormal (2^-24 apart).
_FLOAT16_SUBNORMAL_UNIT = 2.0**-24


def assert_compensated_close(
    actual: Any,
    actual_comp: Any,
    expected: Any,
    expected_comp: Any,
    dtype: Any,
    *,
    steps: int = 1,
    what: str = "",
) -> None:
    """Asserts Kahan-compensated low-precision values agree on p + c, to the pair's precision.

    Two paths that compute the same float32 update and write it with Kahan summation agree,
    per step, on p + c up to the rounding of each c to ``dtype`` (|c| <= half a unit of p, so
    eps²/4·|p| each) and float32 rounding of the update (2^-21·|p|), where p itself may differ
    by one unit (c then differs by one unit the other way); a subnormal float16 c loses up to
    2^-24 more. Over ``steps`` steps the bound adds up.

    Args:
        actual, actual_comp: the parameters (p) and compensation buffers (c) under test.
        expected, expected_comp: the reference's.
        dtype: their low-precision dtype (bfloat16/float16).
        steps: the steps the two runs took since they last agreed.
        what: a label for the failure message.
    """
    eps = _MACHINE_EPSILON[str(getattr(dtype, "name", dtype)).removeprefix("torch.")]
    relative = steps * (eps * eps / 2 + 2.0**-21)
    tiny = steps * _FLOAT16_SUBNORMAL_UNIT if eps == _MACHINE_EPSILON["float16"] else 0.0

    def total(values: Any, comps: Any) -> Any:
        if isinstance(values, list | tuple):
            return [total(v, c) for v, c in zip(values, comps, strict=True)]
        return to_numpy(values) + to_numpy(comps)

    _assert_within(
        total(actual, actual_comp),
        total(expected, expected_comp),
        lambda size: tiny + relative * size,
        "the precision of the compensated pair",
        what,
    )
