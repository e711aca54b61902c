"""``cosine`` and ``cosine_with_restarts``."""

import math

import pytest

from cases.schedules import (
    close,
    transformers_lambda,
)
from stepsize import schedules

NAMES = ("cosine", "cosine_with_restarts")


@pytest.mark.parametrize("cycles", [0.5, 0.75, 2])
def test_cosine_formula(cycles):
    s = schedules.get("cosine", num_warmup_steps=3, num_training_steps=11, num_cycles=cycles)
    for t in range(3, 12):
        p = (t - 3) / 8
        assert close(s(t), max(0.0, 0.5 * (1 + math.cos(2 * math.pi * cycles * p))))


@pytest.mark.parametrize("warmup", [0, 2, 10])
@pytest.mark.parametrize("cycles", [0.5, 0.75])
def test_cosine_holds_the_value_at_T_where_transformers_rises_again(warmup, cycles):
    """README, Deliberate differences from transformers: past T transformers' cosine moves on
    (rises again); stepsize holds λ(T)."""
    pytest.importorskip("transformers")
    kwargs = {"num_warmup_steps": warmup, "num_training_steps": 10, "num_cycles": cycles}
    s = schedules.get("cosine", **kwargs)
    reference = transformers_lambda("cosine", kwargs)
    assert close(s(10), reference(10))
    assert max(abs(reference(t) - reference(10)) for t in range(11, 40)) > 0.1
    assert [s(t) for t in range(10, 40)] == [s(10)] * 30
    assert s.values([10, 11, 1000]).tolist() == [s(10)] * 3


def test_restarts_formula_and_zero_after_T():
    s = schedules.get("cosine_with_restarts", num_warmup_steps=2, num_training_steps=14,
                      num_cycles=3)  # fmt: skip
    for t in range(2, 14):
        p = (t - 2) / 12
        assert close(s(t), 0.5 * (1 + math.cos(math.pi * ((3 * p) % 1.0))))
    assert [s(t) for t in (2, 6, 10)] == [1.0, 1.0, 1.0]  # each cycle restarts at the peak
    assert [s(t) for t in (14, 15, 100)] == [0.0, 0.0, 0.0]
