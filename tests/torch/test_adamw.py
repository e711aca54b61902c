"""What is specific to ``stepsize.torch.AdamW``: its known value, the decay the fused kernel
cannot fold, the dispatch to torch's fused kernel, its step counters, the hyper-parameters it
rejects because they give NaN, and state that does not fit the fused kernel.

The contract every optimizer meets (transformers' numbers on every path and dtype, resume,
GradScaler, ...) is in ``test_optimizer_contract.py``.
"""

import io
import math
import subprocess
import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from cases.closeness import assert_close  # noqa: E402
from cases.torch_contract import step_with  # noqa: E402
from cases.torch_optimizers import ADAMW, ADAMW_CONFIGS  # noqa: E402
from stepsize.torch import AdamW  # noqa: E402
from stepsize.torch import _adamw_optimizer as optimizer_module  # noqa: E402
from stepsize.torch._optimizer_base import FLOAT32_MAX, FLOAT32_TINY  # noqa: E402

PATHS = ADAMW.paths
SHAPES = ADAMW.shapes


def tensors(params, optimizer):
    """Parameters, then each parameter's exp_avg and exp_avg_sq."""
    state = [optimizer.state[p][key] for p in params for key in ("exp_avg", "exp_avg_sq")]
    return [*params, *state]


def assert_steps(optimizer, params, expected):
    for p in params:
        step = optimizer.state[p]["step"]
        assert isinstance(step, torch.Tensor) and step.dtype == torch.float32
        assert step.device.type == "cpu" and step.item() == expected


# ---- numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
def test_known_value_differs_from_torch(path):
    p = torch.nn.Parameter(torch.ones(1))
    q = torch.nn.Parameter(torch.ones(1))
    opt = AdamW([p], lr=1.0, eps=1e-6, **PATHS[path])
    reference = torch.optim.AdamW([q], lr=1.0, eps=1e-6, weight_decay=0.0)
    p.grad = torch.full((1,), 1e-6)
    q.grad = torch.full((1,), 1e-6)
    opt.step()
    reference.step()
    assert p.item() == pytest.approx(0.96935, abs=5e-6)
    assert q.item() == pytest.approx(0.5, abs=1e-6)


@pytest.mark.parametrize("config", ["bias1-wd0.1-default", "bias0-wd0.1-low"])
def test_reference_loop_is_transformers_bit_for_bit(config, make_params, make_grads):
    hyper = ADAMW_CONFIGS[config]
    runs = []
    for make in (ADAMW.make_reference, lambda params, **h: ADAMW.make(params, "loop", **h)):
        params = make_params(SHAPES)
        optimizer = make(ADAMW.groups(params, hyper), **hyper)
        step_with(optimizer, params, make_grads(params, 30))
        runs.append(tensors(params, optimizer))
    for x, y in zip(*runs, strict=True):
        assert torch.equal(x, y)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("weight_decay", [0.75, 1.0, 1.5])
def test_large_decay_matches_transformers(path, weight_decay, make_params, make_grads):
    """lr·weight_decay near or above 1: the decay cannot be folded into the kernel."""
    runs = []
    for make in (lambda ps, **h: ADAMW.make(ps, path, **h), ADAMW.make_reference):
        params = make_params(SHAPES, torch.float64)
        optimizer = make(params, lr=1.0, weight_decay=weight_decay)
        step_with(optimizer, params, make_grads(params, 5))
        runs.append(tensors(params, optimizer))
    assert_close(*runs, torch.float64)


def test_integer_hyperparameters_are_floats(make_params, make_grads):
    ints = make_params(SHAPES)
    floats = make_params(SHAPES)
    grads = make_grads(ints, 3)
    with_ints = step_with(AdamW(ints, lr=1, eps=1, weight_decay=0), ints, grads)
    with_floats = step_with(AdamW(floats, lr=1.0, eps=1.0, weight_decay=0.0), floats, grads)
    group = with_ints.param_groups[0]
    assert [type(group[key]) for key in ("lr", "eps", "weight_decay")] == [float] * 3
    for x, y in zip(tensors(ints, with_ints), tensors(floats, with_floats), strict=True):
        assert torch.equal(x, y)


