"""The Schedule contract (config, pickle, equality, evaluation, formulas), checked on every
example schedule and on random ones."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import operator
import pickle
import re
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cases.schedules import (
    EXAMPLES,
    HF_NAMES,
    close,
    continuous_boundaries,
    kwargs_strategy,
)
from stepsize import schedules
from stepsize._validation import MAX_STEPS
from stepsize.schedules._ops import PYTHON, ArrayNamespace

PROPERTY_SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _id(schedule: schedules.Schedule) -> str:
    return repr(schedule)[:80]


def _horizon(schedule: schedules.Schedule) -> int:
    """A step past every phase of ``schedule`` (its step counts added up)."""
    total = 0
    for field in dataclasses.fields(schedule):
        value = getattr(schedule, field.name)
        if isinstance(value, schedules.Schedule):
            total += _horizon(value)
        elif isinstance(value, tuple):
            total += sum(_horizon(v) if isinstance(v, schedules.Schedule) else v for v in value)
        elif field.name.startswith("num_") and field.name.endswith("_steps") and value:
            total += value
    return total + 3


# ---- objects: config, pickle, equality, repr ------------------------------------------------


@pytest.mark.parametrize("schedule", EXAMPLES, ids=_id)
def test_config_is_json_and_round_trips(schedule):
    config = schedule.get_config()
    assert config["name"] == schedule.name
    text = json.dumps(config, allow_nan=False)
    rebuilt = schedules.from_config(json.loads(text))
    assert rebuilt == schedule
    assert type(schedule).from_config(config) == schedule
    assert rebuilt.get_config() == config
    steps = range(_horizon(schedule))
    assert [rebuilt(t) for t in steps] == [schedule(t) for t in steps]


@pytest.mark.parametrize("schedule", EXAMPLES, ids=_id)
def test_pickle_copy_equality_hash_repr(schedule):
    for twin in (pickle.loads(pickle.dumps(schedule)), copy.deepcopy(schedule)):
        assert twin == schedule
        assert hash(twin) == hash(schedule)
    assert len({schedule, copy.deepcopy(schedule)}) == 1
    assert schedule != schedules.get("constant_with_warmup", num_warmup_steps=12345)
    text = repr(schedule)
    assert text.startswith(type(schedule).__name__ + "(")
    for field in dataclasses.fields(schedule):
        assert f"{field.name}=" in text
    with pytest.raises(dataclasses.FrozenInstanceError):
        schedule.num_warmup_steps = 3


def test_equality_is_by_value():
    a = schedules.get("cosine", num_warmup_steps=2, num_training_steps=10)
    assert a == schedules.Cosine(2, 10, 0.5)
    assert a != schedules.get("cosine", num_warmup_steps=2, num_training_steps=11)
    assert a != schedules.get("linear", num_warmup_steps=2, num_training_steps=10)


def test_numpy_scalars_are_stored_as_python_numbers():
    s = schedules.get("cosine", num_warmup_steps=np.int64(2), num_training_steps=np.int32(9),
                      num_cycles=np.float32(0.5))  # fmt: skip
    assert type(s.num_warmup_steps) is int and type(s.num_cycles) is float
    json.dumps(s.get_config())


# ---- evaluation -----------------------------------------------------------------------------


@pytest.mark.parametrize("step", [1.5, 2.0, True, "3", None, np.float64(1.0)])
def test_call_rejects_a_step_that_is_not_an_integer(step):
    s = schedules.get("linear", num_warmup_steps=2, num_training_steps=10)
    with pytest.raises(TypeError, match=f"^step must be an integer, got {re.escape(repr(step))}"):
        s(step)


@pytest.mark.parametrize("step", [-1, MAX_STEPS + 1])
def test_call_rejects_a_step_out_of_range(step):
    s = schedules.get("linear", num_warmup_steps=2, num_training_steps=10)
    with pytest.raises(ValueError, match=f"^step must be an integer [<>]= .*, got {step}$"):
        s(step)
    assert s(MAX_STEPS) == 0.0


def test_call_takes_numpy_integers_and_returns_a_float():
    s = schedules.get("linear", num_warmup_steps=2, num_training_steps=10)
    assert type(s(np.int64(6))) is float and s(np.int64(6)) == 0.5


@pytest.mark.parametrize("steps", [[True, False], ["1"], [None], [1j]])
def test_values_rejects_steps_that_are_not_numbers(steps):
    s = schedules.get("constant")
    with pytest.raises(TypeError, match=r"^steps must be integers, got "):
        s.values(steps)


@pytest.mark.parametrize(
    "steps",
    [[-1, 2], [0.5], [np.nan], [np.inf], np.array([[1, -3]]), np.array([2**64 - 1], np.uint64)],
)
def test_values_rejects_steps_out_of_range_or_fractional(steps):
    s = schedules.get("constant")
    with pytest.raises(ValueError, match=r"^steps must be integers in \[0, 9223372036854775808\]"):
        s.values(steps)


def test_values_keeps_the_shape_and_gives_float64():
    s = schedules.get("linear", num_warmup_steps=2, num_training_steps=10)
    grid = np.arange(12).reshape(3, 4)
    out = s.values(grid)
    assert out.shape == (3, 4) and out.dtype == np.float64
    assert out.tolist() == [[s(int(t)) for t in row] for row in grid]
    assert s.values(4).shape == () and float(s.values(4)) == s(4)
    assert s.values([]).shape == (0,)
    assert s.values(np.array([3.0, 4.0])).tolist() == [s(3), s(4)]
    constant = schedules.get("constant").values(range(5))
    assert constant.tolist() == [1.0] * 5
    constant[0] = 7.0  # a writable copy, not a broadcast view
    assert schedules.get("constant").values(range(5))[0] == 1.0


class _Tensor:
    """A stand-in for a framework tensor: arithmetic works, Python truth and float() do not.

    A formula that branches on the step with ``if`` or calls ``math.*`` on it fails here,
    as it would inside a compiled TensorFlow graph.
    """

    def __init__(self, value):
        self.value = value

    def __bool__(self):
        raise TypeError("a tensor has no truth value: use xp.where")

    def __float__(self):
        raise TypeError("a tensor is not a Python float: use the namespace")

    __index__ = __int__ = __float__

    def __neg__(self):
        return _Tensor(-self.value)


def _binary(op, reverse=False):
    def method(self, other):
        other = other.value if isinstance(other, _Tensor) else other
        if isinstance(other, bool) or not isinstance(other, int | float):
            return NotImplemented
        return _Tensor(op(other, self.value) if reverse else op(self.value, other))

    return method


for _op in (operator.add, operator.sub, operator.mul, operator.truediv):
    setattr(_Tensor, f"__{_op.__name__}__", _binary(_op))
    setattr(_Tensor, f"__r{_op.__name__}__", _binary(_op, reverse=True))
for _op in (operator.lt, operator.le, operator.gt, operator.ge):
    setattr(_Tensor, f"__{_op.__name__}__", _binary(_op))


def _raw(x):
    return x.value if isinstance(x, _Tensor) else x


class _TensorNamespace(ArrayNamespace):
    """Evaluates on ``_Tensor``s, as the Keras adapter does on TF tensors."""

    def asarray(self, x):
        return _Tensor(float(_raw(x)))

    def where(self, condition, x, y):
        return _Tensor(float(_raw(x) if _raw(condition) else _raw(y)))

    def minimum(self, x, y):
        return _Tensor(min(_raw(x), _raw(y)))

    def maximum(self, x, y):
        return _Tensor(max(_raw(x), _raw(y)))

    def cos(self, x):
        return _Tensor(math.cos(_raw(x)))

    def sqrt(self, x):
        return _Tensor(math.sqrt(_raw(x)))

    def power(self, x, y):
        return _Tensor(float(_raw(x)) ** _raw(y))

    def floor(self, x):
        return _Tensor(float(math.floor(_raw(x))))


@pytest.mark.parametrize("schedule", EXAMPLES, ids=_id)
def test_formulas_only_use_operators_and_the_namespace(schedule):
    xp = _TensorNamespace()
    for t in range(_horizon(schedule) * 2):
        out = schedule.formula(xp.asarray(t), xp)
        assert isinstance(out, _Tensor), "the result must stay a tensor"
        assert out.value == schedule(t)


@pytest.mark.parametrize("schedule", EXAMPLES, ids=_id)
def test_no_branch_warns_or_overflows(schedule):
    steps = np.concatenate([np.arange(_horizon(schedule) * 2), [10**6, 10**9, 2**52]])
    with warnings.catch_warnings(), np.errstate(divide="raise", over="raise", invalid="raise"):
        warnings.simplefilter("error")
        values = schedule.values(steps)
        scalars = [schedule(int(t)) for t in steps]
    assert np.all(np.isfinite(values)) and all(math.isfinite(v) for v in scalars)


# ---- properties over random parameters ------------------------------------------------------


@st.composite
def _schedules(draw, names=HF_NAMES):
    name = draw(st.sampled_from(names))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # warmup_stable_decay warns when given both T and S
        return schedules.get(name, **draw(kwargs_strategy(name)))


@PROPERTY_SETTINGS
@given(schedule=_schedules())
def test_values_are_finite_bounded_and_vectorized_equals_scalar(schedule):
    steps = np.concatenate([np.arange(_horizon(schedule) * 2), [10**6, 10**9, 2**52]])
    with warnings.catch_warnings(), np.errstate(divide="raise", over="raise", invalid="raise"):
        warnings.simplefilter("error")
        vector = schedule.values(steps)
        scalar = [schedule(int(t)) for t in steps]
    assert np.all(np.isfinite(vector))
    assert np.all((vector >= 0.0) & (vector <= 1.0 + 1e-12))
    for v, s in zip(vector, scalar, strict=True):
        assert close(float(v), s, 1e-13)


@PROPERTY_SETTINGS
@given(schedule=_schedules())
def test_random_schedules_round_trip(schedule):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert schedules.from_config(json.loads(json.dumps(schedule.get_config()))) == schedule
    assert pickle.loads(pickle.dumps(schedule)) == schedule
    assert hash(copy.copy(schedule)) == hash(schedule)


@PROPERTY_SETTINGS
@given(schedule=_schedules())
def test_continuous_at_phase_boundaries(schedule):
    for boundary in continuous_boundaries(schedule):
        left = schedule.formula(boundary - 1e-12, PYTHON)
        right = schedule.formula(float(boundary), PYTHON)
        assert abs(left - right) <= 1e-5, (boundary, left, right)
