"""The transformers ``get_*_schedule*`` functions' numbers against transformers 4.46.3 over the
shared schedule grids of ``cases.schedules``, and the deliberate differences the README lists
(signatures, docstrings and errors: test_schedulers_interface)."""

from __future__ import annotations

import math
import warnings

import pytest

torch = pytest.importorskip("torch")

import stepsize.torch as st  # noqa: E402
from cases.schedules import (  # noqa: E402
    KNOWN_VALUES,
    KNOWN_VALUES_TOLERANCE,
    REFERENCE_CASES,
)
from cases.torch_schedulers import (  # noqa: E402
    FUNCTIONS,
    SAME_SIGNATURE_AS_4_46,
    VALID_CALLS,
    make_optimizer,
)

T = 10
LRS = (10.0, 2.0)  # two param groups with different lrs


def _lrs(make, last, **kwargs):
    """The lrs of every group at steps 0..last of ``make(optimizer)``."""
    optimizer = make_optimizer(**kwargs)
    scheduler = make(optimizer)
    seen = [list(scheduler.get_last_lr())]
    for _ in range(last):
        optimizer.step()
        scheduler.step()
        seen.append(list(scheduler.get_last_lr()))
    return seen


def _assert_close(ours, theirs, steps=None):
    assert len(ours) == len(theirs)
    for step in steps if steps is not None else range(len(ours)):
        a, b = ours[step], theirs[step]
        assert a == pytest.approx(b, rel=1e-12, abs=1e-14), f"step {step}: {a} != {b}"


def _hf():
    return pytest.importorskip("transformers.optimization")


def _function_kwargs(case):
    """The function's kwargs for a schedule case, and the optimizer's default lr.

    ``polynomial``'s ``lr_init`` is the optimizer's default lr in the function.
    """
    kwargs = dict(case.kwargs)
    lr = kwargs.pop("lr_init", 10.0)
    return kwargs, lr


def _transformers_4_46_kwargs(name, kwargs):
    # 4.46.3's get_wsd_schedule takes num_stable_steps only
    if name == "warmup_stable_decay" and "num_training_steps" in kwargs:
        kwargs = dict(kwargs)
        total = kwargs.pop("num_training_steps")
        kwargs["num_stable_steps"] = total - kwargs["num_warmup_steps"] - kwargs["num_decay_steps"]
    return kwargs


@pytest.mark.parametrize("case", [c for c in REFERENCE_CASES if c.name in FUNCTIONS], ids=str)
def test_matches_transformers(case):
    hf = _hf()
    kwargs, lr = _function_kwargs(case)
    function = FUNCTIONS[case.name]
    theirs_kwargs = _transformers_4_46_kwargs(case.name, kwargs)
    last = max(case.steps)
    lrs = (lr, lr * 0.2)
    ours = _lrs(lambda opt: getattr(st, function)(opt, **kwargs), last, lrs=lrs)
    theirs = _lrs(lambda opt: getattr(hf, function)(opt, **theirs_kwargs), last, lrs=lrs)
    _assert_close(ours, theirs, case.steps)


@pytest.mark.parametrize("case", KNOWN_VALUES, ids=lambda row: row.id)
def test_known_values_through_get_scheduler(case):
    kwargs = dict(case.kwargs)
    assert kwargs.pop("lr_init", case.base_lr) == case.base_lr
    warmup = kwargs.pop("num_warmup_steps")
    total = kwargs.pop("num_training_steps", None)
    make = lambda opt: st.get_scheduler(case.name, opt, warmup, total, kwargs)  # noqa: E731
    ours = _lrs(make, len(case.values) - 1, lrs=(float(case.base_lr),))
    assert [lrs[0] for lrs in ours] == pytest.approx(case.values, abs=KNOWN_VALUES_TOLERANCE)


def _first_case(name):
    return next(c for c in REFERENCE_CASES if c.name == name and c.kwargs.get("num_warmup_steps"))


@pytest.mark.parametrize("name", SAME_SIGNATURE_AS_4_46)
def test_matches_transformers_when_group_lrs_differ_from_default(name):
    hf = _hf()
    schedule = next(k for k, v in FUNCTIONS.items() if v == name)
    kwargs, lr = ({}, 10.0) if schedule == "constant" else _function_kwargs(_first_case(schedule))
    options = {"lrs": (lr * 2.0, lr * 0.2), "default": lr}
    ours = _lrs(lambda opt: getattr(st, name)(opt, **kwargs), T - 1, **options)
    theirs = _lrs(lambda opt: getattr(hf, name)(opt, **kwargs), T - 1, **options)
    _assert_close(ours, theirs)


@pytest.mark.parametrize("cycles", [0.5, 1.0])
def test_cosine_with_absolute_min_lr_matches_transformers(cycles):
    hf = _hf()
    name = "get_cosine_with_min_lr_schedule_with_warmup"
    kwargs = {"num_warmup_steps": 2, "num_training_steps": T, "num_cycles": cycles}
    ours = _lrs(lambda opt: getattr(st, name)(opt, min_lr=1.5, **kwargs), T, default=5.0)
    theirs = _lrs(lambda opt: getattr(hf, name)(opt, min_lr=1.5, **kwargs), T, default=5.0)
    _assert_close(ours, theirs)


