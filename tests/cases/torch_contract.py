"""The generic optimizer contract's helpers: parametrization over the optimizer table, training
runs and how they are compared.

Used by ``tests/torch/test_optimizer_contract*.py`` and the optimizers' own test files.
"""

from __future__ import annotations

import copy
import io
import itertools
from typing import Any

import pytest
import torch

from cases.closeness import assert_close
from cases.torch_optimizers import OPTIMIZERS, ErrorInput, OptimizerInfo
from stepsize.torch import AdafactorSchedule, get_linear_schedule_with_warmup

__all__ = [
    "AXES",
    "LAYOUTS",
    "REFERENCE",
    "assert_identical",
    "assert_load_rejected",
    "assert_rejected",
    "assert_same_run",
    "assert_steps",
    "describe_groups",
    "dtypes",
    "each_optimizer",
    "make_either",
    "make_scheduler",
    "ours_and_transformers",
    "per_optimizer",
    "resume_runs",
    "state_of",
    "step_with",
    "train_tiny_model",
]

REFERENCE = "transformers"  # the implementation name of the reference runs

# Each row's own values of a test axis ("a,b": tuples of two arguments).
AXES = {
    "config": lambda info: list(info.configs),
    "path": lambda info: list(info.paths),
    # The CPU reference loop is the expected value: every other path here, every path on CUDA.
    "device,path": lambda info: [
        *(("cpu", path) for path in info.paths if path != "loop"),
        *(("cuda", path) for path in info.paths),
    ],
    "low_precision_config": lambda info: list(info.low_precision_configs),
    "precision": lambda info: list(info.precision_options),
    "resume_config": lambda info: list(info.resume_configs),
    "scaler_dtype": lambda info: list(info.grad_scaler_dtypes),
    "low_scaler_dtype": lambda info: [
        dtype for dtype in info.grad_scaler_dtypes if dtype in (torch.float16, torch.bfloat16)
    ],
    "error_input": lambda info: info.error_inputs,
    "group_error_input": lambda info: [error for error in info.error_inputs if error.in_groups],
}


def _id(value) -> str:
    if isinstance(value, ErrorInput):
        return ",".join(f"{key}={item!r}" for key, item in value.kwargs.items())
    return str(value).removeprefix("torch.")


def per_optimizer(*axes: str):
    """Parametrizes ``info`` and ``axes``: every optimizer row crossed with its own values of
    each axis (see ``AXES``); cases on CUDA are marked ``cuda``."""
    names = ["info", *itertools.chain.from_iterable(axis.split(",") for axis in axes)]
    cases = []
    for info in OPTIMIZERS:
        for combo in itertools.product(*(AXES[axis](info) for axis in axes)):
            values = [
                item
                for axis, value in zip(axes, combo, strict=True)
                for item in (value if "," in axis else (value,))
            ]
            marks = [pytest.mark.cuda] if "cuda" in values else []
            ident = "-".join(_id(v) for v in (info, *values))
            cases.append(pytest.param(info, *values, id=ident, marks=marks))
    return pytest.mark.parametrize(names, cases)


def each_optimizer():
    return pytest.mark.parametrize("info", OPTIMIZERS, ids=str)


def dtypes(values):
    return pytest.mark.parametrize("dtype", values, ids=_id)


def make_either(info: OptimizerInfo, implementation: str):
    """A constructor ``(params, **hyper)`` of our optimizer on a path, or of transformers'."""
    if implementation == REFERENCE:
        return info.make_reference
    return lambda params, **hyper: info.make(params, implementation, **hyper)


def ours_and_transformers(info: OptimizerInfo, path: str, train_with):
    """``train_with(make)`` with our optimizer on ``path``, then with transformers': two
    (params, optimizer) pairs. ``make(params, **hyper)`` builds the optimizer."""
    return [train_with(make_either(info, implementation)) for implementation in (path, REFERENCE)]


def state_of(info, optimizer, params) -> list[dict[str, torch.Tensor]]:
    """Each parameter's state entries named in ``info.state_keys``, in that order."""
    states = [optimizer.state[p] for p in params]
    return [{key: state[key] for key in info.state_keys if key in state} for state in states]


def assert_same_run(info, ours, theirs, dtype) -> None:
    """Parameters and state equal per precision ``dtype``; state in the row's dtype."""
    (params, optimizer), (ref_params, ref_optimizer) = ours, theirs
    assert_close(params, ref_params, dtype, what="params")
    mine, expected = state_of(info, optimizer, params), state_of(info, ref_optimizer, ref_params)
    for index, (state, ref_state) in enumerate(zip(mine, expected, strict=True)):
        assert state.keys() == ref_state.keys(), index
        for key, value in state.items():
            assert value.dtype == info.state_dtype(params[index].dtype), (index, key)
            assert_close(value, ref_state[key], dtype, what=f"state[{index}][{key}]")


def assert_identical(ours, theirs) -> None:
    """(params, optimizer state) pairs: parameters and every state entry bit-identical
    (tensors: dtype and device too)."""
    (params, states), (ref_params, ref_states) = ours, theirs
    for p, q in zip(params, ref_params, strict=True):
        assert torch.equal(p, q)
        state, expected = states[p], ref_states[q]
        assert state.keys() == expected.keys()
        for key, value in expected.items():
            if isinstance(value, torch.Tensor):
                assert (state[key].dtype, state[key].device) == (value.dtype, value.device), key
                assert torch.equal(state[key], value), key
            else:
                assert state[key] == value, key


