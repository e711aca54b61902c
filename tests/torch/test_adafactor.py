"""``Adafactor`` against transformers 4.46.3 and SPEC 3.3's known values; its torch contract."""

from __future__ import annotations

import io
import re

import pytest

torch = pytest.importorskip("torch")

from cases.torch_optimizers import (  # noqa: E402
    ADAFACTOR_CONFIGS,
    ADAFACTOR_ERROR_INPUTS,
    ADAFACTOR_PATHS,
    ADAFACTOR_SHAPES,
    adafactor_second_group,
    train_tiny_model,
)
from stepsize.torch import Adafactor  # noqa: E402

STEPS = 30
W = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
W_AFTER_ONE_STEP = [[0.975919, 1.963125, 2.955596], [3.958927, 4.960691, 5.962132]]
STATE_KEYS = ("exp_avg", "exp_avg_sq", "exp_avg_sq_row", "exp_avg_sq_col")


def _hf():
    return pytest.importorskip("transformers.optimization")


def _params(dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [
        torch.nn.Parameter(torch.randn(shape, generator=g, dtype=torch.float64).to(dtype))
        for shape in ADAFACTOR_SHAPES
    ]


def _grads(params, steps, seed=1):
    """``steps`` lists of gradients (float64 values, cast to each parameter's dtype)."""
    g = torch.Generator().manual_seed(seed)
    return [
        [torch.randn(p.shape, generator=g, dtype=torch.float64).to(p.dtype) for p in params]
        for _ in range(steps)
    ]


def _groups(params, config):
    """Two param groups: the first three tensors with ``config``, the rest overriding it."""
    return [
        {"params": params[:3]},
        {"params": params[3:], **adafactor_second_group(config)},
    ]


def _run(cls, config, dtype, steps=STEPS, **switches):
    params = _params(dtype)
    optimizer = cls(_groups(params, config), **config, **switches)
    for grads in _grads(params, steps):
        for p, grad in zip(params, grads, strict=True):
            p.grad = grad
        optimizer.step()
    return params, optimizer


def _state(optimizer, params):
    return [{k: v for k, v in optimizer.state[p].items() if k in STATE_KEYS} for p in params]


def _assert_close(ours, ref, dtype):
    """SPEC 5.1: float64 <= 1e-10 relative; float32 |x - y| <= 1e-6 + 1e-5*|y|."""
    rtol, atol = (1e-10, 1e-14) if dtype == torch.float64 else (1e-5, 1e-6)
    torch.testing.assert_close(ours, ref, rtol=rtol, atol=atol)


@pytest.mark.parametrize("path", ADAFACTOR_PATHS)
def test_worked_example(path):
    w = torch.nn.Parameter(torch.tensor(W))
    optimizer = Adafactor([w], **ADAFACTOR_PATHS[path])
    w.grad = w.detach() / 10
    optimizer.step()
    torch.testing.assert_close(w.detach(), torch.tensor(W_AFTER_ONE_STEP), rtol=0, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("path", ["loop", "auto"])
@pytest.mark.parametrize("name", ADAFACTOR_CONFIGS)
def test_equals_transformers(name, path, dtype):
    config = ADAFACTOR_CONFIGS[name]
    ours, ours_opt = _run(Adafactor, config, dtype, **ADAFACTOR_PATHS[path])
    ref, ref_opt = _run(_hf().Adafactor, config, dtype)
    for p, r in zip(ours, ref, strict=True):
        _assert_close(p.detach(), r.detach(), dtype)
    ours_state, ref_state = _state(ours_opt, ours), _state(ref_opt, ref)
    for mine, theirs in zip(ours_state, ref_state, strict=True):
        assert mine.keys() == theirs.keys()
        for key in mine:
            assert mine[key].dtype == dtype
            _assert_close(mine[key], theirs[key], dtype)
    for p, r in zip(ours, ref, strict=True):
        assert ours_opt.state[p]["step"] == ref_opt.state[r]["step"] == STEPS
        _assert_close(ours_opt.state[p]["RMS"], ref_opt.state[r]["RMS"].to(dtype), dtype)


@pytest.mark.parametrize("low", [torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("path", ADAFACTOR_PATHS)
@pytest.mark.parametrize(
    "name", ["relative-scale1-beta1None-clip1.0-wd0.0", "manual-scale1-beta10.9-clip0.5-wd0.1"]
)
def test_low_precision_no_further_from_float32_than_transformers(name, path, low):
    config = ADAFACTOR_CONFIGS[name]
    hf = _hf()
    ours, ours_opt = _run(Adafactor, config, low, **ADAFACTOR_PATHS[path])
    theirs, _ = _run(hf.Adafactor, config, low)
    # The float32 reference starts from the same (rounded) values and gradients.
    ref = [p.detach().float() for p in _params(low)]
    ref = [torch.nn.Parameter(p) for p in ref]
    ref_opt = hf.Adafactor(_groups(ref, config), **config)
    for grads in _grads(_params(low), STEPS):
        for p, grad in zip(ref, grads, strict=True):
            p.grad = grad.float()
        ref_opt.step()
    for p, t, r in zip(ours, theirs, ref, strict=True):
        assert p.dtype == low
        ours_err = (p.detach().float() - r.detach()).abs().mean()
        theirs_err = (t.detach().float() - r.detach()).abs().mean()
        assert ours_err <= theirs_err * 1.05 + 1e-7
        for value in ours_opt.state[p].values():
            if isinstance(value, torch.Tensor):
                assert value.dtype == torch.float32


@pytest.mark.parametrize("kwargs, error, pattern", ADAFACTOR_ERROR_INPUTS)
def test_invalid_arguments(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        Adafactor([torch.nn.Parameter(torch.ones(2))], **kwargs)


@pytest.mark.parametrize("kwargs, error, pattern", ADAFACTOR_ERROR_INPUTS)
def test_invalid_group_arguments(kwargs, error, pattern):
    optimizer = Adafactor([torch.nn.Parameter(torch.ones(2))])
    # A group with its own lr must also turn relative_step off, as the defaults would.
    group = {"params": [torch.nn.Parameter(torch.ones(3))], **kwargs}
    with pytest.raises(error, match=pattern):
        optimizer.add_param_group(group)
    assert len(optimizer.param_groups) == 1


def test_manual_lr_groups_need_relative_step_off():
    p, q = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    with pytest.raises(ValueError, match=re.escape("Cannot combine manual `lr`")):
        Adafactor([{"params": [p]}, {"params": [q], "lr": 1e-3}])
    optimizer = Adafactor([{"params": [p]}, {"params": [q], "lr": 1e-3, "relative_step": False}])
    assert [g["lr"] for g in optimizer.param_groups] == [None, 1e-3]


@pytest.mark.parametrize("path", ADAFACTOR_PATHS)
def test_sparse_gradients_are_rejected(path):
    p = torch.nn.Parameter(torch.ones(4, 3))
    optimizer = Adafactor([p], **ADAFACTOR_PATHS[path])
    p.grad = torch.ones(4, 3).to_sparse()
    with pytest.raises(RuntimeError, match="Adafactor does not support sparse gradients"):
        optimizer.step()


@pytest.mark.parametrize("path", ADAFACTOR_PATHS)
@pytest.mark.parametrize("lr", [None, 1e-2])
def test_never_writes_the_computed_lr_into_the_group(lr, path):
    params = _params(torch.float32)
    config = {"lr": lr, "relative_step": lr is None}
    optimizer = Adafactor(params, **config, **ADAFACTOR_PATHS[path])
    for grads in _grads(params, 3):
        for p, grad in zip(params, grads, strict=True):
            p.grad = grad
        optimizer.step()
    assert optimizer.param_groups[0]["lr"] == lr
    assert "initial_lr" not in optimizer.param_groups[0]


def test_state_is_factored_over_the_last_two_dims():
    m, n = 64, 48
    params = [torch.nn.Parameter(torch.ones(m, n)), torch.nn.Parameter(torch.ones(2, m, n))]
    optimizer = Adafactor(params)
    for p in params:
        p.grad = torch.ones_like(p)
    optimizer.step()
    assert optimizer.state[params[0]]["exp_avg_sq_row"].shape == (m,)
    assert optimizer.state[params[0]]["exp_avg_sq_col"].shape == (n,)
    assert optimizer.state[params[1]]["exp_avg_sq_row"].shape == (2, m)
    assert optimizer.state[params[1]]["exp_avg_sq_col"].shape == (2, n)
    # O(m + n) floats of state per m x n parameter (plus the 0-d RMS).
    state_numel = sum(
        v.numel() for v in optimizer.state[params[0]].values() if isinstance(v, torch.Tensor)
    )
    assert state_numel == m + n + 1


def test_parameters_without_gradients_are_skipped():
    p, q = torch.nn.Parameter(torch.ones(3, 2)), torch.nn.Parameter(torch.ones(3, 2))
    optimizer = Adafactor([p, q])
    p.grad = torch.ones(3, 2)
    optimizer.step()
    assert torch.equal(q.detach(), torch.ones(3, 2))
    assert q not in optimizer.state
    assert optimizer.state[p]["step"] == 1


def test_closure_and_zero_grad():
    w = torch.nn.Parameter(torch.tensor(W))

    def closure():
        optimizer.zero_grad()
        loss = (w**2).sum() / 20  # gradient w/10, as in the worked example
        loss.backward()
        return loss

    optimizer = Adafactor([w])
    loss = optimizer.step(closure)
    assert loss.item() == pytest.approx(91 / 20)
    torch.testing.assert_close(w.detach(), torch.tensor(W_AFTER_ONE_STEP), rtol=0, atol=1e-6)
    optimizer.zero_grad()
    assert w.grad is None


def _save_load(optimizer, params):
    buffer = io.BytesIO()
    torch.save(
        {"optimizer": optimizer.state_dict(), "params": [p.detach() for p in params]}, buffer
    )
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("path", ADAFACTOR_PATHS)
def test_resume_is_bit_identical(path, dtype):
    config = ADAFACTOR_CONFIGS["relative-scale1-beta10.9-clip1.0-wd0.1"]
    switches = ADAFACTOR_PATHS[path]
    all_grads = _grads(_params(dtype), 20)

    def steps(optimizer, params, grads):
        for step_grads in grads:
            for p, grad in zip(params, step_grads, strict=True):
                p.grad = grad
            optimizer.step()

    params = _params(dtype)
    optimizer = Adafactor(_groups(params, config), **config, **switches)
    steps(optimizer, params, all_grads)

    first = _params(dtype)
    first_opt = Adafactor(_groups(first, config), **config, **switches)
    steps(first_opt, first, all_grads[:10])
    saved = _save_load(first_opt, first)
    resumed = [torch.nn.Parameter(p.clone()) for p in saved["params"]]
    resumed_opt = Adafactor(_groups(resumed, config), **config, **switches)
    resumed_opt.load_state_dict(saved["optimizer"])
    steps(resumed_opt, resumed, all_grads[10:])

    for p, r in zip(params, resumed, strict=True):
        assert torch.equal(p.detach(), r.detach())
        for key, value in optimizer.state[p].items():
            other = resumed_opt.state[r][key]
            if isinstance(value, torch.Tensor):
                assert other.dtype == value.dtype
                assert torch.equal(value, other), key
            else:
                assert value == other


def test_loads_transformers_state_and_continues_like_it():
    hf = _hf()
    config = ADAFACTOR_CONFIGS["relative-scale1-beta10.9-clip1.0-wd0.0"]
    all_grads = _grads(_params(torch.float64), 8)
    theirs = _params(torch.float64)
    their_opt = hf.Adafactor(theirs, **config)
    ours = _params(torch.float64)
    for i, step_grads in enumerate(all_grads):
        for p, grad in zip(theirs, step_grads, strict=True):
            p.grad = grad
        their_opt.step()
        if i == 3:
            with torch.no_grad():
                for p, t in zip(ours, theirs, strict=True):
                    p.copy_(t)
            our_opt = Adafactor(ours, **config)
            our_opt.load_state_dict(_save_load(their_opt, theirs)["optimizer"])
        elif i > 3:
            for p, grad in zip(ours, step_grads, strict=True):
                p.grad = grad
            our_opt.step()
    for p, t in zip(ours, theirs, strict=True):
        _assert_close(p.detach(), t.detach(), torch.float64)


@pytest.mark.parametrize("path", ADAFACTOR_PATHS)
def test_grad_scaler_skips_inf_steps_and_unscales(path):
    torch.manual_seed(0)
    model = torch.nn.Linear(6, 4)
    reference = torch.nn.Linear(6, 4)
    reference.load_state_dict(model.state_dict())
    optimizer = Adafactor(model.parameters(), **ADAFACTOR_PATHS[path])
    ref_opt = Adafactor(reference.parameters(), **ADAFACTOR_PATHS[path])
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    x = torch.randn(8, 6)
    for step in range(4):
        with torch.autocast("cpu", dtype=torch.float16):
            loss = model(x).float().pow(2).mean()
        optimizer.zero_grad()
        scaler.scale(loss).backward()
        if step == 2:
            model.weight.grad[0, 0] = float("inf")
            before = [p.detach().clone() for p in model.parameters()]
            state_before = {
                k: v.clone() for k, v in optimizer.state[model.weight].items() if k in STATE_KEYS
            }
        scale = scaler.get_scale()
        scaler.step(optimizer)
        scaler.update()
        if step == 2:
            assert scaler.get_scale() < scale
            for p, b in zip(model.parameters(), before, strict=True):
                assert torch.equal(p.detach(), b)
            assert optimizer.state[model.weight]["step"] == 2
            for key, value in state_before.items():
                assert torch.equal(optimizer.state[model.weight][key], value)
            continue
        # The unscaled gradients equal the reference run's (the scale is a power of 2).
        with torch.autocast("cpu", dtype=torch.float16):
            ref_loss = reference(x).float().pow(2).mean()
        ref_opt.zero_grad()
        ref_loss.backward()
        ref_opt.step()
        for p, r in zip(model.parameters(), reference.parameters(), strict=True):
            torch.testing.assert_close(p.detach(), r.detach(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("path", ADAFACTOR_PATHS)
def test_state_follows_a_parameter_that_changes_dtype(path):
    """model.double() after some steps: the state is converted, as transformers does."""
    config = ADAFACTOR_CONFIGS["relative-scale1-beta10.9-clip1.0-wd0.1"]
    ours, theirs = _params(torch.float32), _params(torch.float32)
    our_opt = Adafactor(ours, **config, **ADAFACTOR_PATHS[path])
    their_opt = _hf().Adafactor(theirs, **config)
    all_grads = _grads(ours, 6)
    for i, step_grads in enumerate(all_grads):
        if i == 3:
            for p in (*ours, *theirs):
                p.data = p.data.double()
        for p, t, grad in zip(ours, theirs, step_grads, strict=True):
            p.grad, t.grad = grad.to(p.dtype), grad.to(t.dtype)
        our_opt.step()
        their_opt.step()
    for p, t in zip(ours, theirs, strict=True):
        assert p.dtype == torch.float64
        _assert_close(p.detach(), t.detach(), torch.float32)
        for key in STATE_KEYS:
            if key in their_opt.state[t]:
                assert our_opt.state[p][key].dtype == torch.float64
                _assert_close(our_opt.state[p][key], their_opt.state[t][key], torch.float32)


def test_compiled_training_step_matches_eager():
    def make(params):
        return Adafactor(params, weight_decay=0.01)

    eager = train_tiny_model(make)
    for compiled in (
        train_tiny_model(make, compile_model=True),
        train_tiny_model(make, compile_step=True),
    ):
        _assert_close(compiled, eager, torch.float32)
