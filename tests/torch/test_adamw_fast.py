"""AdamW's fast paths called directly: the fused kernel's transformed hyper-parameters."""

import math

import pytest

torch = pytest.importorskip("torch")
hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies

from cases.closeness import assert_close, assert_within_ulps  # noqa: E402
from stepsize.torch._adamw import AdamWHyperParams, AdamWTensors, adamw_loop  # noqa: E402
from stepsize.torch._adamw_fast import (  # noqa: E402
    adamw_foreach,
    adamw_fused,
    advance,
    fusable,
    fused_hyperparameters,
)


def _signed(magnitudes):
    return st.tuples(st.sampled_from([-1.0, 1.0]), magnitudes).map(lambda x: x[0] * x[1])


def transformers_update(p, m, v, *, lr, beta1, beta2, eps, weight_decay, correct_bias, t):
    """transformers' update of one scalar, given the moments after this step's update."""
    size = lr * math.sqrt(1 - beta2**t) / (1 - beta1**t) if correct_bias else lr
    p = p - size * m / (math.sqrt(v) + eps)
    return p - lr * weight_decay * p


def kernel_update(p, m, v, *, lr, beta1, beta2, eps, weight_decay, t, post):
    """torch's fused AdamW update of one scalar (in float64), given the updated moments."""
    bc1, bc2 = 1 - beta1**t, 1 - beta2**t
    p = p * (1 - lr * weight_decay)
    p = p - (lr / bc1) * m / (math.sqrt(v) / math.sqrt(bc2) + eps)
    return p if post is None else p * post


# The bound below is relative: values and their products stay in float64's normal range (a
# subnormal result keeps fewer significant bits, e.g. m = 2.2e-311 gives a 1e-4 relative error).
@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(
    lr=st.one_of(st.just(0.0), st.floats(1e-8, 2.0)),
    beta1=st.floats(0.0, 0.999),
    beta2=st.floats(0.0, 0.9999),
    eps=st.one_of(st.just(0.0), st.floats(1e-12, 1e-2)),
    weight_decay=st.sampled_from([0.0, 1e-4, 0.01, 0.3, 0.5, 0.9, 1.0, 3.0]),
    correct_bias=st.booleans(),
    t=st.integers(1, 10_000),
    p=st.one_of(st.just(0.0), _signed(st.floats(1e-100, 10.0))),
    m=st.one_of(st.just(0.0), _signed(st.floats(1e-100, 1.0))),
    v=st.floats(1e-6, 1.0),
)
def test_transformed_hyperparameters_give_transformers_update(
    lr, beta1, beta2, eps, weight_decay, correct_bias, t, p, m, v
):
    hyper = {"lr": lr, "beta1": beta1, "beta2": beta2, "eps": eps, "weight_decay": weight_decay}
    record = AdamWHyperParams(**hyper, correct_bias=correct_bias)
    kernel_lr, kernel_wd, kernel_eps, post = fused_hyperparameters(record, float(t))
    expected = transformers_update(p, m, v, **hyper, correct_bias=correct_bias, t=t)
    got = kernel_update(
        p,
        m,
        v,
        lr=kernel_lr,
        beta1=beta1,
        beta2=beta2,
        eps=kernel_eps,
        weight_decay=kernel_wd,
        t=t,
        post=post,
    )
    update = record.step_size(t) * abs(m) / (math.sqrt(v) + eps)
    assert abs(got - expected) <= 1e-13 * (abs(p) + update) * (1 + lr * weight_decay)
    assert (post is None) == (lr * weight_decay <= 0.5)


def test_step_size_and_advance():
    hyper = {"lr": 0.1, "beta1": 0.9, "beta2": 0.999, "eps": 1e-6, "weight_decay": 0.0}
    corrected = AdamWHyperParams(**hyper, correct_bias=True)
    assert corrected.step_size(1.0) == pytest.approx(0.1 * math.sqrt(0.001) / 0.1)
    assert AdamWHyperParams(**hyper, correct_bias=False).step_size(7.0) == 0.1
    steps = [torch.tensor(0.0), torch.tensor(4.0)]
    assert advance(steps) == [1.0, 5.0]
    assert [s.item() for s in steps] == [1.0, 5.0]
    assert advance([]) == []


class _Subclass(torch.Tensor):
    pass


