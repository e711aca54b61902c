"""``SchedulerType``, ``TYPE_TO_SCHEDULER_FUNCTION`` and ``get_scheduler`` against
transformers 4.46.3, plus the deliberate fixes (README: Deliberate differences from
transformers). ``get_scheduler``'s signature is compared in test_schedulers."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import stepsize.torch as st  # noqa: E402
from cases.torch_schedulers import DISPATCH_CASES, DISPATCH_ERRORS  # noqa: E402

SCHEDULER_TYPE_VALUES = [
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "constant",
    "constant_with_warmup",
    "inverse_sqrt",
    "reduce_lr_on_plateau",
    "cosine_with_min_lr",
    "cosine_warmup_with_min_lr",
    "warmup_stable_decay",
    "greedy",
]


def _optimizer():
    groups = [
        {"params": [torch.zeros(1, requires_grad=True)], "lr": 10.0},
        {"params": [torch.zeros(1, requires_grad=True)], "lr": 2.0},
    ]
    return torch.optim.SGD(groups, lr=10.0)


def _lrs(scheduler, optimizer, last=14):
    seen = [list(scheduler.get_last_lr())]
    for _ in range(last):
        optimizer.step()
        scheduler.step()
        seen.append(list(scheduler.get_last_lr()))
    return seen


def _hf():
    return pytest.importorskip("transformers.optimization")


def test_scheduler_type_values():
    assert [member.value for member in st.SchedulerType] == SCHEDULER_TYPE_VALUES
    assert issubclass(st.SchedulerType, str)
    assert st.SchedulerType("cosine") is st.SchedulerType.COSINE
    assert st.SchedulerType.COSINE == "cosine"


def test_scheduler_type_names_match_transformers():
    hf_type = _hf().SchedulerType
    for member in hf_type:
        assert st.SchedulerType[member.name].value == member.value


def test_unknown_name_lists_valid_ones():
    hf = _hf()
    with pytest.raises(ValueError) as theirs:
        hf.get_scheduler("nope", _optimizer())
    with pytest.raises(ValueError) as ours:
        st.get_scheduler("nope", _optimizer())
    assert str(ours.value) == (
        f"nope is not a valid SchedulerType, please select one of {SCHEDULER_TYPE_VALUES}"
    )
    # same text as transformers up to the list of names, which grew
    assert str(theirs.value).split("[")[0] == str(ours.value).split("[")[0]


def test_type_to_scheduler_function():
    assert list(st.TYPE_TO_SCHEDULER_FUNCTION) == list(st.SchedulerType)
    hf = _hf()
    for key, func in hf.TYPE_TO_SCHEDULER_FUNCTION.items():
        ours = st.TYPE_TO_SCHEDULER_FUNCTION[st.SchedulerType(key.value)]
        assert ours.__name__ == func.__name__
        assert ours is getattr(st, func.__name__)
    assert (
        st.TYPE_TO_SCHEDULER_FUNCTION[st.SchedulerType.COSINE_WARMUP_WITH_MIN_LR]
        is st.get_cosine_with_min_lr_schedule_with_warmup_lr_rate
    )
    assert st.TYPE_TO_SCHEDULER_FUNCTION[st.SchedulerType.GREEDY] is st.get_greedy_schedule


@pytest.mark.parametrize(("name", "w", "t", "kwargs"), DISPATCH_CASES, ids=str)
def test_dispatch_matches_transformers(name, w, t, kwargs):
    hf = _hf()
    opt_ours, opt_theirs = _optimizer(), _optimizer()
    ours = st.get_scheduler(name, opt_ours, w, t, kwargs)
    theirs = hf.get_scheduler(name, opt_theirs, w, t, kwargs)
    assert isinstance(ours, st.ScheduledLR)
    # up to T = 10: past it stepsize's cosine holds its value (README: Deliberate differences)
    for a, b in zip(_lrs(ours, opt_ours, 10), _lrs(theirs, opt_theirs, 10), strict=True):
        assert a == pytest.approx(b, rel=1e-12, abs=1e-14)


@pytest.mark.parametrize(("name", "w", "t", "kwargs", "error"), DISPATCH_ERRORS, ids=str)
def test_errors_match_transformers(name, w, t, kwargs, error):
    hf = _hf()
    with pytest.raises(error) as theirs:
        hf.get_scheduler(name, _optimizer(), w, t, kwargs)
    with pytest.raises(error) as ours:
        st.get_scheduler(name, _optimizer(), w, t, kwargs)
    if error is ValueError:
        assert str(ours.value) == str(theirs.value)


def test_missing_steps_message():
    with pytest.raises(ValueError) as info:
        st.get_scheduler("linear", _optimizer(), num_training_steps=10)
    assert str(info.value) == (
        f"{st.SchedulerType.LINEAR} requires `num_warmup_steps`, please provide that argument."
    )
    with pytest.raises(ValueError, match="requires `num_training_steps`"):
        st.get_scheduler("cosine_warmup_with_min_lr", _optimizer(), 2, None, {"min_lr_rate": 0.1})


def test_member_name_works_like_its_value():
    opt_a, opt_b = _optimizer(), _optimizer()
    a = st.get_scheduler(st.SchedulerType.COSINE, opt_a, 2, 10)
    b = st.get_scheduler("cosine", opt_b, 2, 10)
    assert _lrs(a, opt_a) == _lrs(b, opt_b)


def test_plateau_and_greedy_take_only_specific_kwargs():
    plateau = st.get_scheduler("reduce_lr_on_plateau", _optimizer(), 5, 10, {"patience": 3})
    assert type(plateau) is torch.optim.lr_scheduler.ReduceLROnPlateau
    assert plateau.patience == 3
    greedy = st.get_scheduler("greedy", _optimizer(), None, None, {"patience": 4, "min_lr": 0.1})
    assert type(greedy) is st.GreedyLR
    assert (greedy.patience, greedy.min_lrs) == (4, [0.1, 0.1])


def test_cosine_warmup_with_min_lr_dispatch():
    opt_a, opt_b = _optimizer(), _optimizer()
    kwargs = {"min_lr_rate": 0.1, "warmup_lr_rate": 0.2}
    a = st.get_scheduler("cosine_warmup_with_min_lr", opt_a, 4, 10, kwargs)
    b = st.get_cosine_with_min_lr_schedule_with_warmup_lr_rate(opt_b, 4, 10, **kwargs)
    assert _lrs(a, opt_a) == _lrs(b, opt_b)


def test_inverse_sqrt_forwards_specific_kwargs():
    # transformers 4.46.3 drops scheduler_specific_kwargs for inverse_sqrt (README: Deliberate
    # differences from transformers)
    hf = _hf()
    opt_ours, opt_theirs = _optimizer(), _optimizer()
    ours = st.get_scheduler("inverse_sqrt", opt_ours, 2, None, {"timescale": 7})
    theirs = hf.get_inverse_sqrt_schedule(opt_theirs, 2, timescale=7)
    for a, b in zip(_lrs(ours, opt_ours), _lrs(theirs, opt_theirs), strict=True):
        assert a == pytest.approx(b, rel=1e-12)


WSD = {"num_stable_steps": 4, "num_decay_steps": 3}


def _wsd_direct():
    opt = _optimizer()
    return _lrs(st.get_wsd_schedule(opt, 2, 3, num_stable_steps=4), opt)


@pytest.mark.parametrize(
    ("w", "kwargs"),
    [(2, WSD), (None, {**WSD, "num_warmup_steps": 2}), (2, {**WSD, "num_warmup_steps": 2})],
)
def test_wsd_takes_warmup_given_once_anywhere(w, kwargs):
    opt = _optimizer()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scheduler = st.get_scheduler("warmup_stable_decay", opt, w, None, kwargs)
    assert _lrs(scheduler, opt) == _wsd_direct()


def test_wsd_specific_kwargs_win_with_a_warning():
    # e.g. transformers' Trainer passes num_warmup_steps=0 when no warmup is configured
    opt = _optimizer()
    with pytest.warns(UserWarning, match=r"num_warmup_steps is given twice: 0 .* using 2"):
        scheduler = st.get_scheduler(
            "warmup_stable_decay", opt, 0, None, {**WSD, "num_warmup_steps": 2}
        )
    assert _lrs(scheduler, opt) == _wsd_direct()


def test_wsd_training_steps_from_specific_kwargs():
    opt_a, opt_b = _optimizer(), _optimizer()
    kwargs = {"num_decay_steps": 3, "num_training_steps": 9}
    a = st.get_scheduler("warmup_stable_decay", opt_a, 2, None, kwargs)
    b = st.get_wsd_schedule(opt_b, 2, 3, num_training_steps=9)
    assert _lrs(a, opt_a) == _lrs(b, opt_b) == _wsd_direct()


def test_specific_kwargs_dict_is_not_modified():
    kwargs = {**WSD, "num_warmup_steps": 2}
    st.get_scheduler("warmup_stable_decay", _optimizer(), None, None, kwargs)
    assert kwargs == {**WSD, "num_warmup_steps": 2}


@pytest.mark.parametrize("specific", [[("num_cycles", 2)], "num_cycles=2", 2])
def test_specific_kwargs_must_be_a_dict(specific):
    message = "scheduler_specific_kwargs must be a dict, got "
    with pytest.raises(TypeError, match=f"^{message}"):
        st.get_scheduler("cosine", _optimizer(), 2, 10, specific)


@pytest.mark.parametrize("key", [1, None, ("num_cycles",)])
def test_specific_kwargs_keys_must_be_names(key):
    message = "scheduler_specific_kwargs keys must be argument names (strings), got "
    for name in ("cosine", "reduce_lr_on_plateau", "warmup_stable_decay"):
        with pytest.raises(TypeError, match=f"^{re.escape(message)}"):
            st.get_scheduler(name, _optimizer(), 2, 10, {key: 2})


@pytest.mark.parametrize("name", ["a\nb", "x" * 500, ["linear"], 3.5])
def test_an_unknown_name_is_reported_on_one_short_line(name):
    with pytest.raises(ValueError, match="is not a valid SchedulerType") as info:
        st.get_scheduler(name, _optimizer())
    assert "\n" not in str(info.value) and len(str(info.value)) < 400


@pytest.mark.parametrize(
    ("w", "kwargs", "error", "argument"),
    [
        (2, {**WSD, "num_warmup_steps": np.array([2, 3])}, TypeError, "num_warmup_steps"),
        ("2", WSD, TypeError, "num_warmup_steps"),
        (2, {**WSD, "num_training_steps": 10**400}, ValueError, "num_training_steps"),
    ],
)
def test_wsd_steps_given_twice_are_checked_before_they_are_compared(w, kwargs, error, argument):
    with pytest.raises(error, match=f"^{argument} must be"):
        st.get_scheduler("warmup_stable_decay", _optimizer(), w, None, kwargs)
