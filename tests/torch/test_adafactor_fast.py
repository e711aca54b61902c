"""Adafactor's fast paths (blocked and whole-tensor) against its reference loop: block plans,
the blocked passes, mixed dtypes, scratch memory and accuracy on large tensors.

Every path against transformers and the loop, for every configuration, is in
``test_optimizer_contract.py`` (with blocks of ``ADAFACTOR.test_options["block_numel"]``).
"""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")

from cases.closeness import (  # noqa: E402
    assert_close,
    assert_compensated_close,
    assert_within_ulps,
)
from cases.torch_contract import step_with  # noqa: E402
from cases.torch_optimizers import ADAFACTOR, ADAFACTOR_CONFIGS  # noqa: E402
from stepsize.torch import Adafactor  # noqa: E402
from stepsize.torch._adafactor_blocks import (  # noqa: E402
    CPU_BLOCK_NUMEL,
    BlockPlan,
    FactoredBlocks,
    Workspace,
)
from stepsize.torch._lowp import KAHAN_KEY  # noqa: E402

STEPS = 30
FAST_PATHS = ["foreach", "fused"]  # "auto" is "fused" on the CPU (test_auto_path_on_cpu)
SMALL_BLOCKS = ADAFACTOR.test_options["block_numel"]


def run(params, config, path, grads, block_numel=SMALL_BLOCKS):
    """``params`` in two groups (the second overriding ``config``) stepped on ``path``."""
    groups = [{"params": params[:2]}]
    if len(params) > 2:
        groups.append({"params": params[2:], **ADAFACTOR.second_group(config)})
    optimizer = Adafactor(groups, **config, **ADAFACTOR.paths[path], block_numel=block_numel)
    return step_with(optimizer, params, grads)


def assert_same(fast_params, fast_opt, loop_params, loop_opt):
    """Per dtype (within 1 unit for float16/bfloat16, p + c of Kahan-compensated ones to the
    pair's precision), parameters and every state entry."""
    for p, q in zip(fast_params, loop_params, strict=True):
        if q.dtype in (torch.float16, torch.bfloat16):
            # Both round nearly the same float32 result: equal, or 1 unit apart at most.
            assert_within_ulps(p, q, q.dtype)
        else:
            assert_close(p, q, q.dtype)
        mine, expected = fast_opt.state[p], loop_opt.state[q]
        assert mine.keys() == expected.keys()
        if KAHAN_KEY in expected:
            pair = (mine[KAHAN_KEY], q, expected[KAHAN_KEY])
            assert_compensated_close(p, *pair, q.dtype, steps=STEPS, what="p + kahan_comp")
        for key, value in expected.items():
            mine = fast_opt.state[p][key]
            if key == KAHAN_KEY:
                continue
            if isinstance(value, torch.Tensor):
                assert mine.dtype == value.dtype and mine.shape == value.shape, key
                assert_close(mine, value, value.dtype, what=key)
            else:
                assert mine == value, key


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
def test_blocks_that_do_not_divide_evenly(shape, block, config, dtype, make_params, make_grads):
    config = ADAFACTOR_CONFIGS[config]
    fast, loop = make_params([shape], dtype), make_params([shape], dtype)
    grads = make_grads(fast, STEPS)
    fast_opt = run(fast, config, "fused", grads, block_numel=block)
    loop_opt = run(loop, config, "loop", grads)
    assert_same(fast, fast_opt, loop, loop_opt)


@pytest.mark.parametrize("shape, block", GEOMETRIES, ids=str)
def test_block_plan_covers_every_row_once(shape, block):
    m, n = shape[-2], shape[-1]
    batch = torch.Size(shape[:-2]).numel()
    plan = BlockPlan(batch, m, n, block)
    rows = torch.arange(batch * m).view(batch, m)
    blocks = plan.split(rows)
    assert len(blocks) == plan.count
    assert torch.equal(torch.cat([b.flatten() for b in blocks]).sort().values, rows.flatten())
    # At most block_numel elements, unless a single row is larger.
    assert all(b.numel() * n <= max(block, n) for b in blocks)
    assert all(r % plan.chunks == 0 for r in plan.row_sizes)


