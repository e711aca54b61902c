"""What is specific to ``stepsize.torch.Adafactor``: the worked example, its factored state,
its lr options, its hyper-parameter record, the values it rejects because they give NaN or
make parameters grow, and state changed by hand.

The contract every optimizer meets (transformers' numbers on every path and dtype, resume,
GradScaler, ...) is in ``test_optimizer_contract.py``; the fast paths' own cases in
``test_adafactor_fast.py``.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from cases.closeness import assert_close  # noqa: E402
from cases.torch_contract import step_with  # noqa: E402
from cases.torch_optimizers import ADAFACTOR, ADAFACTOR_CONFIGS  # noqa: E402
from stepsize.torch import Adafactor  # noqa: E402
from stepsize.torch._adafactor import AdafactorHyperParams, relative_step_size  # noqa: E402
from stepsize.torch._optimizer_base import FLOAT32_TINY  # noqa: E402

PATHS = ADAFACTOR.paths
SHAPES = ADAFACTOR.shapes
W = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
W_AFTER_ONE_STEP = [[0.975919, 1.963125, 2.955596], [3.958927, 4.960691, 5.962132]]


@pytest.mark.parametrize("path", PATHS)
def test_worked_example(path):
    w = torch.nn.Parameter(torch.tensor(W))
    optimizer = Adafactor([w], **PATHS[path])
    w.grad = w.detach() / 10
    optimizer.step()
    torch.testing.assert_close(w.detach(), torch.tensor(W_AFTER_ONE_STEP), rtol=0, atol=1e-6)


def test_manual_lr_groups_need_relative_step_off():
    p, q = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    with pytest.raises(ValueError, match=re.escape("Cannot combine manual `lr`")):
        Adafactor([{"params": [p]}, {"params": [q], "lr": 1e-3}])
    optimizer = Adafactor([{"params": [p]}, {"params": [q], "lr": 1e-3, "relative_step": False}])
    assert [g["lr"] for g in optimizer.param_groups] == [None, 1e-3]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("lr", [None, 1e-2])
def test_never_writes_the_computed_lr_into_the_group(lr, path, make_params, make_grads):
    params = make_params(SHAPES)
    optimizer = Adafactor(params, lr=lr, relative_step=lr is None, **PATHS[path])
    step_with(optimizer, params, make_grads(params, 3))
    assert optimizer.param_groups[0]["lr"] == lr
    assert "initial_lr" not in optimizer.param_groups[0]


def test_state_is_factored_over_the_last_two_dims():
    m, n = 64, 48
    params = [torch.nn.Parameter(torch.ones(m, n)), torch.nn.Parameter(torch.ones(2, m, n))]
    optimizer = Adafactor(params)
    step_with(optimizer, params, [[torch.ones_like(p) for p in params]])
    assert optimizer.state[params[0]]["exp_avg_sq_row"].shape == (m,)
    assert optimizer.state[params[0]]["exp_avg_sq_col"].shape == (n,)
    assert optimizer.state[params[1]]["exp_avg_sq_row"].shape == (2, m)
    assert optimizer.state[params[1]]["exp_avg_sq_col"].shape == (2, n)
    # O(m + n) floats of state per m x n parameter (plus the 0-d RMS).
    state_numel = sum(
        v.numel() for v in optimizer.state[params[0]].values() if isinstance(v, torch.Tensor)
    )
    assert state_numel == m + n + 1


@pytest.mark.parametrize("path", PATHS)
def test_state_follows_a_parameter_that_changes_dtype(path, make_params, make_grads):
    """model.double() after some steps: the state is converted, as transformers does."""
    config = ADAFACTOR_CONFIGS["relative-scale1-beta10.9-clip1.0-wd0.1"]
    ours, theirs = make_params(SHAPES), make_params(SHAPES)
    our_opt = Adafactor(ours, **config, **PATHS[path])
    their_opt = ADAFACTOR.make_reference(theirs, **config)
    for i, step_grads in enumerate(make_grads(ours, 6)):
        if i == 3:
            for p in (*ours, *theirs):
                p.data = p.data.double()
        step_with(our_opt, ours, [[g.double() if i >= 3 else g for g in step_grads]])
        step_with(their_opt, theirs, [[g.double() if i >= 3 else g for g in step_grads]])
    assert_close(ours, theirs, torch.float32, what="params")
    for p, t in zip(ours, theirs, strict=True):
        assert p.dtype == torch.float64
        for key in ("exp_avg", "exp_avg_sq", "exp_avg_sq_row", "exp_avg_sq_col"):
            if key in their_opt.state[t]:
                assert our_opt.state[p][key].dtype == torch.float64
                assert_close(our_opt.state[p][key], their_opt.state[t][key], torch.float32)


def test_integer_hyperparameters_are_floats(make_params, make_grads):
    options = {"lr": 1, "relative_step": False, "clip_threshold": 1, "decay_rate": -1}
    ints, floats = make_params(SHAPES), make_params(SHAPES)
    grads = make_grads(ints, 3)
    with_ints = step_with(Adafactor(ints, **options, eps=(1, 0), weight_decay=0), ints, grads)
    as_floats = {key: float(value) for key, value in options.items() if key != "relative_step"}
    with_floats = Adafactor(floats, **as_floats, relative_step=False, eps=(1.0, 0.0))
    step_with(with_floats, floats, grads)
    group = with_ints.param_groups[0]
    assert [type(group[key]) for key in ("lr", "clip_threshold", "decay_rate")] == [float] * 3
    assert [type(eps) for eps in group["eps"]] == [float, float]
    for p, q in zip(ints, floats, strict=True):
        assert torch.equal(p, q)


def test_hyperparameter_record():
    group = {**Adafactor([torch.nn.Parameter(torch.ones(1))]).defaults, "warmup_init": True}
    hyper = AdafactorHyperParams.from_group(group)
    assert hyper.lr is None and hyper.beta1 is None and hyper.eps == (1e-30, 1e-3)
    assert hyper.rho(100) == relative_step_size(100, None, True, True) == pytest.approx(1e-4)
    assert hyper.beta2t(32) == pytest.approx(1 - 32**-0.8)
    assert relative_step_size(10**6, None, True, False) == pytest.approx(1e-3)
    assert relative_step_size(5, 0.3, False, False) == 0.3
    with pytest.raises(AttributeError):  # frozen
        hyper.lr = 1.0


# ---- what cannot work, and state that does not fit ---------------------------------------------


@pytest.mark.parametrize("path", PATHS)
def test_smallest_eps_keeps_zero_gradients_finite(path):
    """eps[0] = 1e-44 is subnormal in float32: g² + eps[0] underflows and a zero gradient gives
    0/0 = NaN (transformers accepts it). The least eps[0] accepted, float32's smallest normal,
    and the least clip_threshold give none, also when the second moments stop decaying."""
    with pytest.raises(ValueError, match=r"^eps\[0\] must be a finite number in \[1\.17549"):
        Adafactor([torch.nn.Parameter(torch.ones(2))], eps=(1e-44, 1e-3))
    params = [torch.nn.Parameter(torch.ones(shape)) for shape in SHAPES]
    for options in ({}, {"decay_rate": -1e300}, {"clip_threshold": FLOAT32_TINY, "beta1": 0.9}):
        optimizer = Adafactor(params, eps=(FLOAT32_TINY, 0.0), **options, **PATHS[path])
        for fill in (0.0, 1e-30, 0.0, 1.0, 0.0):
            for p in params:
                p.grad = torch.full(p.shape, fill)
            optimizer.step()
            assert all(torch.isfinite(p).all() for p in params), (options, fill)


@pytest.mark.parametrize(
    ("options", "least_lr"),
    [
        ({}, 1e-2 * 1e-3),  # ρ·eps[1]
        ({"scale_parameter": False}, 1e-2),  # ρ
        ({"lr": 0.5, "relative_step": False, "scale_parameter": False}, 0.5),
    ],
)
def test_weight_decay_that_makes_every_parameter_grow_is_rejected(options, least_lr):
    """The decay multiplies the parameters by 1 − weight_decay·lr_eff, lr_eff >= least_lr."""
    bound = 2.0 / least_lr
    with pytest.raises(ValueError, match=rf"^weight_decay must be <= {bound!r} here"):
        Adafactor([torch.nn.Parameter(torch.ones(2))], **options, weight_decay=bound * 1.01)
    Adafactor([torch.nn.Parameter(torch.ones(2))], **options, weight_decay=bound)


@pytest.mark.parametrize("path", PATHS)
def test_state_changed_by_hand_to_another_shape_is_rejected(path, make_params, make_grads):
    params = make_params(SHAPES)
    optimizer = step_with(
        Adafactor(params, beta1=0.9, **PATHS[path]), params, make_grads(params, 1)
    )
    for key in ("exp_avg", "exp_avg_sq_row", "exp_avg_sq_col"):
        state = optimizer.state[params[2]]  # (5, 7)
        saved, state[key] = state[key], torch.zeros(4)
        with pytest.raises(ValueError, match=rf"^{key} has shape \(4,\), the parameter \(5, 7\)"):
            optimizer.step()
        state[key] = saved


def test_numpy_arguments_are_plain_numbers(make_params, make_grads):
    """NumPy scalars work as hyper-parameters (stored as Python numbers) and at step();
    block_numel too."""
    options = {"lr": 1e-2, "relative_step": False, "eps": (1e-30, 1e-3), "beta1": 0.5}
    as_numpy = {
        "lr": np.float64(1e-2),
        "relative_step": np.bool_(False),
        "eps": (np.float64(1e-30), np.float64(1e-3)),
        "beta1": np.float16(0.5),
    }
    plain, numpy_params = make_params(SHAPES), make_params(SHAPES)
    grads = make_grads(plain, 3)
    step_with(Adafactor(plain, **options, block_numel=24), plain, grads)
    numpy_run = Adafactor(numpy_params, **as_numpy, block_numel=np.int64(24))
    step_with(numpy_run, numpy_params, grads)
    group = numpy_run.param_groups[0]
    assert [type(group[key]) for key in ("lr", "beta1", "relative_step")] == [float, float, bool]
    assert [type(eps) for eps in group["eps"]] == [float, float]
    assert type(numpy_run._block_numel) is int and numpy_run._block_numel == 24
    for p, q in zip(plain, numpy_params, strict=True):
        assert torch.equal(p, q)
