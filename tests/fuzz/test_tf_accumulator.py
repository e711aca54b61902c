"""Fuzz the TensorFlow ``GradientAccumulator`` with adversarial gradient lists.

After a valid first call (accumulators of shapes [2], [] and [2, 3], and a None), each call
draws a list whose entries are the right gradient, another shape, another dtype, None, a
sparse gradient, or anything else, and a list of another length. The promise: TypeError /
ValueError naming ``gradients``, and then nothing was added; or exactly the drawn gradients
(cast to float32) were added and the step counted.
"""

from __future__ import annotations

from typing import Any

import hypothesis
import numpy as np
import pytest
from hypothesis import strategies as st

tf = pytest.importorskip("tensorflow")

from cases.adversarial import anything, keeps_promise, numbers  # noqa: E402
from stepsize.tf import GradientAccumulator  # noqa: E402

# Huge floats cast to float16 overflow to inf, as they should: data, not an error.
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")

SHAPES = ([2], [], [2, 3], None)  # None: a variable without a gradient


def examples(count: int) -> int:
    """``count`` examples in the default profile, scaled up with the long one."""
    return max(1, count * hypothesis.settings().max_examples // 100)


def _gradient(shape: list[int] | None) -> st.SearchStrategy[Any]:
    """A gradient for an accumulator of ``shape``: right, or wrong in some way."""
    if shape is None:
        return st.one_of(st.none(), anything())
    size = int(np.prod(shape))
    values = st.lists(numbers().filter(lambda v: isinstance(v, float)), min_size=size,
                      max_size=size).map(lambda v: np.reshape(np.asarray(v), shape))  # fmt: skip
    return st.one_of(
        st.tuples(values, st.sampled_from(["float32", "float16", "float64", "bfloat16"])).map(
            lambda pair: tf.constant(pair[0], dtype=pair[1])
        ),
        values,  # a NumPy float64 array
        st.sampled_from(["int32", "complex64", "bool", "string"]).map(
            lambda dtype: tf.zeros(shape, dtype=dtype)
        ),
        st.lists(st.integers(0, 3), min_size=1, max_size=3).map(lambda s: tf.ones(s)),
        st.none(),
        anything(),
    )


def _sum(gradient: Any) -> np.ndarray:
    return tf.cast(tf.convert_to_tensor(gradient), tf.float32).numpy()


def _state(accumulator: GradientAccumulator) -> tuple[int, list]:
    return int(accumulator.step), [g if g is None else g.numpy() for g in accumulator.gradients]


@hypothesis.settings(max_examples=examples(200))
@hypothesis.given(
    calls=st.lists(
        st.one_of(
            st.tuples(*(_gradient(shape) for shape in SHAPES)).map(list),
            st.lists(_gradient([2]), max_size=5),  # another length
            anything(),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_adversarial_gradient_lists(calls):
    accumulator = GradientAccumulator()
    accumulator([tf.ones(shape) if shape is not None else None for shape in SHAPES])
    for gradients in calls:
        step, before = _state(accumulator)
        added = keeps_promise("tf.accumulator", lambda g=gradients: accumulator(g) or True,
                              ["gradients"])  # fmt: skip
        after_step, after = _state(accumulator)
        if added is None:
            assert after_step == step
            for old, new in zip(before, after, strict=True):
                np.testing.assert_array_equal(new, old)  # NaN equals NaN here
            continue
        assert after_step == step + 1
        for old, new, gradient in zip(before, after, gradients, strict=True):
            if old is None or gradient is None:
                np.testing.assert_array_equal(new, old)
            else:
                np.testing.assert_array_equal(new, old + _sum(gradient))


@hypothesis.settings(max_examples=examples(15))
@hypothesis.given(
    shape=st.lists(st.integers(1, 3), min_size=1, max_size=2),
    dtype=st.sampled_from(["float32", "float64", "int32"]),
)
def test_inside_tf_function(shape, dtype):
    accumulator = GradientAccumulator()
    accumulator([tf.ones([2, 2]), tf.ones([3])])
    # autograph would prefix a trace to the message ("in user code: ..."; see the unit tests)
    accumulate = tf.function(accumulator, autograph=False)
    gradients = [tf.ones(shape, dtype=dtype), tf.ones([3])]
    before = _state(accumulator)
    added = keeps_promise("tf.accumulator", lambda: accumulate(gradients) or True, ["gradients"])
    expected_step = before[0] + (added is not None)
    assert _state(accumulator)[0] == expected_step
    assert (added is not None) == (shape == [2, 2] and dtype != "int32")
