"""The optimizer contract's numbers, written once and run for every row of the optimizer table.

Every optimizer in ``cases.torch_optimizers.OPTIMIZERS``, on every path, equals transformers and
its own reference loop in every precision: float64/float32 elementwise (``cases.closeness``),
float16/bfloat16 no further from transformers' float32 run than transformers' own run; also
with uneven step counts, mixed dtypes and other memory layouts. Tests that take ``device`` also
run on CUDA where there is a GPU (the reference loop stays on the CPU).
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from cases.closeness import assert_no_further  # noqa: E402
from cases.torch_contract import (  # noqa: E402
    LAYOUTS,
    REFERENCE,
    assert_same_run,
    assert_steps,
    dtypes,
    make_either,
    ours_and_transformers,
    per_optimizer,
    state_of,
    step_with,
)

STEPS = 30
FLOAT = [torch.float64, torch.float32]
LOW = [torch.bfloat16, torch.float16]


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
        grads = make_grads(params, STEPS, layout=LAYOUTS["column_major"])
        return params, step_with(make(params, **config), params, grads)

    assert_same_run(info, *ours_and_transformers(info, path, train_with), torch.float32)


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
