"""Adversarial inputs and the promise every public entry point keeps (the fuzz suite's core).

The promise (README: "Errors"): given any input, a public constructor, loader or command either
returns a valid, finite result, or raises ``TypeError`` / ``ValueError`` whose message names the
offending argument — never another exception type, never NaN or inf, and a rejected load leaves
the object unchanged.

* ``SPECIAL_FLOATS``, ``HUGE_INTS``, ``WRONG_TYPES``: values that have broken numeric code.
* ``numbers()``, ``anything()``, ``variants(value)``: hypothesis strategies built from them.
* ``keeps_promise(area, call, arguments)``: runs ``call`` and checks the promise; counts the
  inputs tried per area (``TRIED``), which the fuzz suite reports at the end of the run.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from hypothesis import strategies as st

__all__ = [
    "HUGE_INTS",
    "SPECIAL_FLOATS",
    "TRIED",
    "WRONG_TYPES",
    "anything",
    "assert_finite",
    "keeps_promise",
    "numbers",
    "variants",
]

SPECIAL_FLOATS: list[float] = [
    math.nan,
    math.inf,
    -math.inf,
    0.0,
    -0.0,
    5e-324,  # the smallest subnormal float64
    1e-310,  # subnormal in float64
    1e-44,  # subnormal in float32
    1e-38,  # about float32's smallest normal
    1e-30,
    1.0 - 2**-53,
    1.0,
    1.0 + 2**-52,
    3.4e38,  # about float32's largest
    1e308,
    -1e308,
    1.7976931348623157e308,
]
HUGE_INTS: list[int] = [
    2**31,
    2**53 + 1,
    2**63 - 1,
    2**63,
    2**64,
    -(2**63),
    10**20,
    10**400,
    -(10**400),
    2**1024,
]
WRONG_TYPES: list[Any] = [
    "1e-3",
    "",
    "nan",
    "linear",
    None,
    True,
    False,
    [],
    [1.0],
    (),
    (0.9,),
    {},
    {"name": "linear"},
    b"1",
    1j,
    object(),
]

# Inputs tried per area (e.g. "schedules", "torch.load", "cli"), reported by the fuzz suite.
TRIED: Counter[str] = Counter()


def numbers() -> st.SearchStrategy[Any]:
    """Any real number a user could pass: ordinary, special, subnormal, huge and negative."""
    return st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.sampled_from(SPECIAL_FLOATS),
        st.sampled_from(HUGE_INTS),
    )


def anything() -> st.SearchStrategy[Any]:
    """A number, or a value of a wrong type."""
    return st.one_of(numbers(), st.sampled_from(WRONG_TYPES))


def variants(value: Any) -> st.SearchStrategy[Any]:
    """Values near ``value`` (a valid default) and adversarial ones.

    Near values keep the type (so other checks are passed and the interesting code runs):
    scaled, negated, zero, off-by-one; adversarial ones are ``anything()``.
    """
    near: list[st.SearchStrategy[Any]] = [st.just(value)]
    if isinstance(value, bool):
        near.append(st.booleans())
    elif isinstance(value, int):
        near += [
            st.integers(min_value=-2, max_value=max(2 * value + 2, 10)),
            st.sampled_from(HUGE_INTS),
        ]
    elif isinstance(value, float):
        near += [st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(SPECIAL_FLOATS)]
    elif isinstance(value, tuple | list):
        near.append(st.tuples(*(variants(v) for v in value)))
    return st.one_of(*near, anything())


def assert_finite(value: Any, what: str = "result") -> None:
    """Asserts that every number in ``value`` (floats, tensors, arrays, nested) is finite."""
    if isinstance(value, bool | str | bytes) or value is None:
        return
    if isinstance(value, float | int):
        assert math.isfinite(value), f"{what} is {value!r}"
    elif isinstance(value, dict):
        for key, item in value.items():
            assert_finite(item, f"{what}[{key!r}]")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            assert_finite(item, f"{what}[{index}]")
    elif hasattr(value, "isfinite") or hasattr(value, "dtype"):  # torch tensors, NumPy arrays
        import numpy as np

        array = value.detach().cpu().double().numpy() if hasattr(value, "detach") else value
        array = np.asarray(array)
        if array.dtype.kind in "fc":
            assert np.isfinite(array).all(), f"{what} holds NaN or inf"


def keeps_promise(area: str, call: Callable[[], Any], arguments: Iterable[str]) -> Any:
    """Runs ``call()``; returns its result, or None when it raised a promised error.

    A ``TypeError`` or ``ValueError`` must name one of ``arguments`` in its message; any other
    exception propagates (and fails the test). The caller checks the result itself (finite,
    valid) — ``assert_finite`` helps.
    """
    TRIED[area] += 1
    names = list(arguments)
    try:
        return call()
    except (TypeError, ValueError) as error:
        message = str(error)
        assert any(name in message for name in names), (
            f"{type(error).__name__} does not name any of {names}: {message}"
        )
        assert "\n" not in message.strip(), f"a multi-line message: {message!r}"
        return None
