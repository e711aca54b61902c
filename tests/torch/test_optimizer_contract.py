"""The torch optimizer contract, written once and run for every row of the optimizer table.

Every optimizer in ``cases.torch_optimizers.OPTIMIZERS``, on every path, equals transformers and
its own reference loop in every precision, and behaves as a complete ``torch.optim`` optimizer:
closure, ``zero_grad``, param groups (also added later, and rejected whole), resume, GradScaler,
sparse gradients, ``torch.compile`` and transformers' checkpoints. Tests that take ``device``
also run on CUDA where there is a GPU (compared with CPU runs).
"""

from __future__ import annotations

import copy
import io
import itertools

import pytest

torch = pytest.importorskip("torch")

from cases.closeness import assert_close, assert_no_further  # noqa: E402
from cases.torch_optimizers import (  # noqa: E402
    OPTIMIZERS,
    ErrorInput,
    OptimizerInfo,
    make_scheduler,
    step_with,
    train_tiny_model,
)

STEPS = 30
FLOAT = [torch.float64, torch.float32]
LOW = [torch.bfloat16, torch.float16]
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
    "resume_config": lambda info: list(info.resume_configs),
    "scaler_dtype": lambda info: list(info.grad_scaler_dtypes),
    "error_input": lambda info: info.error_inputs,
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


@pytest.fixture(scope="session")
def train(make_params, make_grads):
    """``train(info, config, implementation, dtype, device="cpu", start=None)``.

    Trains the row's shapes in two param groups (``info.groups``) for ``STEPS`` steps with a
    path of ours or ``"transformers"``; returns (params, optimizer). The initial values and
    gradients are rounded to ``start`` first (default: ``dtype``). Runs of the references
    (transformers, and the CPU loop) are cached: treat results as read-only.
    """
    cache = {}

    def run(info, config, implementation, dtype, device="cpu", start=None):
        key = (info.name, config, implementation, dtype, device, start)
        if key in cache:
            return cache[key]
        hyper = info.configs[config]
        start_params = make_params(info.shapes, start or dtype, device=device)
        params = [torch.nn.Parameter(p.detach().to(dtype)) for p in start_params]
        grads = [[g.to(dtype) for g in step] for step in make_grads(start_params, STEPS)]
        optimizer = make_either(info, implementation)(info.groups(params, hyper), **hyper)
        step_with(optimizer, params, grads)
        if implementation == REFERENCE or (implementation == "loop" and device == "cpu"):
            cache[key] = params, optimizer
        return params, optimizer

    return run


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


# ---- numbers ----------------------------------------------------------------------------------


@per_optimizer("config", "path")
@dtypes(FLOAT)
def test_matches_transformers(info, config, path, dtype, device, train):
    ours = train(info, config, path, dtype, device)
    assert_same_run(info, ours, train(info, config, REFERENCE, dtype, device), dtype)
    assert_steps(ours[1], ours[0], STEPS)


@per_optimizer("config", "device,path")
@dtypes(FLOAT)
def test_paths_match_the_cpu_reference_loop(info, config, device, path, dtype, train):
    ours = train(info, config, path, dtype, device)
    assert_same_run(info, ours, train(info, config, "loop", dtype), dtype)


@per_optimizer("low_precision_config", "path")
@dtypes(LOW)
def test_low_precision_no_further_from_float32_than_transformers(
    info, low_precision_config, path, dtype, device, train
):
    """Compared with transformers' float32 run from the same rounded start and gradients."""
    config = low_precision_config
    runs = [
        train(info, config, path, dtype, device),
        train(info, config, REFERENCE, dtype, device),
        train(info, config, REFERENCE, torch.float32, device, start=dtype),
    ]
    params, optimizer = runs[0]
    assert all(p.dtype == dtype for p in params)
    for state in state_of(info, optimizer, params):
        assert all(value.dtype == info.state_dtype(dtype) for value in state.values())
    states = [
        [value for state in state_of(info, opt, ps) for value in state.values()] for ps, opt in runs
    ]
    slack = info.low_precision_slack
    assert_no_further(*(ps for ps, _ in runs), slack=slack, what="params")
    assert_no_further(*states, slack=slack, what="state")


