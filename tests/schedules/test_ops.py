"""The array namespaces: Python floats and NumPy agree operation by operation."""

import math

import numpy as np
import pytest

from stepsize.schedules._ops import PYTHON, ArrayNamespace, numpy_namespace

XS = [0.0, 0.25, 1.0, 2.5, 7.0]


def test_python_namespace_is_the_base_class():
    assert type(PYTHON) is ArrayNamespace
    assert PYTHON.pi == math.pi
    assert PYTHON.asarray(3) == 3.0 and type(PYTHON.asarray(3)) is float
    assert PYTHON.where(True, 1.0, 2.0) == 1.0 and PYTHON.where(False, 1.0, 2.0) == 2.0


def test_numpy_namespace_is_built_once():
    xp = numpy_namespace()
    assert xp is numpy_namespace()
    assert xp.asarray([1, 2]).dtype == np.float64
    assert xp.where(np.array([True, False]), 1.0, 2.0).tolist() == [1.0, 2.0]


@pytest.mark.parametrize("op", ["cos", "sqrt", "floor"])
def test_unary_operations_agree(op):
    xp = numpy_namespace()
    vector = getattr(xp, op)(xp.asarray(XS))
    for x, v in zip(XS, vector, strict=True):
        assert getattr(PYTHON, op)(x) == pytest.approx(float(v), rel=1e-15, abs=1e-300)


@pytest.mark.parametrize("op", ["minimum", "maximum", "power"])
def test_binary_operations_agree(op):
    xp = numpy_namespace()
    vector = getattr(xp, op)(xp.asarray(XS), 1.5)
    for x, v in zip(XS, vector, strict=True):
        assert getattr(PYTHON, op)(x, 1.5) == pytest.approx(float(v), rel=1e-15)
