"""``polynomial``."""

import pytest

from cases.schedules import (
    close,
    transformers_lambda,
)
from stepsize import schedules


@pytest.mark.parametrize("power", [0.5, 1.0, 2.0])
def test_formula_is_relative_to_lr_init(power):
    lr_init, lr_end = 0.02, 0.001
    s = schedules.get("polynomial", num_warmup_steps=2, num_training_steps=12, lr_init=lr_init,
                      lr_end=lr_end, power=power)  # fmt: skip
    for t in range(2, 13):
        lr = (lr_init - lr_end) * (1 - (t - 2) / 10) ** power + lr_end
        assert close(lr_init * s(t), lr)
    assert [s(t) for t in (13, 100)] == [lr_end / lr_init] * 2


def test_warmup_equal_to_training_steps_ends_at_lr_end_where_transformers_divides_by_zero():
    """README, Deliberate differences from transformers: with W == T transformers raises
    ZeroDivisionError at t = T."""
    pytest.importorskip("transformers")
    kwargs = {"num_warmup_steps": 5, "num_training_steps": 5, "lr_end": 1e-3}
    reference = transformers_lambda("polynomial", kwargs)
    with pytest.raises(ZeroDivisionError):
        reference(5)
    s = schedules.get("polynomial", **kwargs)
    assert [s(t) for t in range(5)] == [reference(t) for t in range(5)]
    assert [s(t) for t in (5, 6, 50)] == [1e-3] * 3
    assert s.values([4, 5, 6]).tolist() == [0.8, 1e-3, 1e-3]


def test_power_zero_keeps_the_peak_until_T():
    s = schedules.get("polynomial", num_warmup_steps=0, num_training_steps=4, lr_end=0.0,
                      power=0)  # fmt: skip
    assert [s(t) for t in range(6)] == [1.0, 1.0, 1.0, 1.0, 1.0, 0.0]


def test_error_text_is_transformers():
    with pytest.raises(
        ValueError, match=r"^lr_end \(2\.0\) must be smaller than initial lr \(1\.0\)$"
    ):
        schedules.get("polynomial", num_warmup_steps=0, num_training_steps=4, lr_end=2.0)
