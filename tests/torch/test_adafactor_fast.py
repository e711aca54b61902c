"""Adafactor's fast paths (blocked and whole-tensor) against its reference loop."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import stepsize.torch._adafactor as adafactor_module  # noqa: E402
from cases.torch_optimizers import (  # noqa: E402
    ADAFACTOR_CONFIGS,
    ADAFACTOR_PATHS,
    ADAFACTOR_SHAPES,
    adafactor_second_group,
)
from stepsize.torch import Adafactor  # noqa: E402

STEPS = 30
FAST_PATHS = ["foreach", "fused"]  # "auto" is "fused" on the CPU (test_auto_path_on_cpu)
LOOP = ADAFACTOR_PATHS["loop"]


def _params(shapes, dtype, seed=0, make=None):
    g = torch.Generator().manual_seed(seed)
    values = [torch.randn(s, generator=g, dtype=torch.float64).to(dtype) for s in shapes]
    return [torch.nn.Parameter(make(v) if make else v) for v in values]


def _run(params, config, switches, steps=STEPS, grad_of=None, skip=None):
    """Step ``params`` with seeded gradients; ``skip(t, i)`` leaves gradient i out at step t."""
    groups = [{"params": params[:2]}]
    if len(params) > 2:
        groups.append({"params": params[2:], **adafactor_second_group(config)})
    optimizer = Adafactor(groups, **config, **switches)
    g = torch.Generator().manual_seed(1)
    for t in range(steps):
        for i, p in enumerate(params):
            grad = torch.randn(p.shape, generator=g, dtype=torch.float64).to(p.dtype)
            p.grad = None if skip and skip(t, i) else (grad_of(grad) if grad_of else grad)
        optimizer.step()
    return optimizer


def _assert_same(fast_params, fast_opt, loop_params, loop_opt):
    """SPEC 5.1 per dtype, for parameters and every state tensor."""
    for p, q in zip(fast_params, loop_params, strict=True):
        dtype = torch.float64 if q.dtype == torch.float64 else torch.float32
        rtol, atol = (1e-10, 1e-14) if dtype == torch.float64 else (1e-5, 1e-6)
        if q.dtype in (torch.float16, torch.bfloat16):
            # Both round nearly the same float32 result: equal, or 1 unit apart at most.
            rtol, atol = 0.0, torch.finfo(q.dtype).eps * q.detach().float().abs().max().item()
        torch.testing.assert_close(p.detach(), q.detach(), rtol=rtol, atol=atol)
        assert fast_opt.state[p].keys() == loop_opt.state[q].keys()
        for key, value in loop_opt.state[q].items():
            mine = fast_opt.state[p][key]
            if isinstance(value, torch.Tensor):
                assert mine.dtype == value.dtype and mine.shape == value.shape, key
                rtol, atol = (1e-10, 1e-14) if value.dtype == torch.float64 else (1e-5, 1e-6)
                torch.testing.assert_close(mine, value, rtol=rtol, atol=atol)
            else:
                assert mine == value, key


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 24 elements: the (5, 7) test parameter splits into rows 3 + 3 + 1, the 3-D
    and 4-D ones into whole matrices."""
    monkeypatch.setattr(adafactor_module, "CPU_BLOCK_NUMEL", 24)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("path", FAST_PATHS)
@pytest.mark.parametrize("name", ADAFACTOR_CONFIGS)
def test_fast_paths_equal_loop(name, path, dtype, small_blocks):
    config = ADAFACTOR_CONFIGS[name]
    fast = _params(ADAFACTOR_SHAPES, dtype)
    loop = _params(ADAFACTOR_SHAPES, dtype)
    fast_opt = _run(fast, config, ADAFACTOR_PATHS[path])
    loop_opt = _run(loop, config, LOOP)
    _assert_same(fast, fast_opt, loop, loop_opt)


# (shape, elements per block): row blocks with a short last one, a row per block (n > block),
# several whole matrices per block with a short last one, row blocks of batched matrices,
# one block for everything, and a 1 x 1 matrix; blocks whose rows split into 2 or 4 chunks.
GEOMETRIES = [
    ((37, 11), 64),
    ((38, 11), 88),
    ((2, 16, 5), 40),
    ((4, 50), 16),
    ((5, 7, 3), 50),
    ((3, 2, 13, 6), 40),
    ((9, 4), 1 << 18),
    ((1, 1), 16),
    ((2, 1, 7), 5),
]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize(
    "config", ["relative-scale1-beta1None-clip1.0-wd0.0", "manual-scale1-beta10.9-clip0.5-wd0.1"]
)
@pytest.mark.parametrize("shape, block", GEOMETRIES, ids=str)
def test_blocks_that_do_not_divide_evenly(shape, block, config, dtype, monkeypatch):
    monkeypatch.setattr(adafactor_module, "CPU_BLOCK_NUMEL", block)
    config = ADAFACTOR_CONFIGS[config]
    fast, loop = _params([shape], dtype), _params([shape], dtype)
    fast_opt = _run(fast, config, ADAFACTOR_PATHS["fused"])
    loop_opt = _run(loop, config, LOOP)
    _assert_same(fast, fast_opt, loop, loop_opt)


def _column_major(v):
    return v.t().contiguous().t() if v.dim() == 2 else v


def _channels_last(v):
    return v.contiguous(memory_format=torch.channels_last) if v.dim() == 4 else v


def _every_other(v):
    if v.dim() == 0:
        return v
    wide = torch.zeros(*v.shape[:-1], 2 * v.shape[-1], dtype=v.dtype)
    return wide[..., ::2].copy_(v)