@per_optimizer("path")
def test_uneven_step_counts_match_transformers(info, path, device, make_params, make_grads):
    """Parameter i misses every (i + 2)-th step: each keeps its own step count."""
    config = info.configs[info.resume_configs[0]]

    def train_with(make):
        params = make_params(info.shapes, torch.float64, device=device)
        grads = [
            [None if t % (i + 2) == 1 else grad for i, grad in enumerate(step_grads)]
            for t, step_grads in enumerate(make_grads(params, 12))
        ]
        return params, step_with(make(params, **config), params, grads)

    ours, theirs = ours_and_transformers(info, path, train_with)
    assert len({float(ours[1].state[p]["step"]) for p in ours[0]}) > 1
    assert_same_run(info, ours, theirs, torch.float64)


@per_optimizer("path")
def test_mixed_dtypes_and_transposed_grads_match_transformers(
    info, path, device, make_params, make_grads
):
    """float32 and float64 parameters in one group; 2-D gradients stored transposed."""
    config = info.configs[info.resume_configs[0]]

    def train_with(make):
        params = make_params(info.shapes, device=device)
        params += make_params([(3, 5)], torch.float64, seed=2, device=device)
        grads = make_grads(params, STEPS, layout=_column_major)
        return params, step_with(make(params, **config), params, grads)

    assert_same_run(info, *ours_and_transformers(info, path, train_with), torch.float32)


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


@per_optimizer("path")
@pytest.mark.parametrize("layout", LAYOUTS)
def test_memory_layouts_match_the_cpu_reference_loop(
    info, path, layout, device, make_params, make_grads
):
    """Non-contiguous parameters and gradients: updated in place, equal to contiguous ones."""
    config = info.configs[info.resume_configs[0]]
    shapes = [*info.shapes, (6, 5)]
    make = LAYOUTS[layout]
    params = make_params(shapes, device=device, layout=make)
    assert not all(p.is_contiguous() for p in params)
    optimizer = info.make(info.groups(params, config), path, **config)
    step_with(optimizer, params, make_grads(params, STEPS, layout=make))
    assert not all(p.is_contiguous() for p in params)
    reference = make_params(shapes)
    loop = info.make(info.groups(reference, config), "loop", **config)
    step_with(loop, reference, make_grads(reference, STEPS))
    assert_same_run(info, (params, optimizer), (reference, loop), torch.float32)


# ---- torch optimizer behaviour --------------------------------------------------------------


@per_optimizer("path")
def test_closure_and_zero_grad(info, path, device):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2).to(device)
    twin = copy.deepcopy(model)
    optimizer = info.make(model.parameters(), path, **info.example)
    twin_optimizer = info.make(twin.parameters(), path, **info.example)
    x, y = torch.randn(8, 3).to(device), torch.randn(8, 2).to(device)

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        return loss

    before = model.weight.detach().clone()
    loss = optimizer.step(closure)
    expected = torch.nn.functional.mse_loss(twin(x), y)
    expected.backward()
    twin_optimizer.step()
    assert loss.item() == expected.item()
    assert not torch.equal(model.weight, before)
    for p, q in zip(model.parameters(), twin.parameters(), strict=True):
        assert torch.equal(p, q)
    optimizer.zero_grad()
    assert all(p.grad is None for p in model.parameters())


@per_optimizer("path")
def test_parameters_without_gradients_are_left_alone(info, path, device, make_params, make_grads):
    params = make_params(info.shapes, device=device)
    frozen = params[1]
    before = frozen.detach().clone()
    optimizer = info.make(params, path, **info.example)
    grads = make_grads(params, 3)
    for step_grads in grads:
        step_grads[1] = None
    step_with(optimizer, params, grads)
    assert torch.equal(frozen, before)
    assert frozen not in optimizer.state
    assert_steps(optimizer, [p for p in params if p is not frozen], 3)