def resume_runs(info, config, path, grads, make, **options):
    """Two runs of ``info``'s optimizer on ``path`` over ``grads`` (lists per step): one
    uninterrupted, one saved halfway (with a scheduler attached), loaded with
    ``weights_only=True`` into fresh objects and continued. ``make()`` returns fresh
    parameters. Returns ((params, optimizer, scheduler) resumed, the same uninterrupted)."""

    def fresh(params):
        optimizer = info.make(info.groups(params, config), path, **config, **options)
        return params, optimizer, make_scheduler(optimizer)

    def run(params, optimizer, scheduler, steps):
        for step_grads in steps:
            step_with(optimizer, params, [step_grads])
            scheduler.step()

    half = len(grads) // 2
    uninterrupted = fresh(make())
    run(*uninterrupted, grads)
    first = fresh(make())
    run(*first, grads[:half])
    checkpoint = {
        "params": [p.detach() for p in first[0]],
        "optimizer": first[1].state_dict(),
        "scheduler": first[2].state_dict(),
    }
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)
    resumed = fresh([torch.nn.Parameter(p.clone()) for p in loaded["params"]])
    resumed[1].load_state_dict(loaded["optimizer"])
    resumed[2].load_state_dict(loaded["scheduler"])
    run(*resumed, grads[half:])
    return resumed, uninterrupted


def assert_steps(optimizer, params, count) -> None:
    assert [float(optimizer.state[p]["step"]) for p in params] == [count] * len(params)


def describe_groups(optimizer) -> list:
    """The param groups' options and the identities of their parameters."""
    return [
        ({k: v for k, v in group.items() if k != "params"}, [id(p) for p in group["params"]])
        for group in optimizer.param_groups
    ]


def assert_rejected(raised: pytest.ExceptionInfo, argument: str) -> None:
    """The message names the argument; ours read "<argument> must be …, got <value>"."""
    message = str(raised.value)
    assert argument in message
    if " must " in message:
        assert message.startswith(f"{argument} must "), message
        assert ", got " in message, message


def assert_load_rejected(optimizer, params, state_dict, error, *words) -> str:
    """``optimizer.load_state_dict(state_dict)`` raises ``error``, whose message has every one
    of ``words``, and leaves the optimizer exactly as it was: its groups (options and
    parameters) and its state, compared deeply. Returns the message."""
    groups = describe_groups(optimizer)
    before = copy.deepcopy((params, optimizer.state))
    state_object = optimizer.state
    with pytest.raises(error) as raised:
        optimizer.load_state_dict(state_dict)
    message = str(raised.value)
    for word in words:
        assert word in message, (word, message)
    assert "\n" not in message, message
    assert describe_groups(optimizer) == groups
    assert optimizer.state is state_object
    assert_identical((params, optimizer.state), before)
    return message


def _column_major(v):
    return v.t().contiguous().t() if v.dim() == 2 else v


def _channels_last(v):
    return v.contiguous(memory_format=torch.channels_last) if v.dim() == 4 else v


def _every_other(v):
    if v.dim() == 0:
        return v
    wide = v.new_zeros(*v.shape[:-1], 2 * v.shape[-1])
    return wide[..., ::2].copy_(v)


# Same shape and values, other memory layouts.
LAYOUTS = {"column_major": _column_major, "channels_last": _channels_last, "strided": _every_other}


def step_with(optimizer: torch.optim.Optimizer, params: list, grads: list) -> Any:
    """One optimizer step per list of gradients (copies, so runs can share them; None: no
    gradient for that parameter). Returns the optimizer."""
    for step_grads in grads:
        for p, grad in zip(params, step_grads, strict=True):
            p.grad = None if grad is None else grad.clone()
        optimizer.step()
    return optimizer


def make_scheduler(optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
    """A schedule for checkpoint tests: linear warmup and decay, or, for groups whose lr
    Adafactor computes itself, ``AdafactorSchedule`` (which reports it)."""
    if any(group["lr"] is None for group in optimizer.param_groups):
        return AdafactorSchedule(optimizer)
    return get_linear_schedule_with_warmup(optimizer, num_warmup_steps=3, num_training_steps=20)


def train_tiny_model(
    make_optimizer,
    *,
    compile_model=False,
    compile_step=False,
    steps=4,
    device="cpu",
    dtype=torch.float32,
):
    """Trains a small MLP of ``dtype`` on ``device`` for ``steps`` steps; returns copies of its
    parameters.

    ``make_optimizer(params)`` builds the optimizer. ``compile_model`` / ``compile_step`` wrap
    the model / the whole training step in ``torch.compile`` (the aot_eager backend, which
    needs no C++ compiler).
    """
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    model.to(device, dtype)
    optimizer = make_optimizer(model.parameters())
    forward = torch.compile(model, backend="aot_eager") if compile_model else model
    x, y = torch.randn(16, 4).to(device, dtype), torch.randn(16, 1).to(device, dtype)

    def step():
        torch.nn.functional.mse_loss(forward(x), y).backward()
        optimizer.step()
        optimizer.zero_grad()

    if compile_step:
        step = torch.compile(step, backend="aot_eager")
    for _ in range(steps):
        step()
    return [p.detach().clone() for p in model.parameters()]