# Same shape and values, other memory layouts.
LAYOUTS = {"column_major": _column_major, "channels_last": _channels_last, "strided": _every_other}


@pytest.mark.parametrize("path", FAST_PATHS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_non_contiguous_parameters_and_gradients(layout, path, small_blocks):
    config = ADAFACTOR_CONFIGS["relative-scale1-beta10.9-clip1.0-wd0.1"]
    make = LAYOUTS[layout]
    shapes = [*ADAFACTOR_SHAPES, (6, 5)]
    fast = _params(shapes, torch.float32, make=make)
    loop = _params(shapes, torch.float32, make=make)
    assert not all(p.is_contiguous() for p in fast)
    fast_opt = _run(fast, config, ADAFACTOR_PATHS[path], grad_of=make)
    loop_opt = _run(loop, config, LOOP, grad_of=make)
    _assert_same(fast, fast_opt, loop, loop_opt)
    assert not all(p.is_contiguous() for p in fast)  # updated in place, layout kept


@pytest.mark.parametrize("path", FAST_PATHS)
def test_parameters_with_different_step_counts(path, small_blocks):
    config = ADAFACTOR_CONFIGS["warmup-scale1-beta1None-clip1.0-wd0.1"]
    fast = _params(ADAFACTOR_SHAPES, torch.float64)
    loop = _params(ADAFACTOR_SHAPES, torch.float64)

    def skip(t, i):
        return t % (i + 2) == 1  # parameter i misses every (i + 2)-th step

    fast_opt = _run(fast, config, ADAFACTOR_PATHS[path], skip=skip)
    loop_opt = _run(loop, config, LOOP, skip=skip)
    assert len({fast_opt.state[p]["step"] for p in fast}) > 1
    _assert_same(fast, fast_opt, loop, loop_opt)


@pytest.mark.parametrize("path", FAST_PATHS)
def test_mixed_dtypes_in_one_group(path, small_blocks):
    config = ADAFACTOR_CONFIGS["manual-scale1-beta10.9-clip1.0-wd0.1"]
    dtypes = [torch.float64, torch.float32, torch.bfloat16, torch.float16, torch.float32]
    shapes = [(5,), (5, 7), (3, 4, 6), (2, 3, 5, 4), (8,)]

    def make_all():
        pairs = enumerate(zip(shapes, dtypes, strict=True))
        return [_params([shape], dtype, seed=i)[0] for i, (shape, dtype) in pairs]

    fast, loop = make_all(), make_all()
    fast_opt = _run(fast, config, ADAFACTOR_PATHS[path])
    loop_opt = _run(loop, config, LOOP)
    _assert_same(fast, fast_opt, loop, loop_opt)


@pytest.mark.parametrize("path", FAST_PATHS)
def test_empty_parameters(path):
    params = _params([(0,), (0, 3), (4, 3)], torch.float32)
    loop = _params([(0,), (0, 3), (4, 3)], torch.float32)
    fast_opt = _run(params, {}, ADAFACTOR_PATHS[path], steps=3)
    loop_opt = _run(loop, {}, LOOP, steps=3)
    torch.testing.assert_close(params[2].detach(), loop[2].detach())
    assert [fast_opt.state[p]["step"] for p in params] == [3, 3, 3]
    assert loop_opt.state[loop[0]]["step"] == 3


def test_blocked_path_reuses_its_scratch_memory(small_blocks):
    params = _params(ADAFACTOR_SHAPES, torch.float32)
    optimizer = _run(params, {}, ADAFACTOR_PATHS["fused"], steps=2)
    buffers = dict(optimizer._workspace._buffers)
    assert buffers  # the blocked path ran
    for p in params:
        p.grad = torch.ones_like(p)
    optimizer.step()
    assert all(optimizer._workspace._buffers[k] is v for k, v in buffers.items())


@pytest.mark.parametrize("path, blocked", [("auto", True), ("fused", True), ("foreach", False)])
def test_auto_path_on_cpu_is_the_blocked_one(path, blocked, small_blocks):
    params = _params(ADAFACTOR_SHAPES, torch.float32)
    optimizer = _run(params, {}, ADAFACTOR_PATHS[path], steps=1)
    scratch = max(b.numel() for b in optimizer._workspace._buffers.values())
    largest = max(p.numel() for p in params)
    # Blocks of at most 24 elements, or the largest parameter at once.
    assert scratch <= 24 if blocked else scratch == largest


@pytest.mark.parametrize("path", ADAFACTOR_PATHS)
def test_rms_of_large_parameters_is_accurate(path):
    """RMS(p) and the update of a 3M-element float32 matrix, against a float64 computation.

    (``torch.linalg.vector_norm``, which transformers uses, accumulates float32 and is off
    by ~1e-4 relative at this size.)
    """
    g = torch.Generator().manual_seed(0)
    start = torch.randn(3000, 1000, generator=g, dtype=torch.float64)
    grad = torch.randn(3000, 1000, generator=g, dtype=torch.float64)
    p = torch.nn.Parameter(start.float())
    optimizer = Adafactor([p], **ADAFACTOR_PATHS[path])
    p.grad = grad.float()
    optimizer.step()
    truth = torch.nn.Parameter(start.clone())
    truth_opt = Adafactor([truth], foreach=False)
    truth.grad = grad.clone()
    truth_opt.step()
    rms = optimizer.state[p]["RMS"].double()
    assert rms == pytest.approx(truth_opt.state[truth]["RMS"].item(), rel=2e-6)
    torch.testing.assert_close(p.detach().double(), truth.detach(), rtol=1e-5, atol=1e-6)