@per_optimizer("path")
def test_param_group_added_later_matches_transformers(info, path, device, make_params, make_grads):
    config = info.configs[info.resume_configs[0]]

    def train_with(make):
        params = make_params(info.shapes, torch.float64, device=device)
        first, second = info.groups(params, config)  # first: the even-indexed parameters
        grads = make_grads(params, 10)
        early = [[g if i % 2 == 0 else None for i, g in enumerate(step)] for step in grads[:4]]
        optimizer = step_with(make(first["params"], **config), params, early)
        optimizer.add_param_group(second)
        return params, step_with(optimizer, params, grads[4:])

    ours, theirs = ours_and_transformers(info, path, train_with)
    assert len(ours[1].param_groups) == 2
    assert_same_run(info, ours, theirs, torch.float64)


@per_optimizer("error_input")
def test_invalid_arguments_are_rejected(info, error_input, make_params):
    with pytest.raises(error_input.error) as raised:
        info.make(make_params(info.shapes), **error_input.kwargs)
    assert_rejected(raised, error_input.argument)


@per_optimizer("error_input")
def test_invalid_param_group_is_rejected_and_changes_nothing(
    info, error_input, make_params, make_grads
):
    runs = []
    for add_bad_group in (True, False):
        params = make_params(info.shapes)
        optimizer = info.make(params[:2], **info.example)
        grads = make_grads(params[:2], 4)
        step_with(optimizer, params[:2], grads[:2])
        if add_bad_group:
            groups = describe_groups(optimizer)
            with pytest.raises(error_input.error) as raised:
                optimizer.add_param_group({"params": params[2:], **error_input.kwargs})
            assert_rejected(raised, error_input.argument)
            assert describe_groups(optimizer) == groups
        step_with(optimizer, params[:2], grads[2:])
        runs.append((params[:2], optimizer.state))
    assert_identical(*runs)


@per_optimizer("path")
def test_sparse_gradients_raise(info, path, device):
    embedding = torch.nn.Embedding(10, 3, sparse=True).to(device)
    optimizer = info.make(embedding.parameters(), path, **info.example)
    embedding(torch.tensor([1, 2], device=device)).sum().backward()
    with pytest.raises(RuntimeError, match="does not support sparse gradients"):
        optimizer.step()


@each_optimizer()
def test_compiled_training_step_matches_eager(info, device):
    """``torch.compile`` of the model, and of the whole step (the update runs eagerly)."""

    def make(params):
        return info.make(params, **info.example)

    eager = train_tiny_model(make, device=device)
    for compiled in (
        train_tiny_model(make, compile_model=True, device=device),
        train_tiny_model(make, compile_step=True, device=device),
    ):
        assert_close(compiled, eager, torch.float32)


# ---- mixed precision --------------------------------------------------------------------------


@per_optimizer("path", "scaler_dtype")
def test_grad_scaler_unscales_and_skips_inf_steps(
    info, path, scaler_dtype, device, make_params, make_grads
):
    """Scaled gradients give the unscaled run bit for bit; an inf step changes nothing."""
    scaler = torch.amp.GradScaler(device)
    params = make_params(info.shapes, scaler_dtype, device=device)
    plain = make_params(info.shapes, scaler_dtype, device=device)
    optimizer = info.make(params, path, **info.example)
    reference = info.make(plain, path, **info.example)
    # 65536 by default: a power of 2, exact in float16 too
    scale = scaler.scale(torch.ones((), device=device)).item()
    for step, grads in enumerate(make_grads(params, 4)):
        for p, q, grad in zip(params, plain, grads, strict=True):
            q.grad = grad / 100
            p.grad = q.grad * scale
        if step == 2:
            params[-1].grad.view(-1)[0] = float("inf")
            before = copy.deepcopy((params, optimizer.state))
        scaler.step(optimizer)
        scaler.update()
        if step == 2:  # skipped: parameters and state untouched, the scale backs off
            assert_identical((params, optimizer.state), before)
            assert_steps(optimizer, params, 2)
            assert scaler.get_scale() == scale / 2
            scale /= 2
        else:
            reference.step()
    assert_steps(optimizer, params, 3)
    assert_identical((params, optimizer.state), (plain, reference.state))


