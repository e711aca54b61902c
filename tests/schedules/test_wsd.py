"""``warmup_stable_decay``."""

import math

import pytest

from cases.schedules import (
    close,
)
from stepsize import schedules

TYPES = ("linear", "cosine", "1-sqrt")


def _written_out_wsd(t, w, s, d, warmup_type, decay_type, m, c):
    """``WarmupStableDecay``'s docstring formula, written out independently."""
    if t < w:
        p = t / max(1, w)
        f = {"linear": p, "cosine": 0.5 * (1 - math.cos(math.pi * p)),
             "1-sqrt": 1 - math.sqrt(1 - p)}[warmup_type]  # fmt: skip
        return m + (1 - m) * f
    if t < w + s:
        return 1.0
    if t < w + s + d:
        p = (t - w - s) / max(1, d)
        f = {"linear": 1 - p, "cosine": 0.5 * (1 + math.cos(2 * math.pi * c * p)),
             "1-sqrt": 1 - math.sqrt(p)}[decay_type]  # fmt: skip
        return m + (1 - m) * f
    return m


@pytest.mark.parametrize("warmup_type", TYPES)
@pytest.mark.parametrize("decay_type", TYPES)
@pytest.mark.parametrize("w, s, d", [(4, 2, 5), (0, 3, 4), (1, 0, 1), (3, 1, 0)])
@pytest.mark.parametrize("m, c", [(0.0, 0.5), (0.2, 1.5)])
def test_formula_for_every_warmup_and_decay_type(warmup_type, decay_type, w, s, d, m, c):
    schedule = schedules.get(
        "warmup_stable_decay",
        num_warmup_steps=w,
        num_stable_steps=s,
        num_decay_steps=d,
        warmup_type=warmup_type,
        decay_type=decay_type,
        min_lr_ratio=m,
        num_cycles=c,
    )
    steps = range(w + s + d + 4)
    expected = [_written_out_wsd(t, w, s, d, warmup_type, decay_type, m, c) for t in steps]
    assert all(close(schedule(t), e) for t, e in zip(steps, expected, strict=True))
    assert all(close(v, e) for v, e in zip(schedule.values(steps), expected, strict=True))


def test_stable_steps_from_training_steps():
    s = schedules.get("warmup_stable_decay", num_warmup_steps=2, num_decay_steps=3,
                      num_training_steps=10)  # fmt: skip
    assert s.stable_steps == 5 and s.num_stable_steps is None
    assert s(6) == 1.0 and s(7) == 1.0 and s(8) < 1.0 and s(10) == 0.0


def test_stable_steps_win_over_training_steps_with_a_warning():
    with pytest.warns(UserWarning, match="num_stable_steps=1 is used"):
        s = schedules.get("warmup_stable_decay", num_warmup_steps=2, num_decay_steps=3,
                          num_training_steps=10, num_stable_steps=1)  # fmt: skip
    assert s.stable_steps == 1 and s(3) == 1.0 and s(4) < 1.0


def test_neither_training_nor_stable_steps_is_an_error_with_transformers_message():
    with pytest.raises(ValueError) as info:
        schedules.get("warmup_stable_decay", num_warmup_steps=2, num_decay_steps=3)
    assert str(info.value) == "Either num_training_steps or num_stable_steps must be specified."


def test_training_steps_shorter_than_warmup_and_decay_is_an_error():
    with pytest.raises(ValueError, match=r"num_training_steps \(4\) must be >= .*\(2 \+ 3\)"):
        schedules.get("warmup_stable_decay", num_warmup_steps=2, num_decay_steps=3,
                      num_training_steps=4)  # fmt: skip
