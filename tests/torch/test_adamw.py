"""stepsize.torch.AdamW: transformers' numbers on every path, and a complete torch optimizer."""

import functools
import io
import warnings

import pytest

torch = pytest.importorskip("torch")

from cases.torch_optimizers import (  # noqa: E402
    ADAMW_CONFIGS,
    ADAMW_ERROR_INPUTS,
    ADAMW_PATHS,
    adamw_second_group,
    train_tiny_model,
)
from stepsize.torch import AdamW, get_linear_schedule_with_warmup  # noqa: E402
from stepsize.torch import _adamw as adamw_module  # noqa: E402

SHAPES = [(7,), (5, 4), (3, 4, 5), (2, 3, 2, 3)]  # 1-D to 4-D
STEPS = 30
LOW = [torch.bfloat16, torch.float16]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: one intra-op thread, so kernels never wait on a busy machine's cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def hf_adamw():
    return pytest.importorskip("transformers.optimization").AdamW


def make_params(dtype=torch.float32, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [
        torch.nn.Parameter(torch.randn(shape, generator=generator, dtype=torch.float64).to(dtype))
        for shape in SHAPES
    ]


def set_grads(params, step, seed=1):
    generator = torch.Generator().manual_seed(seed * 1000 + step)
    for p in params:
        p.grad = torch.randn(p.shape, generator=generator, dtype=torch.float64).to(p.dtype)


def two_groups(params, config):
    return [{"params": params[:2], **adamw_second_group(config)}, {"params": params[2:]}]


def train(make_optimizer, config, dtype, steps=STEPS):
    params = make_params(dtype)
    opt = make_optimizer(two_groups(params, config), **config)
    for step in range(steps):
        set_grads(params, step)
        opt.step()
    return params, opt


@functools.cache
def reference_run(name, config, dtype):
    """Parameters and state after training with transformers ("hf") or the loop, cached."""
    make = hf if name == "hf" else ours("loop")
    return tuple(tensors(*train(make, ADAMW_CONFIGS[config], dtype)))


def ours(path):
    return lambda groups, **config: AdamW(groups, **config, **ADAMW_PATHS[path])


def hf(groups, **config):
    return hf_adamw()(groups, **config, no_deprecation_warning=True)


def tensors(params, opt):
    """Parameters, then each parameter's exp_avg and exp_avg_sq, as float64."""
    out = [p.detach().double() for p in params]
    for p in params:
        out += [opt.state[p]["exp_avg"].double(), opt.state[p]["exp_avg_sq"].double()]
    return out


def assert_parity(actual, expected, dtype):
    """SPEC 5.1: float64 <= 1e-10 relative; float32 |x - y| <= 1e-6 + 1e-5 |y|."""
    for x, y in zip(actual, expected, strict=True):
        bound = 1e-10 * y.abs() if dtype == torch.float64 else 1e-6 + 1e-5 * y.abs()
        excess = ((x - y).abs() - bound).max().item()
        assert excess <= 0, f"off by {excess:.3g} beyond the bound"


def assert_steps(opt, params, expected):
    for p in params:
        step = opt.state[p]["step"]
        assert isinstance(step, torch.Tensor) and step.dtype == torch.float32
        assert step.device.type == "cpu" and step.item() == expected


# ---- numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ADAMW_PATHS)
def test_known_value_differs_from_torch(path):
    p = torch.nn.Parameter(torch.ones(1))
    q = torch.nn.Parameter(torch.ones(1))
    opt = AdamW([p], lr=1.0, eps=1e-6, **ADAMW_PATHS[path])
    reference = torch.optim.AdamW([q], lr=1.0, eps=1e-6, weight_decay=0.0)
    p.grad = torch.full((1,), 1e-6)
    q.grad = torch.full((1,), 1e-6)
    opt.step()
    reference.step()
    assert p.item() == pytest.approx(0.96935, abs=5e-6)
    assert q.item() == pytest.approx(0.5, abs=1e-6)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("path", ADAMW_PATHS)
@pytest.mark.parametrize("config", ADAMW_CONFIGS)
def test_matches_transformers(config, path, dtype):
    params, opt = train(ours(path), ADAMW_CONFIGS[config], dtype)
    assert_parity(tensors(params, opt), reference_run("hf", config, dtype), dtype)
    assert_steps(opt, params, STEPS)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("path", ["auto", "foreach", "fused"])
@pytest.mark.parametrize("config", ADAMW_CONFIGS)
def test_fast_paths_match_reference_loop(config, path, dtype):
    params, opt = train(ours(path), ADAMW_CONFIGS[config], dtype)
    assert_parity(tensors(params, opt), reference_run("loop", config, dtype), dtype)


@pytest.mark.parametrize("config", ["bias1-wd0.1-default", "bias0-wd0.1-low"])
def test_reference_loop_is_transformers_bit_for_bit(config):
    expected = reference_run("hf", config, torch.float32)
    for x, y in zip(reference_run("loop", config, torch.float32), expected, strict=True):
        assert torch.equal(x, y)


def _distances(run, reference):
    """Relative L2 distances from the float32 ``reference``: of all parameters, of all state."""
    count = len(SHAPES)
    out = []
    for part in (slice(0, count), slice(count, None)):
        x, y = (
            torch.cat([t.flatten() for t in run[part]]),
            torch.cat([t.flatten() for t in reference[part]]),
        )
        out.append(((x - y).norm() / y.norm()).item())
    return out


@pytest.mark.parametrize("dtype", LOW)
@pytest.mark.parametrize(
    "config", ["bias1-wd0.0-default", "bias1-wd0.1-default", "bias0-wd0.1-low"]
)
def test_low_precision_no_further_from_float32_than_transformers(config, dtype):
    """SPEC 5.1: each low-precision run is compared with transformers' float32 run."""
    reference = reference_run("hf", config, torch.float32)
    theirs = _distances(reference_run("hf", config, dtype), reference)
    for path in ADAMW_PATHS:
        params, opt = train(ours(path), ADAMW_CONFIGS[config], dtype)
        assert all(opt.state[p]["exp_avg"].dtype == dtype for p in params)
        mine = _distances(tensors(params, opt), reference)
        assert mine[0] <= theirs[0] and mine[1] <= theirs[1], (path, mine, theirs)


@pytest.mark.parametrize("path", ADAMW_PATHS)
def test_uneven_step_counts_match_transformers(path):
    """A parameter without a gradient on some steps keeps its own step count."""
    config = ADAMW_CONFIGS["bias1-wd0.1-default"]
    runs = []
    for make in (ours(path), hf):
        params = make_params(torch.float64)
        opt = make(params, **config)
        for step in range(12):
            set_grads(params, step)
            if step % 3:
                params[1].grad = None
            opt.step()
        runs.append(tensors(params, opt))
    assert_parity(runs[0], runs[1], torch.float64)


@pytest.mark.parametrize("path", ADAMW_PATHS)
@pytest.mark.parametrize("weight_decay", [0.75, 1.0, 1.5])
def test_large_decay_matches_transformers(path, weight_decay):
    """lr·weight_decay near or above 1: the decay cannot be folded into the kernel."""
    runs = []
    for make in (ours(path), hf):
        params = make_params(torch.float64)
        opt = make(params, lr=1.0, weight_decay=weight_decay)
        for step in range(5):
            set_grads(params, step)
            opt.step()
        runs.append(tensors(params, opt))
    assert_parity(runs[0], runs[1], torch.float64)


@pytest.mark.parametrize("path", ADAMW_PATHS)
def test_non_contiguous_grads_and_mixed_dtypes_match_transformers(path):
    config = ADAMW_CONFIGS["bias1-wd0.1-default"]
    runs = []
    for make in (ours(path), hf):
        wide = torch.nn.Parameter(torch.ones(3, 5, dtype=torch.float64))
        params = [*make_params(torch.float32), wide]
        opt = make(params, **config)
        for step in range(STEPS):
            set_grads(params, step)
            params[1].grad = params[1].grad.t().contiguous().t()  # same values, transposed
            wide.grad = torch.full((5, 3), 0.1 * (step + 1), dtype=torch.float64).t()
            opt.step()
        runs.append(tensors(params, opt))
    assert_parity(runs[0], runs[1], torch.float32)


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
def test_path_choice(monkeypatch, switches, expected):
    calls = _spy(monkeypatch)
    params = make_params()
    opt = AdamW(params, **switches)
    set_grads(params, 0)
    opt.step()
    assert set(calls) == expected


@pytest.mark.parametrize(
    ("switches", "fallback"), [({}, "adamw_foreach"), ({"foreach": False}, None)]
)
def test_tensors_the_kernel_cannot_take_use_the_fallback(monkeypatch, switches, fallback):
    calls = _spy(monkeypatch)
    params = make_params()
    opt = AdamW(params, **switches)
    set_grads(params, 0)
    params[1].grad = params[1].grad.t().contiguous().t()
    opt.step()
    if fallback is None:  # foreach=False asks for no multi-tensor path at all
        assert set(calls) == {"adamw_loop"}
    else:
        assert calls["adamw_fused"] == [3] and calls[fallback] == [1]


class _Subclass(torch.Tensor):
    """Stands for tensor subclasses such as DTensor, which the kernel cannot take."""


def test_tensor_subclasses_use_the_fallback_even_with_fused_true(monkeypatch):
    params = [torch.nn.Parameter(p.detach().as_subclass(_Subclass)) for p in make_params()]
    plain = make_params()
    opt, reference = AdamW(params, fused=True), AdamW(plain, foreach=False)
    for step in range(3):
        set_grads(params, step)
        set_grads(plain, step)
        calls = _spy(monkeypatch)
        opt.step()
        monkeypatch.undo()
        assert calls == {"adamw_foreach": [len(params)]}
        reference.step()
    assert_parity(tensors(params, opt), tensors(plain, reference), torch.float32)


def _spy(monkeypatch):
    calls = {}
    for name in ("adamw_fused", "adamw_foreach", "adamw_loop"):
        real = getattr(adamw_module, name)

        def spy(*tensors, _real=real, _name=name, **hyper):
            calls.setdefault(_name, []).append(len(tensors[0]))
            return _real(*tensors, **hyper)

        monkeypatch.setattr(adamw_module, name, spy)
    return calls


# ---- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "error", "pattern"), ADAMW_ERROR_INPUTS)
def test_invalid_arguments(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        AdamW(make_params(), **kwargs)


@pytest.mark.parametrize(("kwargs", "error", "pattern"), ADAMW_ERROR_INPUTS)
def test_invalid_param_group_arguments(kwargs, error, pattern):
    params = make_params()
    opt = AdamW(params[:2])
    with pytest.raises(error, match=pattern):
        opt.add_param_group({"params": params[2:], **kwargs})
    assert len(opt.param_groups) == 1


def test_fused_true_rejects_parameters_the_kernel_cannot_take():
    with pytest.raises(ValueError, match=r"fused=True.*complex64"):
        AdamW([torch.nn.Parameter(torch.ones(2, dtype=torch.complex64))], fused=True)


@pytest.mark.parametrize("path", ADAMW_PATHS)
def test_sparse_gradients_raise(path):
    embedding = torch.nn.Embedding(10, 3, sparse=True)
    opt = AdamW(embedding.parameters(), **ADAMW_PATHS[path])
    embedding(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(RuntimeError, match="sparse gradients"):
        opt.step()


def test_no_deprecation_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        AdamW(make_params())
        AdamW(make_params(), no_deprecation_warning=False)


# ---- torch optimizer contract -------------------------------------------------------------------


@pytest.mark.parametrize("path", ADAMW_PATHS)
def test_resume_is_bit_identical(tmp_path, path):
    config = ADAMW_CONFIGS["bias1-wd0.1-default"]

    def fresh():
        params = make_params()
        opt = AdamW(two_groups(params, config), **config, **ADAMW_PATHS[path])
        return params, opt, get_linear_schedule_with_warmup(opt, 3, 20)

    def run(params, opt, scheduler, steps):
        for step in steps:
            set_grads(params, step)
            opt.step()
            scheduler.step()

    params, opt, scheduler = fresh()
    run(params, opt, scheduler, range(20))

    first = fresh()
    run(*first, range(10))
    torch.save({"opt": first[1].state_dict(), "sched": first[2].state_dict()}, tmp_path / "c.pt")
    checkpoint = torch.load(tmp_path / "c.pt", weights_only=True)
    second = fresh()
    for p, q in zip(second[0], first[0], strict=True):
        p.data.copy_(q.data)
    second[1].load_state_dict(checkpoint["opt"])
    second[2].load_state_dict(checkpoint["sched"])
    run(*second, range(10, 20))
    for x, y in zip(tensors(second[0], second[1]), tensors(params, opt), strict=True):
        assert torch.equal(x, y)
    assert_steps(second[1], second[0], 20)


def test_load_casts_state_to_parameter_dtype_and_keeps_step_float32():
    params = make_params(torch.float32)
    opt = AdamW(params)
    set_grads(params, 0)
    opt.step()
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    buffer.seek(0)
    wide = make_params(torch.float64)
    resumed = AdamW(wide)
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    for p in wide:
        assert resumed.state[p]["exp_avg"].dtype == torch.float64
        assert resumed.state[p]["exp_avg_sq"].dtype == torch.float64
    assert_steps(resumed, wide, 1)
    set_grads(wide, 1)
    resumed.step()
    assert_steps(resumed, wide, 2)


@pytest.mark.parametrize("path", ADAMW_PATHS)
def test_loads_a_transformers_checkpoint(path):
    config = ADAMW_CONFIGS["bias1-wd0.1-default"]
    params = make_params()
    theirs = hf(params, **config)
    for step in range(5):
        set_grads(params, step)
        theirs.step()
    snapshot = [p.detach().clone() for p in params]
    copies = [torch.nn.Parameter(p.clone()) for p in snapshot]
    mine = AdamW(copies, **config, **ADAMW_PATHS[path])
    buffer = io.BytesIO()
    torch.save(theirs.state_dict(), buffer)  # its "step" is an int
    buffer.seek(0)
    mine.load_state_dict(torch.load(buffer, weights_only=True))
    assert_steps(mine, copies, 5)
    for step in range(5, 10):
        set_grads(params, step)
        set_grads(copies, step)
        theirs.step()
        mine.step()
    assert_parity(tensors(copies, mine), tensors(params, theirs), torch.float32)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("path", ADAMW_PATHS)
def test_grad_scaler(path, dtype):
    scaler = torch.amp.GradScaler("cpu")
    params, plain = make_params(dtype), make_params(dtype)
    opt = AdamW(params, lr=1e-2, weight_decay=0.1, **ADAMW_PATHS[path])
    reference = AdamW(plain, lr=1e-2, weight_decay=0.1, **ADAMW_PATHS[path])
    scale = scaler.scale(torch.ones(())).item()  # 65536 by default
    for step in range(4):
        set_grads(params, step)
        set_grads(plain, step)
        for p, q in zip(params, plain, strict=True):
            q.grad.div_(100)
            p.grad.copy_(q.grad * scale)  # a power of 2: exact in float16 too
        before = [t.clone() for t in tensors(params, opt)] if step else None
        if step == 2:
            params[2].grad[0, 0, 0] = float("inf")
        scaler.step(opt)
        scaler.update()
        if step == 2:  # skipped: parameters and state untouched, the scale backs off
            assert all(torch.equal(x, y) for x, y in zip(tensors(params, opt), before, strict=True))
            assert_steps(opt, params, 2)
            assert scaler.get_scale() == scale / 2
            scale /= 2
        else:
            reference.step()
    assert_steps(opt, params, 3)
    for x, y in zip(tensors(params, opt), tensors(plain, reference), strict=True):
        assert torch.equal(x, y)


def test_grad_scaler_after_explicit_unscale():
    scaler = torch.amp.GradScaler("cpu")
    params, plain = make_params(), make_params()
    opt, reference = AdamW(params), AdamW(plain)
    scale = scaler.scale(torch.ones(())).item()
    set_grads(params, 0)
    set_grads(plain, 0)
    for p in params:
        p.grad.mul_(scale)
    scaler.unscale_(opt)
    torch.nn.utils.clip_grad_norm_(params, 1e9)
    scaler.step(opt)
    reference.step()
    for x, y in zip(tensors(params, opt), tensors(plain, reference), strict=True):
        assert torch.equal(x, y)


@pytest.mark.parametrize("path", ADAMW_PATHS)
def test_closure_and_zero_grad(path):
    model = torch.nn.Linear(3, 1)
    opt = AdamW(model.parameters(), lr=1e-2, **ADAMW_PATHS[path])
    x, y = torch.randn(8, 3), torch.randn(8, 1)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        return loss

    before = model.weight.detach().clone()
    expected = torch.nn.functional.mse_loss(model(x), y).item()
    loss = opt.step(closure)
    assert loss.item() == expected
    assert not torch.equal(model.weight, before)
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_compiled_training_step_matches_eager():
    def make(params):
        return AdamW(params, lr=1e-2, weight_decay=0.01)

    eager = train_tiny_model(make)
    for compiled in (
        train_tiny_model(make, compile_model=True),
        train_tiny_model(make, compile_step=True),
    ):
        assert_parity([p.double() for p in compiled], [p.double() for p in eager], torch.float32)