@per_optimizer("path")
def test_grad_scaler_after_explicit_unscale(info, path, device, make_params, make_grads):
    scaler = torch.amp.GradScaler(device)
    params, plain = (make_params(info.shapes, device=device) for _ in range(2))
    optimizer = info.make(params, path, **info.example)
    reference = info.make(plain, path, **info.example)
    scale = scaler.scale(torch.ones((), device=device)).item()
    for p, q, grad in zip(params, plain, make_grads(params, 1)[0], strict=True):
        q.grad = grad
        p.grad = grad * scale
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(params, 1e9)
    scaler.step(optimizer)
    reference.step()
    assert_identical((params, optimizer.state), (plain, reference.state))


# ---- checkpoints ----------------------------------------------------------------------------


@per_optimizer("resume_config", "path")
@dtypes([torch.float32, torch.bfloat16])
def test_resume_is_bit_identical(
    info, resume_config, path, dtype, device, make_params, make_grads, tmp_path
):
    """Save after 10 steps (with a scheduler attached), load with ``weights_only=True`` into
    fresh objects, train 10 more: the same as 20 steps in one go."""
    config = info.configs[resume_config]
    grads = make_grads(make_params(info.shapes, dtype, device=device), 20)

    def fresh(params):
        optimizer = info.make(info.groups(params, config), path, **config)
        return params, optimizer, make_scheduler(optimizer)

    def run(params, optimizer, scheduler, steps):
        for step_grads in steps:
            step_with(optimizer, params, [step_grads])
            scheduler.step()

    uninterrupted = fresh(make_params(info.shapes, dtype, device=device))
    run(*uninterrupted, grads)

    first = fresh(make_params(info.shapes, dtype, device=device))
    run(*first, grads[:10])
    checkpoint = {
        "params": [p.detach() for p in first[0]],
        "optimizer": first[1].state_dict(),
        "scheduler": first[2].state_dict(),
    }
    torch.save(checkpoint, tmp_path / "checkpoint.pt")
    loaded = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    resumed = fresh([torch.nn.Parameter(p.clone()) for p in loaded["params"]])
    resumed[1].load_state_dict(loaded["optimizer"])
    resumed[2].load_state_dict(loaded["scheduler"])
    run(*resumed, grads[10:])

    assert_identical((resumed[0], resumed[1].state), (uninterrupted[0], uninterrupted[1].state))
    assert resumed[2].get_last_lr() == uninterrupted[2].get_last_lr()
    assert_steps(resumed[1], resumed[0], 20)


@per_optimizer("path")
@dtypes(FLOAT)
def test_loads_a_transformers_checkpoint(info, path, dtype, device, make_params, make_grads):
    """transformers trains 5 steps; we load its state dict and continue exactly as it does."""
    config = info.configs[info.resume_configs[0]]
    theirs = make_params(info.shapes, dtype, device=device)
    grads = make_grads(theirs, 10)
    their_optimizer = info.make_reference(info.groups(theirs, config), **config)
    step_with(their_optimizer, theirs, grads[:5])
    buffer = io.BytesIO()
    torch.save(their_optimizer.state_dict(), buffer)
    buffer.seek(0)
    ours = [torch.nn.Parameter(p.detach().clone()) for p in theirs]
    our_optimizer = info.make(info.groups(ours, config), path, **config)
    our_optimizer.load_state_dict(torch.load(buffer, weights_only=True))
    assert_steps(our_optimizer, ours, 5)
    step_with(their_optimizer, theirs, grads[5:])
    step_with(our_optimizer, ours, grads[5:])
    assert_same_run(info, (ours, our_optimizer), (theirs, their_optimizer), dtype)
