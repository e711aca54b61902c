"""The transformers ``get_*_schedule*`` functions against transformers 4.46.3 (numbers,
signatures, error texts) over the shared schedule grids of ``cases.schedules``, and the
deliberate differences the README lists."""

from __future__ import annotations

import inspect
import math
import pickle
import re
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
    FUNCTION_ERRORS,
    FUNCTIONS,
    NEWER_THAN_4_46,
    NOT_IN_4_46,
    SAME_SIGNATURE_AS_4_46,
)

T = 10
LRS = (10.0, 2.0)  # two param groups with different lrs


def _optimizer(lrs=LRS, default=None):
    groups = [{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in lrs]
    return torch.optim.SGD(groups, lr=lrs[0] if default is None else default)


def _lrs(make, last, **kwargs):
    """The lrs of every group at steps 0..last of ``make(optimizer)``."""
    optimizer = _optimizer(**kwargs)
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


def _valid_kwargs(schedule):
    """Valid arguments after the optimizer for the function of ``schedule``."""
    if schedule == "constant":
        return {}
    if schedule == "cosine_warmup_with_min_lr":
        return {"num_warmup_steps": 2, "num_training_steps": T, "min_lr_rate": 0.1}
    return _function_kwargs(_first_case(schedule))[0]


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


GET_FUNCTIONS = sorted(name for name in st.__all__ if name.startswith("get_"))


def _shape(function):
    """Each parameter's name, kind and default, in order."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


@pytest.mark.parametrize(
    "name", sorted(set(GET_FUNCTIONS) - {*NOT_IN_4_46, *NEWER_THAN_4_46}), ids=str
)
def test_signature_is_transformers(name):
    assert _shape(getattr(st, name)) == _shape(getattr(_hf(), name))


def test_every_transformers_function_is_here_and_the_exceptions_are_real():
    hf = _hf()
    theirs = {name for name in dir(hf) if name.startswith("get_")}
    assert theirs <= set(GET_FUNCTIONS)
    assert not set(NOT_IN_4_46) & theirs
    for name in NEWER_THAN_4_46:
        assert _shape(getattr(st, name)) != _shape(getattr(hf, name))


@pytest.mark.parametrize("name", sorted(FUNCTIONS.values()))
def test_functions_are_named_documented_and_picklable(name):
    function = getattr(st, name)
    assert function.__name__ == function.__qualname__ == name
    assert function.__module__ == "stepsize.torch._schedulers"
    assert pickle.loads(pickle.dumps(function)) is function
    doc = function.__doc__
    for section in ("Args:", "Returns:", "Raises:", "Example:", f">>> scheduler = {name}("):
        assert section in doc
    arguments = doc.split("Args:")[1].split("Returns:")[0]
    documented = re.findall(r"^    (\w+): ", arguments, re.MULTILINE)
    assert sorted(documented) == sorted(inspect.signature(function).parameters)
    assert inspect.signature(function).return_annotation is st.ScheduledLR


@pytest.mark.parametrize(("name", "kwargs", "error", "argument"), FUNCTION_ERRORS, ids=str)
def test_bad_arguments_raise_naming_the_argument(name, kwargs, error, argument):
    with pytest.raises(Exception) as info:
        getattr(st, name)(_optimizer(), **kwargs)
    assert type(info.value) is error
    assert argument in str(info.value)


@pytest.mark.parametrize("schedule", sorted(FUNCTIONS))
def test_optimizer_must_be_an_optimizer(schedule):
    message = r"^optimizer must be a torch\.optim\.Optimizer, got 'adam' \(str\)$"
    with pytest.raises(TypeError, match=message):
        getattr(st, FUNCTIONS[schedule])("adam", **_valid_kwargs(schedule))


def test_a_call_that_does_not_fit_the_signature_names_the_function():
    with pytest.raises(TypeError, match=r"^get_linear_schedule_with_warmup\(\) .*num_cycles"):
        st.get_linear_schedule_with_warmup(_optimizer(), 2, 10, num_cycles=2)
    with pytest.raises(TypeError, match=r"^get_constant_schedule\(\) .*too many"):
        st.get_constant_schedule(_optimizer(), -1, 3)


def test_tensor_lr_is_the_polynomials_initial_lr():
    def make(lr):
        return torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=lr)

    steps = {"num_warmup_steps": 2, "num_training_steps": T, "lr_end": 0.1}
    tensor = st.get_polynomial_decay_schedule_with_warmup(make(torch.tensor(1.0)), **steps)
    plain = st.get_polynomial_decay_schedule_with_warmup(make(1.0), **steps)
    assert tensor.schedules == plain.schedules


def test_wsd_signature_is_the_newer_one():
    params = inspect.signature(st.get_wsd_schedule).parameters
    assert [(p.name, p.default) for p in params.values()] == [
        ("optimizer", inspect.Parameter.empty),
        ("num_warmup_steps", inspect.Parameter.empty),
        ("num_decay_steps", inspect.Parameter.empty),
        ("num_training_steps", None),
        ("num_stable_steps", None),
        ("warmup_type", "linear"),
        ("decay_type", "cosine"),
        ("min_lr_ratio", 0),
        ("num_cycles", 0.5),
        ("last_epoch", -1),
    ]


def test_lr_rate_signature():
    params = inspect.signature(st.get_cosine_with_min_lr_schedule_with_warmup_lr_rate).parameters
    assert [(p.name, p.default) for p in params.values()][1:] == [
        ("num_warmup_steps", inspect.Parameter.empty),
        ("num_training_steps", inspect.Parameter.empty),
        ("num_cycles", 0.5),
        ("last_epoch", -1),
        ("min_lr", None),
        ("min_lr_rate", None),
        ("warmup_lr_rate", None),
    ]


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("get_polynomial_decay_schedule_with_warmup", {"lr_end": 10.0}),
        ("get_polynomial_decay_schedule_with_warmup", {"lr_end": 11.0}),
        ("get_cosine_with_min_lr_schedule_with_warmup", {}),
        ("get_cosine_with_min_lr_schedule_with_warmup", {"min_lr": 1.0, "min_lr_rate": 0.1}),
    ],
)
def test_error_texts_match_transformers(name, kwargs):
    hf = _hf()
    steps = {"num_warmup_steps": 2, "num_training_steps": T}
    with pytest.raises(ValueError) as theirs:
        getattr(hf, name)(_optimizer(), **steps, **kwargs)
    with pytest.raises(ValueError) as ours:
        getattr(st, name)(_optimizer(), **steps, **kwargs)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("kwargs", [{}, {"min_lr": 1.0, "min_lr_rate": 0.1}])
def test_lr_rate_requires_exactly_one_min_lr(kwargs):
    with pytest.raises(ValueError, match="min_lr"):
        st.get_cosine_with_min_lr_schedule_with_warmup_lr_rate(
            _optimizer(), num_warmup_steps=2, num_training_steps=T, **kwargs
        )


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
        st.get_wsd_schedule(_optimizer(), 2, 2)
    # the types are checked once, by the schedule
    with pytest.raises(ValueError, match=r"^warmup_type must be one of 'linear', 'cosine', "):
        st.get_wsd_schedule(_optimizer(), 2, 2, num_stable_steps=3, warmup_type="exp")
    with pytest.raises(ValueError, match=r"^decay_type must be one of .*, got 'exp'$"):
        st.get_wsd_schedule(_optimizer(), 2, 2, num_stable_steps=3, decay_type="exp")
    with pytest.warns(UserWarning, match="num_stable_steps will be used"):
        both = _lrs(
            lambda o: st.get_wsd_schedule(o, 2, 2, num_training_steps=20, num_stable_steps=3), 9
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stable_only = _lrs(lambda o: st.get_wsd_schedule(o, 2, 2, num_stable_steps=3), 9)
    assert both == stable_only


def test_reduce_on_plateau_is_torchs():
    scheduler = st.get_reduce_on_plateau_schedule(_optimizer(), patience=0, factor=0.5)
    assert type(scheduler) is torch.optim.lr_scheduler.ReduceLROnPlateau
    scheduler.step(1.0)
    scheduler.step(2.0)
    assert scheduler.get_last_lr() == [5.0, 1.0]


@pytest.mark.parametrize("schedule", sorted(FUNCTIONS))
def test_functions_return_scheduled_lr_that_resumes(schedule):
    name, kwargs = FUNCTIONS[schedule], _valid_kwargs(schedule)
    optimizer = _optimizer()
    scheduler = getattr(st, name)(optimizer, **kwargs)
    assert isinstance(scheduler, st.ScheduledLR)
    for _ in range(3):
        optimizer.step()
        scheduler.step()
    fresh_optimizer = _optimizer()
    fresh = getattr(st, name)(fresh_optimizer, **kwargs)
    fresh_optimizer.load_state_dict(optimizer.state_dict())
    fresh.load_state_dict(scheduler.state_dict())
    for _ in range(5):
        for opt, sched in ((optimizer, scheduler), (fresh_optimizer, fresh)):
            opt.step()
            sched.step()
        assert fresh.get_last_lr() == scheduler.get_last_lr()
