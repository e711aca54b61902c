"""The low-precision options of the optimizer contract, run for every row of the optimizer table.

Every optimizer in ``cases.torch_optimizers.OPTIMIZERS``, with each of its precision options
(round to nearest, Kahan summation, stochastic rounding) on bfloat16 and float16 parameters:
every path equals the CPU reference loop step by step (the tolerance of each is in
``docs/guides/low-precision.md``), checkpoints resume bit-identically through
``weights_only`` loads, state follows dtype changes on load, GradScaler and ``torch.compile``
work. Tests that take ``device`` also run on CUDA where there is a GPU. The compiled kernels
are tested in ``test_compiled_paths.py``.
"""

from __future__ import annotations

import io

import pytest

torch = pytest.importorskip("torch")

from cases.closeness import assert_within_ulps  # noqa: E402
from cases.torch_contract import (  # noqa: E402
    assert_identical,
    assert_steps,
    dtypes,
    per_optimizer,
    resume_runs,
    step_with,
    train_tiny_model,
)
from cases.torch_low_precision import (  # noqa: E402
    assert_scaled_steps_like_unscaled,
    follow_step_by_step,
)
from stepsize.torch._lowp import KAHAN_KEY  # noqa: E402

LOW = [torch.bfloat16, torch.float16]
STEPS = 5


def _config(info):
    """A configuration with weight decay and a first moment (the most state to compare)."""
    return info.configs[info.resume_configs[0]]


@per_optimizer("precision", "device,path")
@dtypes(LOW)
def test_paths_match_the_cpu_reference_loop_step_by_step(
    info, precision, device, path, dtype, make_params, make_grads
):
    """Each step starts from the reference loop's parameters and state (loaded into ours,
    which keeps its path switches)."""
    config, options = _config(info), info.precision_options[precision]
    ref_params = make_params(info.shapes, dtype)
    params = make_params(info.shapes, dtype, device=device)
    reference = info.make(info.groups(ref_params, config), "loop", **config, **options)
    optimizer = info.make(info.groups(params, config), path, **config, **options)
    grads = make_grads(ref_params, STEPS)
    follow_step_by_step(info, (params, optimizer), (ref_params, reference), grads, dtype)
    assert_steps(optimizer, params, STEPS)


@per_optimizer("precision", "path")
@dtypes(LOW)
def test_resume_is_bit_identical(info, precision, path, dtype, device, make_params, make_grads):
    """Save after 6 steps, load with ``weights_only=True`` into fresh objects (a fresh
    ``seed`` too: the saved one is restored), train 6 more: the same as 12 in one go."""
    config, options = _config(info), info.precision_options[precision]
    grads = make_grads(make_params(info.shapes, dtype, device=device), 12)
    resumed, uninterrupted = resume_runs(
        info,
        config,
        path,
        grads,
        lambda: make_params(info.shapes, dtype, device=device),
        **options,
    )
    assert_identical((resumed[0], resumed[1].state), (uninterrupted[0], uninterrupted[1].state))
    has_buffer = [KAHAN_KEY in resumed[1].state[p] for p in resumed[0]]
    assert has_buffer == [precision == "kahan"] * len(has_buffer)


@per_optimizer("precision")
def test_the_seed_is_saved_and_restored(info, precision, make_params, make_grads):
    params = make_params(info.shapes, torch.bfloat16)
    options = info.precision_options[precision]
    optimizer = step_with(info.make(params, **options), params, make_grads(params, 1))
    saved = optimizer.state_dict()
    assert [group["seed"] for group in saved["param_groups"]] == [options.get("seed")]
    other = info.make(
        make_params(info.shapes, torch.bfloat16),
        seed=99,
        **{key: value for key, value in options.items() if key != "seed"},
    )
    other.load_state_dict(saved)
    assert other.param_groups[0]["seed"] == options.get("seed")


@per_optimizer("path")
def test_kahan_state_follows_the_parameter_dtype_on_load(info, path, make_params, make_grads):
    """A bfloat16 Kahan checkpoint loaded for float32 parameters drops its buffer (float32
    needs none) and continues as float32 from the cast state; loaded back for bfloat16
    parameters, a buffer starts from zero."""
    config = _config(info)
    low = make_params(info.shapes, torch.bfloat16)
    saved = step_with(info.make(info.groups(low, config), path, **config), low, make_grads(low, 3))
    buffer = io.BytesIO()
    torch.save(saved.state_dict(), buffer)
    grads = make_grads(low, 2, seed=7)
    runs = []
    for dtype, drop in ((torch.float32, False), (torch.float32, True), (torch.bfloat16, True)):
        params = [torch.nn.Parameter(p.detach().to(dtype)) for p in low]
        optimizer = info.make(info.groups(params, config), path, **config)
        buffer.seek(0)
        state_dict = torch.load(buffer, weights_only=True)
        if drop:  # as saved without Kahan summation
            for state in state_dict["state"].values():
                state.pop(KAHAN_KEY)
        optimizer.load_state_dict(state_dict)
        step_with(optimizer, params, [[g.to(dtype) for g in step] for step in grads])
        runs.append((params, optimizer.state))
    assert_identical(runs[1], runs[0])
    assert all(KAHAN_KEY not in runs[1][1][p] for p in runs[1][0])
    params, states = runs[2]
    for p in params:
        assert states[p][KAHAN_KEY].dtype == torch.bfloat16
        assert states[p][KAHAN_KEY].shape == p.shape


@per_optimizer("precision", "path", "low_scaler_dtype")
def test_grad_scaler_gives_the_unscaled_run(
    info, precision, path, low_scaler_dtype, device, make_params, make_grads
):
    """Low-precision parameters with scaled gradients (a power of 2: exact) step like unscaled
    ones (optimizers that unscale inside their step; GradScaler refuses float16 gradients)."""
    config, options = _config(info), info.precision_options[precision]
    params, plain = (make_params(info.shapes, low_scaler_dtype, device=device) for _ in range(2))
    optimizer = info.make(info.groups(params, config), path, **config, **options)
    reference = info.make(info.groups(plain, config), path, **config, **options)
    grads = make_grads(params, 3)
    assert_scaled_steps_like_unscaled(device, (params, optimizer), (plain, reference), grads)


@per_optimizer("precision")
def test_compiled_training_step_matches_eager(info, precision, device):
    """A bfloat16 model: ``torch.compile`` of the model and of the whole step (the update
    runs eagerly, a graph break) give the eager run."""
    options = info.precision_options[precision]

    def make(params):
        return info.make(params, **info.example, **options)

    eager = train_tiny_model(make, device=device, dtype=torch.bfloat16)
    for compiled in (
        train_tiny_model(make, compile_model=True, device=device, dtype=torch.bfloat16),
        train_tiny_model(make, compile_step=True, device=device, dtype=torch.bfloat16),
    ):
        assert_within_ulps(compiled, eager, torch.bfloat16)
