"""``WithWarmup``: the HF schedules as warmup + decay; reading old ``"warmup"`` configs."""

import pytest

from cases.schedules import close
from stepsize import schedules

T = 12

# (name, extra parameters): each HF schedule equals WithWarmup(the same schedule without warmup,
# over T - W steps) to 1e-12, which shows the warmup is a composition.
DECAYS = [
    ("constant_with_warmup", {}),
    ("linear", {}),
    ("cosine", {"num_cycles": 0.5}),
    ("cosine", {"num_cycles": 1.25}),
    ("cosine_with_restarts", {"num_cycles": 3}),
    ("polynomial", {"power": 2.0, "lr_end": 0.01}),
    ("polynomial", {"power": 0.5, "lr_end": 1e-7, "lr_init": 0.3}),
    ("cosine_with_min_lr", {"min_lr_rate": 0.1}),
    ("inverse_sqrt", {}),
]


def _build(name, warmup, extra):
    kwargs = {"num_warmup_steps": warmup, **extra}
    if name == "inverse_sqrt":
        kwargs["timescale"] = max(warmup, 1)  # the default timescale depends on W
    elif name != "constant_with_warmup":
        kwargs["num_training_steps"] = T
    return schedules.get(name, **kwargs)


def _without_warmup(name, warmup, extra):
    kwargs = {"num_warmup_steps": 0, **extra}
    if name == "inverse_sqrt":
        kwargs["timescale"] = max(warmup, 1)
    elif name != "constant_with_warmup":
        kwargs["num_training_steps"] = T - warmup
    return schedules.get(name, **kwargs)


@pytest.mark.parametrize("name, extra", DECAYS)
@pytest.mark.parametrize("warmup", [0, 1, 5, T])
def test_hf_schedules_are_warmup_compositions(name, extra, warmup):
    hf = _build(name, warmup, extra)
    composed = schedules.WithWarmup(_without_warmup(name, warmup, extra), warmup, peak_value=1.0)
    steps = range(2 * T + 3)
    for t in steps:
        assert close(composed(t), hf(t)), (t, composed(t), hf(t))
    assert all(close(a, b) for a, b in zip(composed.values(steps), hf.values(steps), strict=True))


def test_ramps_from_init_value_to_the_wrapped_schedules_start():
    peak = schedules.Scale(schedules.get("constant"), 5.0)
    s = schedules.WithWarmup(peak, num_warmup_steps=4, init_value=1.0)
    assert [s(t) for t in range(6)] == [1.0, 2.0, 3.0, 4.0, 5.0, 5.0]


def test_peak_value_defaults_to_the_wrapped_schedules_start():
    # A decay of length 0 starts at its end value: the default ramp heads there, while
    # transformers' warmup (W == T) heads for 1 and then drops; peak_value=1 says so.
    decay = schedules.get("linear", num_warmup_steps=0, num_training_steps=0)
    assert schedules.WithWarmup(decay, 4)(2) == 0.0
    assert schedules.WithWarmup(decay, 4, peak_value=1.0)(2) == 0.5
    hf = schedules.get("linear", num_warmup_steps=4, num_training_steps=4)
    assert [schedules.WithWarmup(decay, 4, peak_value=1)(t) for t in range(8)] == [
        hf(t) for t in range(8)
    ]


def test_the_wrapped_schedule_sees_the_steps_since_the_warmup():
    inner = schedules.get("linear", num_warmup_steps=0, num_training_steps=10)
    s = schedules.WithWarmup(inner, 3)
    assert [s(t) for t in range(3, 15)] == [inner(t) for t in range(12)]


def test_commutes_with_scale():
    inner = schedules.get("cosine", num_warmup_steps=0, num_training_steps=10)
    a = schedules.WithWarmup(schedules.Scale(inner, 3e-4), 4)
    b = schedules.Scale(schedules.WithWarmup(inner, 4), 3e-4)
    assert all(close(a(t), b(t)) for t in range(20))


def test_config_nests_the_wrapped_schedule():
    s = schedules.WithWarmup(schedules.get("inverse_sqrt", num_warmup_steps=0), 7, 0.5)
    assert s.get_config() == {
        "name": "with_warmup",
        "schedule": {"name": "inverse_sqrt", "num_warmup_steps": 0, "timescale": None},
        "num_warmup_steps": 7,
        "init_value": 0.5,
        "peak_value": None,
    }
    assert schedules.from_config(s.get_config()) == s


def test_old_configs_named_warmup_still_load():
    s = schedules.WithWarmup(schedules.get("constant"), 4, init_value=0.5)
    old = {**s.get_config(), "name": "warmup"}
    assert schedules.from_config(old) == s
    assert schedules.WithWarmup.from_config(old) == s
    nested = {"name": "scale", "schedule": old, "value": 2.0}
    assert schedules.from_config(nested) == schedules.Scale(s, 2.0)
    assert "warmup" not in schedules.names()
