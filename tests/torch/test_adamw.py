"""What is specific to ``stepsize.torch.AdamW``: its known value, the decay the fused kernel
cannot fold, the dispatch to torch's fused kernel, and its step counters.

The contract every optimizer meets (transformers' numbers on every path and dtype, resume,
GradScaler, ...) is in ``test_optimizer_contract.py``.
"""

import io
import warnings

import pytest

torch = pytest.importorskip("torch")

from cases.closeness import assert_close  # noqa: E402
from cases.torch_contract import step_with  # noqa: E402
from cases.torch_optimizers import ADAMW, ADAMW_CONFIGS  # noqa: E402
from stepsize.torch import AdamW  # noqa: E402
from stepsize.torch import _adamw_optimizer as optimizer_module  # noqa: E402

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