@pytest.mark.parametrize("block", [None, 24, 64])
def test_blocked_passes_return_the_statistics(block, make_params, make_grads):
    """first_pass → u_norm → second_pass, against the loop's formulas in float64."""
    p = make_params([(3, 9, 7)], torch.float64)[0].detach()
    g = make_grads([p], 1)[0][0]
    row, col = torch.rand(3, 9, dtype=torch.float64), torch.rand(3, 7, dtype=torch.float64)
    state = {"exp_avg_sq_row": row.clone(), "exp_avg_sq_col": col.clone()}
    blocks = FactoredBlocks(p, g, state, block, Workspace())
    beta2t = 0.3  # the caller's part of the decay, as in _adafactor_fast
    blocks.row.mul_(beta2t)
    blocks.col.mul_(beta2t)
    block_squares, weighted_sums = blocks.first_pass(beta2t)
    new_row = beta2t * row + (1 - beta2t) * g.square().mean(dim=-1)
    new_col = beta2t * col + (1 - beta2t) * g.square().mean(dim=-2)
    assert_close(block_squares.sum(), p.square().sum(), torch.float64)
    assert_close(state["exp_avg_sq_row"], new_row, torch.float64)
    assert_close(state["exp_avg_sq_col"], new_col, torch.float64)
    assert_close(weighted_sums, (g.square() / new_row.unsqueeze(-1)).sum(dim=-2), torch.float64)

    u_norm, c = blocks.u_norm(weighted_sums)
    r_factor = (new_row / new_row.mean(dim=-1, keepdim=True)).rsqrt().unsqueeze(-1)
    update = r_factor * new_col.unsqueeze(-2).rsqrt() * g  # the loop's U
    assert_close(u_norm, update.norm(), torch.float64)
    assert_close(c, (new_row.mean(dim=-1, keepdim=True) / new_col).sqrt(), torch.float64)

    expected = p * 0.9 - 0.01 * update
    factor, decay = (torch.tensor(x, dtype=torch.float64) for x in (-0.01, 0.9))
    blocks.second_pass(c, factor, decay, None)
    assert_close(p, expected, torch.float64)


@pytest.mark.parametrize("path", FAST_PATHS)
def test_mixed_dtypes_in_one_group(path, make_params, make_grads):
    config = ADAFACTOR_CONFIGS["manual-scale1-beta10.9-clip1.0-wd0.1"]
    dtypes = [torch.float64, torch.float32, torch.bfloat16, torch.float16, torch.float32]
    shapes = [(5,), (5, 7), (3, 4, 6), (2, 3, 5, 4), (8,)]

    def make_all():
        pairs = enumerate(zip(shapes, dtypes, strict=True))
        return [make_params([shape], dtype, seed=i)[0] for i, (shape, dtype) in pairs]

    fast, loop = make_all(), make_all()
    grads = make_grads(fast, STEPS)
    assert_same(fast, run(fast, config, path, grads), loop, run(loop, config, "loop", grads))


@pytest.mark.parametrize("path", FAST_PATHS)
def test_empty_parameters(path, make_params, make_grads):
    shapes = [(0,), (0, 3), (4, 3)]
    params, loop = make_params(shapes), make_params(shapes)
    grads = make_grads(params, 3)
    fast_opt, loop_opt = run(params, {}, path, grads), run(loop, {}, "loop", grads)
    assert_close(params[2], loop[2], torch.float32)
    assert [fast_opt.state[p]["step"] for p in params] == [3, 3, 3]
    assert loop_opt.state[loop[0]]["step"] == 3


def test_blocked_path_reuses_its_scratch_memory(make_params, make_grads):
    params = make_params(ADAFACTOR.shapes)
    optimizer = run(params, {}, "fused", make_grads(params, 2))
    buffers = dict(optimizer._workspace._buffers)
    assert buffers  # the blocked path ran
    step_with(optimizer, params, [[torch.ones_like(p) for p in params]])
    assert all(optimizer._workspace._buffers[k] is v for k, v in buffers.items())


@pytest.mark.parametrize("path, blocked", [("auto", True), ("fused", True), ("foreach", False)])
def test_auto_path_on_cpu_is_the_blocked_one(path, blocked, make_params, make_grads):
    params = make_params(ADAFACTOR.shapes)
    optimizer = run(params, {}, path, make_grads(params, 1))
    scratch = max(b.numel() for b in optimizer._workspace._buffers.values())
    largest = max(p.numel() for p in params)
    # Blocks of at most SMALL_BLOCKS elements, or the largest parameter at once.
    assert scratch <= SMALL_BLOCKS if blocked else scratch == largest


def test_block_numel_is_checked_and_kept():
    p = torch.nn.Parameter(torch.ones(2, 2))
    assert Adafactor([p])._block_numel == CPU_BLOCK_NUMEL
    optimizer = Adafactor([p], block_numel=16)
    assert copy.deepcopy(optimizer)._block_numel == 16  # pickles keep it
    with pytest.raises(ValueError, match=r"^block_numel must be an integer >= 1, got 0"):
        Adafactor([p], block_numel=0)
    with pytest.raises(TypeError, match=r"^block_numel must be an integer, got 1\.5"):
        Adafactor([p], block_numel=1.5)


@pytest.mark.parametrize("path", ADAFACTOR.paths)
@pytest.mark.usefixtures("default_threads")
def test_rms_of_large_parameters_is_accurate(path, make_params, make_grads):
    """RMS(p) and the update of a 3M-element float32 matrix (default blocks), against a
    float64 computation.

    (``torch.linalg.vector_norm``, which transformers uses, accumulates float32 and is off
    by ~1e-4 relative at this size.)
    """
    p = make_params([(3000, 1000)])[0]
    truth = make_params([(3000, 1000)], torch.float64)[0]
    grads = make_grads([truth], 1)
    optimizer = step_with(Adafactor([p], **ADAFACTOR.paths[path]), [p], [[grads[0][0].float()]])
    truth_opt = step_with(Adafactor([truth], foreach=False), [truth], grads)
    rms = optimizer.state[p]["RMS"].double()
    assert rms == pytest.approx(truth_opt.state[truth]["RMS"].item(), rel=2e-6)
    assert_close(p, truth, torch.float32)
