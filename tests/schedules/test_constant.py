"""``constant`` and ``constant_with_warmup``."""

from stepsize import schedules


def test_constant_is_one_everywhere():
    s = schedules.get("constant")
    assert {s(t) for t in (0, 1, 10**9)} == {1.0}
    assert s.values([0, 5, 2**40]).tolist() == [1.0, 1.0, 1.0]


def test_constant_with_warmup_ramps_from_zero_and_without_warmup_starts_at_one():
    s = schedules.get("constant_with_warmup", num_warmup_steps=5)
    assert [s(t) for t in range(7)] == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.0]
    assert schedules.get("constant_with_warmup", num_warmup_steps=0)(0) == 1.0