def _quad(shape=(4, 3), dtype=torch.float32):
    p = torch.zeros(shape, dtype=dtype)
    return p, torch.zeros_like(p), torch.zeros_like(p), torch.zeros_like(p)


@pytest.mark.parametrize(
    ("change", "explicit", "expected"),
    [
        (lambda q: q, False, True),
        (lambda q: (q[0].to(torch.bfloat16), *(x.to(torch.bfloat16) for x in q[1:])), False, True),
        (lambda q: (q[0], q[1].t().contiguous().t(), q[2], q[3]), False, False),
        (lambda q: (q[0].t(), q[1].t(), q[2].t(), q[3].t()), False, False),
        (lambda q: (q[0], q[1].double(), q[2], q[3]), False, False),
        (lambda q: (q[0], q[1], q[2].half(), q[3]), False, False),
        (lambda q: (q[0].to(torch.complex64), *q[1:]), True, False),
        (lambda q: (q[0].to("meta"), *(x.to("meta") for x in q[1:])), True, False),
        (lambda q: (q[0].as_subclass(_Subclass), *q[1:]), True, False),
    ],
)
def test_fusable(change, explicit, expected):
    assert fusable(*change(_quad()), explicit) is expected


def _tensors(dtypes, seed=0):
    generator = torch.Generator().manual_seed(seed)
    shapes = [(5,), (3, 4), (2, 3, 4), (6,)]
    params = [
        torch.randn(s, generator=generator).to(d) for s, d in zip(shapes, dtypes, strict=True)
    ]
    states = [torch.rand(p.shape, generator=generator).to(p.dtype) for p in params for _ in "mv"]
    steps = [torch.tensor(float(n)) for n in (0, 3, 0, 7)]  # uneven step counts
    empty = [None] * len(params)
    return AdamWTensors(params, [], states[0::2], states[1::2], steps, empty, list(range(4)))


def _grads(params, step):
    generator = torch.Generator().manual_seed(100 + step)
    return [torch.randn(p.shape, generator=generator).to(p.dtype) for p in params]


@pytest.mark.parametrize("run", [adamw_fused, adamw_foreach])
@pytest.mark.parametrize("correct_bias", [True, False])
@pytest.mark.parametrize("scaled", [False, True])
def test_paths_match_the_loop_on_mixed_lists(run, correct_bias, scaled):
    dtypes = [torch.float64, torch.float32, torch.float64, torch.float32]
    hyper = AdamWHyperParams(1e-2, 0.9, 0.99, 1e-8, 0.1, correct_bias)
    fast, ref = _tensors(dtypes), _tensors(dtypes)
    scale = torch.tensor(1024.0) if scaled else None
    for step in range(10):
        grads = _grads(fast.params, step)
        for tensors, fn in ((fast, run), (ref, adamw_loop)):
            given = [g * 1024 for g in grads] if scaled else [g.clone() for g in grads]
            fn(tensors._replace(grads=given), hyper, grad_scale=scale)
            if scaled:  # gradients are left unscaled, as GradScaler.unscale_ leaves them
                assert all(torch.equal(a, b) for a, b in zip(given, grads, strict=True))
    for xs, ys in zip(_values(fast), _values(ref), strict=True):
        for x, y in zip(xs, ys, strict=True):
            assert_close(x, y, x.dtype)
    assert [s.item() for s in fast.steps] == [10.0, 13.0, 10.0, 17.0]


def _values(tensors):
    return tensors.params, tensors.exp_avgs, tensors.exp_avg_sqs


@pytest.mark.parametrize("run", [adamw_fused, adamw_foreach])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_paths_match_the_loop(run, dtype):
    """All paths compute in float32 and round once per stored value: at most 1 ulp apart."""
    hyper = AdamWHyperParams(1e-2, 0.9, 0.999, 1e-6, 0.1, True, kahan_sum=False)
    fast, ref = _tensors([dtype] * 4), _tensors([dtype] * 4)
    for step in range(5):
        grads = _grads(fast.params, step)
        run(fast._replace(grads=[g.clone() for g in grads]), hyper)
        adamw_loop(ref._replace(grads=[g.clone() for g in grads]), hyper)
        for xs, ys in zip(_values(fast), _values(ref), strict=True):
            for x, y in zip(xs, ys, strict=True):
                assert x.dtype == dtype
                assert_within_ulps(x, y, dtype)
                x.copy_(y)  # continue from equal values
