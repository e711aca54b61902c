"""Fuzz the schedules and the torch schedule functions with adversarial input.

Every schedule constructor (each parameter replaced by an adversarial value, the others valid),
``schedules.get``, compositions, ``from_config`` with mutated configs (a value replaced, a key
removed or added, nesting), evaluation at adversarial steps, and every ``stepsize.torch``
schedule function and ``get_scheduler``, with adversarial default lrs. The promise: a
TypeError/ValueError naming the argument, or a schedule whose values are finite, >= 0 and
within its ``upper_bound`` at every step (probed at 0, 2**63 and both sides of each phase
boundary), the scalar and vectorized values agreeing.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any

import hypothesis
import numpy as np
import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from cases.adversarial import anything, assert_finite, keeps_promise, numbers, variants
from cases.schedule_errors import VALID_KWARGS as VALID
from cases.schedule_space import any_schedule, probe_steps
from cases.schedules import close
from cases.torch_schedulers import VALID_CALLS
from stepsize import schedules
from stepsize._validation import MAX_STEPS
from stepsize.schedules import MAX_DEPTH
from stepsize.schedules._base import schedule_class

# Warnings are not part of the promise: warmup_stable_decay's about T and S both given.
pytestmark = pytest.mark.filterwarnings("ignore:both num_training_steps and num_stable_steps")

PARAMETERS = sorted({key for kwargs in VALID.values() for key in kwargs})
NAMED = [*PARAMETERS, "step", "steps", "config", "name", "schedule", "schedules", "value"]


def examples(count: int) -> int:
    """``count`` examples in the default profile, scaled up with the long one."""
    return max(1, count * hypothesis.settings().max_examples // 100)


def settings(count: int) -> hypothesis.settings:
    return hypothesis.settings(
        max_examples=examples(count),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


def assert_valid(schedule: schedules.Schedule, extra: tuple[int, ...] = ()) -> None:
    """Finite, >= 0 and within the bound at the probe steps; vectorized equals scalar."""
    steps = sorted({*probe_steps(schedule)[:60], *extra})
    scalar = [schedule(t) for t in steps]
    vector = schedule.values(np.array(steps, dtype=np.uint64))
    assert_finite(scalar, repr(schedule)[:200])
    bound = schedule.upper_bound
    assert all(0.0 <= v <= bound for v in scalar), (schedule, bound)
    assert all(close(v, s, 1e-13) for v, s in zip(vector.tolist(), scalar, strict=True))


def _mutated(name: str) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    valid = VALID[name]
    if not valid:  # constant: an argument it does not take
        return anything().map(lambda value: ("num_warmup_steps", {"num_warmup_steps": value}))

    def replaced(key: str) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
        return variants(valid[key]).map(lambda value: (key, {**valid, key: value}))

    return st.sampled_from(sorted(valid)).flatmap(replaced)


@pytest.mark.parametrize("name", sorted(VALID))
def test_every_parameter_of_every_schedule(name):
    assert set(VALID) == set(schedules.names())
    cls = schedule_class(name)
    fields = {f.name for f in dataclasses.fields(cls)}
    assert set(VALID[name]) == fields  # every parameter is varied

    @settings(60)
    @given(case=_mutated(name), through_class=st.booleans())
    def check(case, through_class):
        key, kwargs = case
        if through_class and kwargs.keys() <= fields:
            build = lambda: cls(**kwargs)  # noqa: E731
        else:
            build = lambda: schedules.get(name, **kwargs)  # noqa: E731
        schedule = keeps_promise("schedules.construct", build, [key, *NAMED])
        if schedule is not None:
            assert_valid(schedule)

    check()


@settings(150)
@given(
    child=any_schedule(),
    kind=st.sampled_from(["scale", "with_warmup", "join"]),
    value=numbers(),
    count=variants(3),
    depth=st.integers(1, MAX_DEPTH + 2),
)
def test_compositions_of_any_schedules_with_adversarial_arguments(child, kind, value, count,
                                                                  depth):  # fmt: skip
    def build():
        s = child
        for _ in range(depth):
            if kind == "scale":
                s = schedules.Scale(s, value)
            elif kind == "with_warmup":
                s = schedules.WithWarmup(s, count, value, None)
            else:
                s = schedules.Join([s, child], [count])
        return s

    schedule = keeps_promise("schedules.construct", build, NAMED)
    if schedule is not None:
        assert_valid(schedule)


STEPS = st.one_of(anything(), st.integers(0, MAX_STEPS))


@settings(200)
@given(schedule=any_schedule(), step=STEPS, many=st.lists(STEPS, max_size=4))
def test_evaluation_at_any_step(schedule, step, many):
    value = keeps_promise("schedules.evaluate", lambda: schedule(step), ["step"])
    if value is not None:
        assert math.isfinite(value) and 0.0 <= value <= schedule.upper_bound
    for steps in ([step], [step, 0], [[step]], many, np.array(many, dtype=object)):
        result = keeps_promise("schedules.evaluate", lambda s=steps: schedule.values(s),
                               ["steps"])  # fmt: skip
        if result is not None:
            assert_finite(result)
            assert np.all((result >= 0.0) & (result <= schedule.upper_bound))


def _mutate(config: Any, draw: Any, depth: int = 0) -> Any:
    """``config`` with one change somewhere: a value replaced, a key removed or added, the
    whole nested in itself, or (in a nested schedule) the same done one level down."""
    if not isinstance(config, dict) or depth > 3:
        return draw(anything())
    config = dict(config)
    nested = [k for k, v in config.items() if isinstance(v, dict | list) and k != "name"]
    action = draw(st.sampled_from(["replace", "remove", "add", "nest", "deeper"]))
    if action == "deeper" and nested:
        key = draw(st.sampled_from(nested))
        value = config[key]
        if isinstance(value, list) and value:
            index = draw(st.integers(0, len(value) - 1))
            config[key] = [*value[:index], _mutate(value[index], draw, depth + 1),
                           *value[index + 1:]]  # fmt: skip
        else:
            config[key] = _mutate(value, draw, depth + 1)
    elif action == "remove" and config:
        del config[draw(st.sampled_from(sorted(config, key=str)))]
    elif action == "add":
        config[draw(st.sampled_from(["extra", "", "name", "schedule", 1, None]))] = draw(anything())
    elif action == "nest":
        for _ in range(draw(st.sampled_from([MAX_DEPTH, MAX_DEPTH + 1, 5000]))):
            config = {"name": "scale", "schedule": config, "value": 1.0}
    else:
        key = draw(st.sampled_from(sorted(config, key=str)))
        config[key] = draw(st.one_of(anything(), variants(config[key]) if not isinstance(
            config[key], dict | list) else anything()))  # fmt: skip
    return config


@settings(250)
@given(schedule=any_schedule(), data=st.data())
def test_from_config_with_mutated_configs(schedule, data):
    config = _mutate(schedule.get_config(), data.draw)
    keys = _keys(config)
    built = keeps_promise("schedules.config", lambda: schedules.from_config(config),
                          [*NAMED, *keys])  # fmt: skip
    if built is not None:
        assert_valid(built)


def _keys(config: Any, found: set[str] | None = None, depth: int = 0) -> set[str]:
    """Every string key in ``config`` (the ones a message may name), a few levels deep."""
    found = set() if found is None else found
    if depth < 8 and isinstance(config, dict):
        for key, value in config.items():
            found.add(str(key))
            _keys(value, found, depth + 1)
    elif depth < 8 and isinstance(config, list):
        for item in config[:20]:
            _keys(item, found, depth + 1)
    return found


# ---- the torch schedule functions and get_scheduler ---------------------------------------------

# GreedyLR's arguments are fuzzed with the schedulers.
SCHEDULER_NAMES = [
    name for name in schedules.names() if name not in ("join", "scale", "with_warmup")
]
SCHEDULER_NAMES += ["reduce_lr_on_plateau"]
FUNCTION_PARAMETERS = sorted({key for kwargs in VALID_CALLS.values() for key in kwargs})
TORCH_NAMED = [*FUNCTION_PARAMETERS, "optimizer", "last_epoch", "min_lr", "min_lr_rate",
               "lr_end", "optimizer.defaults['lr']", "SchedulerType", "scheduler_specific_kwargs",
               "factor", "mode", "patience", "threshold", "threshold_mode", "cooldown", "eps",
               "num_stable_steps", "timescale", "warmup_lr_rate"]  # fmt: skip


def _optimizer(torch: Any, default_lr: Any, group_lr: float) -> Any:
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    optimizer.param_groups[0]["lr"] = group_lr
    optimizer.defaults["lr"] = default_lr
    return optimizer


GROUP_LRS = st.sampled_from([1.0, 0.0, 5e-324, 1e-3, 1e308])
DEFAULT_LRS = st.one_of(st.sampled_from([1.0, 10.0, 0.0]), anything())


def _assert_scheduler_valid(scheduler: Any, torch: Any) -> None:
    assert_finite(scheduler.get_last_lr(), "get_last_lr()")
    for schedule in getattr(scheduler, "schedules", []):
        assert_valid(schedule)
    for _ in range(3):
        scheduler.optimizer.step()
        scheduler.step(*([1.0] if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
                         else []))  # fmt: skip
        assert_finite(scheduler.get_last_lr(), "get_last_lr()")


@pytest.mark.parametrize("function", sorted(VALID_CALLS))
def test_every_torch_schedule_function(function):
    torch = pytest.importorskip("torch")
    import stepsize.torch as st_torch

    # last_epoch and the param groups' lrs go to ScheduledLR, fuzzed with the schedulers.
    valid = VALID_CALLS[function]

    @settings(40)
    @given(key=st.sampled_from(sorted(valid) or [None]), data=st.data(), default_lr=DEFAULT_LRS,
           group_lr=GROUP_LRS)  # fmt: skip
    def check(key, data, default_lr, group_lr):
        kwargs = valid if key is None else {**valid, key: data.draw(variants(valid[key]))}
        optimizer = _optimizer(torch, default_lr, group_lr)
        call = lambda: getattr(st_torch, function)(optimizer, **kwargs)  # noqa: E731
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scheduler = keeps_promise("torch.schedule_functions", call, TORCH_NAMED)
            if scheduler is not None:
                _assert_scheduler_valid(scheduler, torch)

    check()


@settings(150)
@given(
    name=st.one_of(st.sampled_from(SCHEDULER_NAMES), anything()),
    warmup=st.one_of(st.none(), variants(2)),
    total=st.one_of(st.none(), variants(10)),
    specific=st.one_of(
        st.none(),
        anything(),
        st.dictionaries(st.sampled_from([*TORCH_NAMED, "extra", 1]), anything(), max_size=3),
    ),
    default_lr=DEFAULT_LRS,
    group_lr=GROUP_LRS,
)
def test_get_scheduler(name, warmup, total, specific, default_lr, group_lr):
    torch = pytest.importorskip("torch")
    from stepsize.torch import get_scheduler

    optimizer = _optimizer(torch, default_lr, group_lr)
    keys = [str(k) for k in specific] if isinstance(specific, dict) else []
    call = lambda: get_scheduler(name, optimizer, warmup, total, specific)  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scheduler = keeps_promise("torch.schedule_functions", call, [*TORCH_NAMED, *keys])
        if scheduler is not None:
            _assert_scheduler_valid(scheduler, torch)
