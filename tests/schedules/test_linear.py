"""``linear``."""

from stepsize import schedules


def test_formula():
    s = schedules.get("linear", num_warmup_steps=4, num_training_steps=12)
    for t in range(20):
        expected = t / 4 if t < 4 else max(0.0, (12 - t) / 8)
        assert s(t) == expected


def test_warmup_longer_than_training_ramps_then_drops_to_zero_as_transformers():
    s = schedules.get("linear", num_warmup_steps=8, num_training_steps=4)
    assert [s(t) for t in (4, 7, 8, 20)] == [0.5, 0.875, 0.0, 0.0]
