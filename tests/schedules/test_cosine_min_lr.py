"""``cosine_with_min_lr`` and ``cosine_warmup_with_min_lr``."""

import math

import pytest

from cases.schedules import (
    close,
    transformers_lambda,
)
from stepsize import schedules


@pytest.mark.parametrize("warmup", [0, 3, 10])
def test_cosine_with_min_lr_holds_the_value_at_T_where_transformers_rises_again(warmup):
    """README, Deliberate differences from transformers: past T transformers' curve turns up
    again; stepsize holds λ(T)."""
    pytest.importorskip("transformers")
    kwargs = {"num_warmup_steps": warmup, "num_training_steps": 10, "min_lr_rate": 0.1}
    s = schedules.get("cosine_with_min_lr", **kwargs)
    reference = transformers_lambda("cosine_with_min_lr", kwargs)
    assert close(s(10), reference(10))
    assert max(abs(reference(t) - reference(10)) for t in range(11, 40)) > 0.1
    assert [s(t) for t in range(10, 40)] == [s(10)] * 30


def _unheld_cosine_warmup_with_min_lr(t, w_steps, t_steps, rate, cycles=0.5, warmup_rate=None):
    """The docstring's formula as transformers 5 computes it, without stepsize's hold."""
    if t < w_steps:
        if warmup_rate is None:
            return (t + 1) / max(1, w_steps)
        return warmup_rate + (1 - warmup_rate) * t / max(1, w_steps - 1)
    p = (t - w_steps + 1) / max(1, t_steps - w_steps)
    return max(0.0, rate + (1 - rate) * 0.5 * (1 + math.cos(2 * math.pi * cycles * p)))


@pytest.mark.parametrize("warmup", [0, 1, 2, 4, 10])
@pytest.mark.parametrize("warmup_rate", [None, 0.0, 0.2])
@pytest.mark.parametrize("rate, cycles", [(0.1, 0.5), (0.0, 0.5), (0.3, 1.0), (1.0, 0.5)])
def test_cosine_warmup_with_min_lr_formula(warmup, warmup_rate, rate, cycles):
    total = 10
    s = schedules.get(
        "cosine_warmup_with_min_lr",
        num_warmup_steps=warmup,
        num_training_steps=total,
        min_lr_rate=rate,
        num_cycles=cycles,
        warmup_lr_rate=warmup_rate,
    )
    expected = [
        _unheld_cosine_warmup_with_min_lr(t, warmup, total, rate, cycles, warmup_rate)
        for t in range(total)
    ]
    assert all(close(s(t), v) for t, v in enumerate(expected))
    # From T - 1 on, stepsize holds the value reached there (the floor for half a wave).
    held = s(max(total - 1, warmup))
    assert [s(t) for t in range(max(total - 1, warmup), 3 * total)] == [held] * len(
        range(max(total - 1, warmup), 3 * total)
    )
    if cycles == 0.5 and warmup < total:
        assert close(held, rate)


def test_cosine_warmup_with_min_lr_holds_the_minimum_where_transformers_rises_again():
    """README, Deliberate differences from transformers: transformers gives .16029 at t = 10
    for the known-value row; stepsize holds .1."""
    kwargs = {"num_warmup_steps": 4, "num_training_steps": 10, "min_lr_rate": 0.1}
    s = schedules.get("cosine_warmup_with_min_lr", **kwargs, warmup_lr_rate=0.2)
    assert round(_unheld_cosine_warmup_with_min_lr(10, 4, 10, 0.1, warmup_rate=0.2), 5) == 0.16029
    assert close(s(9), 0.1) and close(s(10), 0.1) and close(s(1000), 0.1)


def test_cosine_warmup_with_min_lr_reaches_the_floor_one_step_before_cosine_with_min_lr():
    kwargs = {"num_warmup_steps": 2, "num_training_steps": 10, "min_lr_rate": 0.25}
    early = schedules.get("cosine_warmup_with_min_lr", **kwargs)
    late = schedules.get("cosine_with_min_lr", **kwargs)
    assert close(early(9), 0.25) and late(9) > 0.25 and close(late(10), 0.25)
    assert all(close(early(t), late(t + 1)) for t in range(2, 10))