# ---- dispatch ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("switches", "expected"),
    [
        ({}, {"adamw_fused"}),
        ({"fused": True}, {"adamw_fused"}),
        ({"fused": True, "foreach": False}, {"adamw_fused"}),
        ({"foreach": True}, {"adamw_foreach"}),
        ({"fused": False}, {"adamw_foreach"}),
        ({"foreach": True, "fused": False}, {"adamw_foreach"}),
        ({"foreach": False}, {"adamw_loop"}),
        ({"foreach": False, "fused": False}, {"adamw_loop"}),
    ],
)
def test_path_choice(monkeypatch, switches, expected, make_params, make_grads):
    calls = _spy(monkeypatch)
    params = make_params(SHAPES)
    step_with(AdamW(params, **switches), params, make_grads(params, 1))
    assert set(calls) == expected


@pytest.mark.parametrize(
    ("switches", "fallback"), [({}, "adamw_foreach"), ({"foreach": False}, None)]
)
def test_tensors_the_kernel_cannot_take_use_the_fallback(
    monkeypatch, switches, fallback, make_params, make_grads
):
    calls = _spy(monkeypatch)
    params = make_params(SHAPES)
    grads = make_grads(params, 1)
    grads[0][1] = grads[0][1].t().contiguous().t()
    step_with(AdamW(params, **switches), params, grads)
    if fallback is None:  # foreach=False asks for no multi-tensor path at all
        assert set(calls) == {"adamw_loop"}
    else:
        assert calls["adamw_fused"] == [3] and calls[fallback] == [1]


class _Subclass(torch.Tensor):
    """Stands for tensor subclasses such as DTensor, which the kernel cannot take."""


def test_tensor_subclasses_use_the_fallback_even_with_fused_true(
    monkeypatch, make_params, make_grads
):
    params = [torch.nn.Parameter(p.detach().as_subclass(_Subclass)) for p in make_params(SHAPES)]
    plain = make_params(SHAPES)
    opt, reference = AdamW(params, fused=True), AdamW(plain, foreach=False)
    for grads in make_grads(plain, 3):
        for p, q, grad in zip(params, plain, grads, strict=True):
            p.grad, q.grad = grad.clone(), grad.clone()
        calls = _spy(monkeypatch)
        opt.step()
        monkeypatch.undo()
        assert calls == {"adamw_foreach": [len(params)]}
        reference.step()
    assert_close(tensors(params, opt), tensors(plain, reference), torch.float32)


def _spy(monkeypatch):
    calls = {}
    for name in ("adamw_fused", "adamw_compiled", "adamw_foreach", "adamw_loop"):
        real = getattr(optimizer_module, name)

        def spy(*args, _real=real, _name=name, **kwargs):
            calls.setdefault(_name, []).append(len(args[0].params))
            return _real(*args, **kwargs)

        monkeypatch.setattr(optimizer_module, name, spy)
    return calls


def test_fused_true_rejects_parameters_the_kernel_cannot_take():
    with pytest.raises(ValueError, match=r"fused=True.*complex64"):
        AdamW([torch.nn.Parameter(torch.ones(2, dtype=torch.complex64))], fused=True)


def test_no_deprecation_warning(make_params):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        AdamW(make_params(SHAPES))
        AdamW(make_params(SHAPES), no_deprecation_warning=False)


# ---- step counters ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
def test_step_is_a_float32_cpu_tensor(path, make_params, make_grads):
    """The host-side bias correction reads it without a device sync."""
    params = make_params(SHAPES)
    optimizer = step_with(AdamW(params, **PATHS[path]), params, make_grads(params, 3))
    assert_steps(optimizer, params, 3)


def test_load_casts_state_to_parameter_dtype_and_keeps_step_float32(make_params, make_grads):
    params = make_params(SHAPES)
    opt = step_with(AdamW(params), params, make_grads(params, 1))
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    buffer.seek(0)
    wide = make_params(SHAPES, torch.float64)
    resumed = AdamW(wide)
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    for p in wide:
        assert resumed.state[p]["exp_avg"].dtype == torch.float64
        assert resumed.state[p]["exp_avg_sq"].dtype == torch.float64
    assert_steps(resumed, wide, 1)
    step_with(resumed, wide, make_grads(wide, 1))
    assert_steps(resumed, wide, 2)


# ---- what cannot work, and state that does not fit ---------------------------------------------