def _lr_rate_reference(t, w, total, min_lr_rate, num_cycles=0.5, warmup_lr_rate=None):
    """``CosineWarmupWithMinLR``'s docstring formula, transcribed independently."""
    if t < w:
        if warmup_lr_rate is None:
            return (t + 1) / max(1, w)
        return warmup_lr_rate + (1 - warmup_lr_rate) * t / max(1, w - 1)
    p = (t - w + 1) / max(1, total - w)
    value = min_lr_rate + (1 - min_lr_rate) * 0.5 * (1 + math.cos(math.pi * num_cycles * 2 * p))
    return max(0.0, value)


@pytest.mark.parametrize("w", [0, 1, 4, T])
@pytest.mark.parametrize("warmup_lr_rate", [None, 0.2])
@pytest.mark.parametrize(("min_lr", "min_lr_rate"), [(None, 0.1), (None, 0.0), (1.0, None)])
def test_lr_rate_matches_the_written_out_formula(w, warmup_lr_rate, min_lr, min_lr_rate):
    make = lambda opt: st.get_cosine_with_min_lr_schedule_with_warmup_lr_rate(  # noqa: E731
        opt, w, T, min_lr=min_lr, min_lr_rate=min_lr_rate, warmup_lr_rate=warmup_lr_rate
    )
    rate = min_lr_rate if min_lr_rate is not None else min_lr / 10.0
    ours = _lrs(make, T - 1)
    expected = [
        [lr * _lr_rate_reference(t, w, T, rate, warmup_lr_rate=warmup_lr_rate) for lr in LRS]
        for t in range(T)
    ]
    _assert_close(ours, expected)


def test_lr_rate_holds_its_minimum():
    make = lambda opt: st.get_cosine_with_min_lr_schedule_with_warmup_lr_rate(  # noqa: E731
        opt, 4, 10, min_lr_rate=0.1, warmup_lr_rate=0.2
    )
    ours = [lrs[0] for lrs in _lrs(make, 16, lrs=(1.0,))]
    assert ours[9:] == pytest.approx([0.1] * 8, rel=1e-12)


def test_polynomial_with_all_warmup_reaches_lr_end():
    # transformers divides by zero at t == T when W == T; stepsize returns lr_end there
    # (README: Deliberate differences from transformers)
    ours = _lrs(lambda opt: st.get_polynomial_decay_schedule_with_warmup(opt, T, T, 0.5), T + 2)
    for lrs in ours[T:]:
        assert lrs == pytest.approx([lr * 0.5 / 10.0 for lr in LRS], rel=1e-12)


@pytest.mark.parametrize(
    "make",
    [
        lambda opt: st.get_cosine_schedule_with_warmup(opt, 2, T),
        lambda opt: st.get_cosine_schedule_with_warmup(opt, 2, T, num_cycles=0.75),
        lambda opt: st.get_cosine_with_min_lr_schedule_with_warmup(opt, 2, T, min_lr_rate=0.1),
    ],
)
def test_cosine_holds_its_value_after_training_steps(make):
    ours = _lrs(make, T + 6)
    for lrs in ours[T:]:
        assert lrs == pytest.approx(ours[T], rel=1e-12)


def test_wsd_errors_and_warning():
    with pytest.raises(ValueError, match="Either num_training_steps or num_stable_steps"):
        st.get_wsd_schedule(make_optimizer(), 2, 2)
    # the types are checked once, by the schedule
    with pytest.raises(ValueError, match=r"^warmup_type must be one of 'linear', 'cosine', "):
        st.get_wsd_schedule(make_optimizer(), 2, 2, num_stable_steps=3, warmup_type="exp")
    with pytest.raises(ValueError, match=r"^decay_type must be one of .*, got 'exp'$"):
        st.get_wsd_schedule(make_optimizer(), 2, 2, num_stable_steps=3, decay_type="exp")
    with pytest.warns(UserWarning, match="num_stable_steps will be used"):
        both = _lrs(
            lambda o: st.get_wsd_schedule(o, 2, 2, num_training_steps=20, num_stable_steps=3), 9
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stable_only = _lrs(lambda o: st.get_wsd_schedule(o, 2, 2, num_stable_steps=3), 9)
    assert both == stable_only


def test_reduce_on_plateau_is_torchs():
    scheduler = st.get_reduce_on_plateau_schedule(make_optimizer(), patience=0, factor=0.5)
    assert type(scheduler) is torch.optim.lr_scheduler.ReduceLROnPlateau
    scheduler.step(1.0)
    scheduler.step(2.0)
    assert scheduler.get_last_lr() == [5.0, 1.0]


@pytest.mark.parametrize("schedule", sorted(FUNCTIONS))
def test_functions_return_scheduled_lr_that_resumes(schedule):
    name = FUNCTIONS[schedule]
    kwargs = VALID_CALLS[name]
    optimizer = make_optimizer()
    scheduler = getattr(st, name)(optimizer, **kwargs)
    assert isinstance(scheduler, st.ScheduledLR)
    for _ in range(3):
        optimizer.step()
        scheduler.step()
    fresh_optimizer = make_optimizer()
    fresh = getattr(st, name)(fresh_optimizer, **kwargs)
    fresh_optimizer.load_state_dict(optimizer.state_dict())
    fresh.load_state_dict(scheduler.state_dict())
    for _ in range(5):
        for opt, sched in ((optimizer, scheduler), (fresh_optimizer, fresh)):
            opt.step()
            sched.step()
        assert fresh.get_last_lr() == scheduler.get_last_lr()
