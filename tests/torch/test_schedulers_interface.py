"""The transformers ``get_*`` functions' interface: transformers 4.46.3's signatures, names,
docstrings, error texts, and bad arguments raising TypeError or ValueError, naming them."""

from __future__ import annotations

import inspect
import pickle
import re

import pytest

torch = pytest.importorskip("torch")

import stepsize.torch as st  # noqa: E402
from cases.torch_schedulers import (  # noqa: E402
    DEFAULT_LR_ERRORS,
    FUNCTION_ERRORS,
    FUNCTIONS,
    NEWER_THAN_4_46,
    NOT_IN_4_46,
    PLATEAU_ERRORS,
    VALID_CALLS,
    default_lr_optimizer,
    make_optimizer,
)

T = 10


def _hf():
    return pytest.importorskip("transformers.optimization")


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
        getattr(st, name)(make_optimizer(), **kwargs)
    assert type(info.value) is error
    assert argument in str(info.value)


@pytest.mark.parametrize(("default", "name", "kwargs", "error", "argument"), DEFAULT_LR_ERRORS,
                         ids=str)  # fmt: skip
def test_an_unusable_default_lr_is_an_error_naming_it(default, name, kwargs, error, argument):
    with pytest.raises(Exception) as info:
        getattr(st, name)(default_lr_optimizer(default), **kwargs)
    assert type(info.value) is error, info.value
    assert argument in str(info.value) and "\n" not in str(info.value)


def test_min_lr_above_a_zero_lr_names_min_lr_and_the_optimizers_lr():
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.0)
    message = "min_lr must be <= the optimizer's lr (optimizer.defaults['lr'] = 0.0), got 0.1"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        st.get_cosine_with_min_lr_schedule_with_warmup(optimizer, 2, 10, min_lr=0.1)
    zero = st.get_cosine_with_min_lr_schedule_with_warmup(optimizer, 2, 10, min_lr=0.0)
    assert zero.schedules[0].min_lr_rate == 0.0 and zero.get_last_lr() == [0.0]


@pytest.mark.parametrize(("kwargs", "error", "argument"), PLATEAU_ERRORS, ids=str)
def test_reduce_on_plateau_checks_its_arguments(kwargs, error, argument):
    with pytest.raises(Exception) as info:
        st.get_reduce_on_plateau_schedule(make_optimizer(), **kwargs)
    assert type(info.value) is error, info.value
    assert argument in str(info.value)


def test_reduce_on_plateau_takes_what_torch_takes():
    optimizer = make_optimizer()
    kwargs = {"mode": "max", "factor": 0.0, "patience": 0, "threshold": 0.0,
              "threshold_mode": "abs", "cooldown": 3, "min_lr": (0.5, 0.25),
              "eps": 0.0}  # fmt: skip
    scheduler = st.get_reduce_on_plateau_schedule(optimizer, **kwargs)
    assert (scheduler.mode, scheduler.factor, scheduler.min_lrs) == ("max", 0.0, [0.5, 0.25])
    with pytest.raises(TypeError, match=r"^optimizer must be a torch\.optim\.Optimizer"):
        st.get_reduce_on_plateau_schedule("sgd")


@pytest.mark.parametrize("name", sorted(VALID_CALLS))
def test_optimizer_must_be_an_optimizer(name):
    message = r"^optimizer must be a torch\.optim\.Optimizer, got 'adam' \(str\)$"
    with pytest.raises(TypeError, match=message):
        getattr(st, name)("adam", **VALID_CALLS[name])


def test_a_call_that_does_not_fit_the_signature_names_the_function():
    with pytest.raises(TypeError, match=r"^get_linear_schedule_with_warmup\(\) .*num_cycles"):
        st.get_linear_schedule_with_warmup(make_optimizer(), 2, 10, num_cycles=2)
    with pytest.raises(TypeError, match=r"^get_constant_schedule\(\) .*too many"):
        st.get_constant_schedule(make_optimizer(), -1, 3)


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
        getattr(hf, name)(make_optimizer(), **steps, **kwargs)
    with pytest.raises(ValueError) as ours:
        getattr(st, name)(make_optimizer(), **steps, **kwargs)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("kwargs", [{}, {"min_lr": 1.0, "min_lr_rate": 0.1}])
def test_lr_rate_requires_exactly_one_min_lr(kwargs):
    with pytest.raises(ValueError, match="min_lr"):
        st.get_cosine_with_min_lr_schedule_with_warmup_lr_rate(
            make_optimizer(), num_warmup_steps=2, num_training_steps=T, **kwargs
        )