@pytest.mark.parametrize("path", PATHS)
def test_smallest_eps_keeps_zero_gradients_finite(path):
    """eps=0 gives 0/0 = NaN where the gradient is zero (transformers accepts it); the least eps
    accepted, float32's smallest normal, gives none, with zero and underflowing gradients."""
    with pytest.raises(ValueError, match=r"^eps must be a finite number >= 1\.17549435"):
        AdamW([torch.nn.Parameter(torch.ones(2))], eps=0.0)
    p = torch.nn.Parameter(torch.ones(4))
    opt = AdamW([p], eps=FLOAT32_TINY, **PATHS[path])
    for grad in (torch.zeros(4), torch.full((4,), 1e-30), torch.zeros(4)):  # g² = 0 in float32
        p.grad = grad
        opt.step()
        assert torch.isfinite(p).all() and torch.isfinite(opt.state[p]["exp_avg_sq"]).all()


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.0, 0.0), (1 - 2**-52, 0.5)])
def test_largest_lr_keeps_zero_gradients_finite(path, betas):
    """lr/(1 − β1) and lr/√(1 − β2) are step sizes computed in float32: beyond its range they
    are inf, and inf·0 = NaN where the gradient is zero."""
    largest = FLOAT32_MAX * min(1 - betas[0], math.sqrt(1 - betas[1]))
    with pytest.raises(ValueError, match=r"^lr must be a finite number in \[0\.0, "):
        AdamW([torch.nn.Parameter(torch.ones(2))], lr=largest * 1.01, betas=betas)
    p = torch.nn.Parameter(torch.zeros(3))
    opt = AdamW([p], lr=largest, betas=betas, **PATHS[path])
    p.grad = torch.tensor([0.0, 1e-3, -1e-3])
    opt.step()
    assert torch.isfinite(p).all() and p[0] == 0


def test_decay_beyond_two_is_rejected():
    """1 − lr·weight_decay < −1 multiplies the parameters by more than 1 in size every step."""
    AdamW([torch.nn.Parameter(torch.ones(2))], lr=1.0, weight_decay=2.0)
    message = r"^weight_decay must be <= 2/lr = 2\.0 with lr=1\.0 .*, got 2\.5$"
    with pytest.raises(ValueError, match=message):
        AdamW([torch.nn.Parameter(torch.ones(2))], lr=1.0, weight_decay=2.5)


def test_integer_and_numpy_arguments_are_plain_numbers(make_params, make_grads):
    """Integers and NumPy scalars work as hyper-parameters (stored as floats) and at step()."""
    plain, numpy_params = make_params(SHAPES), make_params(SHAPES)
    grads = make_grads(plain, 3)
    floats = step_with(AdamW(plain, lr=1.0, betas=(0.5, 0.75), eps=1.0), plain, grads)
    options = {"lr": np.int64(1), "betas": (np.float32(0.5), np.float64(0.75)), "eps": np.int8(1)}
    numpy_run = step_with(AdamW(numpy_params, **options), numpy_params, grads)
    group = numpy_run.param_groups[0]
    assert [type(x) for x in (group["lr"], *group["betas"], group["eps"])] == [float] * 4
    for x, y in zip(tensors(plain, floats), tensors(numpy_params, numpy_run), strict=True):
        assert torch.equal(x, y)


_KERNEL_GUARD = """
import torch
from stepsize.torch import AdamW

def fails(change, **switches):
    p = torch.nn.Parameter(torch.ones(3, 5))
    opt = AdamW([p], **switches)
    p.grad = torch.ones(3, 5)
    opt.step()
    change(p, opt.state[p])
    p.grad = torch.ones(p.shape)
    try:
        opt.step()
    except ValueError as error:
        return str(error)
    return "stepped"

for switches in ({}, {"fused": True}, {"foreach": True}, {"foreach": False}):
    print(fails(lambda p, state: state.update(exp_avg=torch.zeros(3, 4)), **switches))
    print(fails(lambda p, state: state.update(exp_avg_sq=torch.zeros(1)), **switches))
    print(fails(lambda p, state: setattr(p, "data", torch.ones(3, 7)), **switches))
"""


def test_state_that_does_not_fit_never_reaches_the_fused_kernel():
    """State of another shape, set by hand, or a parameter resized since: the fused kernel would
    read and write out of bounds (crashing the process, so this runs in a subprocess); every
    path raises ValueError instead."""
    done = subprocess.run(
        [sys.executable, "-c", _KERNEL_GUARD], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 12
    for exp_avg, exp_avg_sq, resized in zip(lines[0::3], lines[1::3], lines[2::3], strict=True):
        assert exp_avg.startswith("exp_avg has shape (3, 4), the parameter (3, 5): ")
        assert exp_avg_sq.startswith("exp_avg_sq has shape (1,), the parameter (3, 5): ")
        assert resized.startswith("exp_avg has shape (3, 5), the parameter (3, 7): ")
