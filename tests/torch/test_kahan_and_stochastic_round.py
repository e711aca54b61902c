"""The low-precision primitives against their definitions: Kahan summation and stochastic
rounding on hand-computed examples, the random bits, and the optimizers' end-to-end behaviour
on updates smaller than half a unit."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from cases.torch_optimizers import ADAFACTOR, ADAMW, PRECISION_OPTIONS  # noqa: E402
from stepsize.torch._kahan import kahan_update, kahan_update_foreach  # noqa: E402
from stepsize.torch._lowp import store  # noqa: E402
from stepsize.torch._stochastic_round import (  # noqa: E402
    random_bits,
    stochastic_round,
    stream_key,
)

BF16_UNIT_AT_1 = 2.0**-7  # the distance from 1 to the next bfloat16

# ---- Kahan summation ----------------------------------------------------------------------------


def test_kahan_sum_applies_updates_smaller_than_half_a_unit():
    """p = 1 in bfloat16 (unit 2^-7 above 1) plus 2^-9 per step, by hand: rounded to nearest
    it never moves; compensated, s = 2^-9 + c reaches 3·2^-9 at step 3 and rounds up (c turns
    negative), and ties go to even (step 6); after 8 steps p = 1 + 8·2^-9 exactly."""
    p = torch.ones(1, dtype=torch.bfloat16)
    comp = torch.zeros(1, dtype=torch.bfloat16)
    seen = []
    for _ in range(8):
        old = p.float()
        p, comp = kahan_update(old, old + 2.0**-9, comp)
        seen.append((p.item() - 1.0, comp.item()))
    u = 2.0**-9
    assert seen == [
        (0.0, u),
        (0.0, 2 * u),  # 1 + 2^-8 is a tie: to even, down
        (4 * u, -u),
        (4 * u, 0.0),
        (4 * u, u),
        (8 * u, -2 * u),  # 1 + 2^-7 + 2^-8 is a tie: to even, up
        (8 * u, -u),
        (8 * u, 0.0),
    ]
    assert (torch.ones(1, dtype=torch.bfloat16) + u).item() == 1.0  # nearest loses it


def test_kahan_update_is_its_definition_in_float32(make_params):
    """s = (new − old) + c, p = round(old + s), c = round(s − (p − old)), in float32 (NumPy)."""
    old = make_params([(1000,)], torch.bfloat16)[0].detach().float()
    generator = torch.Generator().manual_seed(3)
    new = old + torch.randn(1000, generator=generator) * 1e-3
    comp = (torch.randn(1000, generator=generator) * 1e-3).bfloat16()
    p, c = kahan_update(old, new, comp)
    o, n, k = (x.numpy().astype(np.float32) for x in (old, new, comp.float()))
    total = (n - o) + k
    expected_p = torch.from_numpy(o + total).bfloat16()
    expected_c = torch.from_numpy(total - (expected_p.float().numpy() - o)).bfloat16()
    assert torch.equal(p, expected_p) and torch.equal(c, expected_c)
    assert p.dtype == c.dtype == torch.bfloat16


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
def test_kahan_update_foreach_equals_kahan_update(dtype, make_params):
    olds = [p.detach().float() for p in make_params([(5,), (3, 4)], dtype)]
    news = [x + 1e-3 * torch.sin(torch.arange(x.numel()).view(x.shape) * 1.0) for x in olds]
    comps = [torch.full(x.shape, 1e-4, dtype=dtype) for x in olds]
    expected = [kahan_update(o, n, c) for o, n, c in zip(olds, news, comps, strict=True)]
    params = [o.to(dtype) for o in olds]
    kahan_update_foreach(params, [o.clone() for o in olds], [n.clone() for n in news], comps)
    for p, c, (expected_p, expected_c) in zip(params, comps, expected, strict=True):
        assert torch.equal(p, expected_p) and torch.equal(c, expected_c)


# ---- stochastic rounding ------------------------------------------------------------------------


def test_stochastic_rounding_of_bfloat16_by_hand():
    """x = 1 + 2^-9 lies a quarter of the way from 1 to 1 + 2^-7: its low 16 bits are 0x4000,
    so noise >= 0xC000 (a quarter of the values) carries it up."""
    x = torch.full((6,), 1.0 + 2.0**-9)
    noise = torch.tensor([0, 0x4000, 0xBFFF, 0xC000, 0xFFFF, 0x1_0000 + 0xC000])
    rounded = stochastic_round(x, torch.bfloat16, noise)
    assert rounded.tolist() == [1.0, 1.0, 1.0, 1.0 + 2.0**-7, 1.0 + 2.0**-7, 1.0 + 2.0**-7]
    negative = stochastic_round(-x, torch.bfloat16, noise)
    assert negative.tolist() == [-v for v in rounded.tolist()]  # symmetric: on the magnitude


def test_stochastic_rounding_of_float16_by_hand():
    """Normal float16: 13 dropped bits. Subnormal (below 2^-14, grid 2^-24): 2^-26 is a
    quarter unit; 3·2^-24 + 2^-25 is halfway between 3 and 4 units."""
    quarter = torch.full((2,), 2.0**-26)
    noise = torch.tensor([0x17FF, 0x1800])  # 13 bits: 0x1800/0x2000 = 3/4 of the range
    assert stochastic_round(quarter, torch.float16, noise).tolist() == [0.0, 2.0**-24]
    half = torch.full((2,), 3 * 2.0**-24 + 2.0**-25)
    noise = torch.tensor([0x0FFF, 0x1000])
    assert stochastic_round(half, torch.float16, noise).tolist() == [3 * 2.0**-24, 4 * 2.0**-24]
    normal = torch.full((2,), 1.0 + 2.0**-12)  # a quarter of float16's unit at 1 (2^-10)
    noise = torch.tensor([0x17FF, 0x1800])
    assert stochastic_round(normal, torch.float16, noise).tolist() == [1.0, 1.0 + 2.0**-10]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("value", [1.0 + 2.0**-9, -3.3e-3, 1.7e-6, 3e-8, 6.5e4, 0.0, 2.5])
def test_stochastic_rounding_is_unbiased_between_neighbours(dtype, value):
    x = torch.full((200_000,), value)
    rounded = stochastic_round(x, dtype, random_bits(x.numel(), stream_key(1, 2, 3), x.device))
    values = set(rounded.double().tolist())
    down = up = x[0].to(dtype).double().item()
    for candidate in values:
        down, up = min(down, candidate), max(up, candidate)
    assert len(values) <= 2 and down <= x[0].item() <= up  # only the two neighbours
    exact = x[0].double().item()
    if up == down:
        assert up == exact  # representable: never changed
        return
    # The mean is the value: within 5 standard deviations of 200,000 two-valued draws.
    share = (exact - down) / (up - down)
    sigma = (up - down) * math.sqrt(share * (1 - share) / x.numel())
    assert abs(rounded.double().mean().item() - exact) <= 5 * sigma


def test_stochastic_rounding_keeps_specials_and_rounds_past_the_largest_value():
    x = torch.tensor([float("inf"), -float("inf"), 0.0, -0.0, 3.3961e38])
    rounded = stochastic_round(x, torch.bfloat16, torch.full((5,), 0xFFFF))
    assert rounded[:2].tolist() == [float("inf"), -float("inf")]
    assert rounded[2:4].tolist() == [0.0, 0.0] and math.copysign(1, rounded[3].item()) == -1
    assert rounded[4].item() == float("inf")  # above bfloat16's largest finite value
    nan = stochastic_round(torch.tensor([float("nan")]), torch.bfloat16, torch.tensor([0xFFFF]))
    assert nan.isnan().all()


def test_random_bits_are_uniform_reproducible_and_offset_consistent():
    bits = random_bits(1 << 20, 12345, torch.device("cpu"))
    assert torch.equal(bits, random_bits(1 << 20, 12345, torch.device("cpu")))
    assert (bits >= 0).all() and (bits < 2**32).all()
    counts = torch.bincount(bits & 0xFFFF, minlength=1 << 16).double()
    chi2 = ((counts - counts.mean()) ** 2 / counts.mean()).sum().item()
    assert abs(chi2 / (1 << 16) - 1) < 0.05  # a chi-square statistic near its mean
    # A piece starting at element o uses key + o: the same bits as the whole tensor there.
    assert torch.equal(random_bits(1000, 12345 + 5000, torch.device("cpu")), bits[5000:6000])
    # Neighbouring elements and keys are uncorrelated.
    low = (bits & 0xFFFF).double()
    assert abs(torch.corrcoef(torch.stack([low[:-1], low[1:]]))[0, 1].item()) < 0.01
    other = (random_bits(1 << 20, 12346, torch.device("cpu")) & 0xFFFF).double()
    assert abs(torch.corrcoef(torch.stack([low, other]))[0, 1].item()) < 0.01


def test_stream_keys_differ_by_seed_step_and_position():
    keys = {
        stream_key(seed, step, position)
        for seed in range(3)
        for step in range(1, 4)
        for position in range(4)
    }
    assert len(keys) == 36 and all(0 <= key < 2**32 for key in keys)


@pytest.mark.parametrize("rounding", ["kahan", "stochastic", "nearest"])
def test_store_in_pieces_equals_store_of_the_whole(rounding, monkeypatch):
    """Large CPU tensors are written in cache-sized pieces; the random stream continues."""
    from stepsize.torch import _chunks

    generator = torch.Generator().manual_seed(0)
    p = torch.randn(100, 37, generator=generator).bfloat16()
    new = p.float() + torch.randn(100, 37, generator=generator) * 1e-3
    comp = (torch.randn(100, 37, generator=generator) * 1e-4).bfloat16()
    results = []
    for limit in (1 << 20, 999):  # whole, then pieces of 999 elements
        monkeypatch.setattr(_chunks, "CPU_CHUNK_NUMEL", limit)
        target, target_comp = p.clone(), comp.clone()
        store(target, new.clone(), rounding, target_comp if rounding == "kahan" else None, 77)
        results.append((target, target_comp))
    assert torch.equal(results[0][0], results[1][0]) and torch.equal(*(r[1] for r in results))
    assert not torch.equal(results[0][0], p)


# ---- the optimizers on updates below half a unit ----------------------------------------------


@pytest.mark.parametrize("info", [ADAMW, ADAFACTOR], ids=str)
@pytest.mark.parametrize("precision", list(PRECISION_OPTIONS))
@pytest.mark.parametrize("path", ["loop", "foreach", "auto"])
def test_updates_below_half_a_unit(info, precision, path):
    """bfloat16 ones, a constant gradient, lr 1e-4 (a 78th of a unit per step), 200 steps:
    rounded to nearest nothing moves; Kahan moves p + c by the float32 run's movement and p
    within half a unit of it; stochastic rounding moves p by it on average."""
    hyper = (
        {"lr": 1e-4}
        if info is ADAMW
        else {"lr": 1e-4, "relative_step": False, "scale_parameter": False}
    )
    runs = {}
    for dtype in (torch.float32, torch.bfloat16):
        p = torch.nn.Parameter(torch.ones(256, 256, dtype=dtype))
        options = PRECISION_OPTIONS[precision] if dtype == torch.bfloat16 else {}
        optimizer = info.cls([p], **hyper, **info.paths[path], **options)  # default blocks
        for _ in range(200):
            p.grad = torch.full_like(p, 1e-3)
            optimizer.step()
        runs[dtype] = (p.detach().double(), optimizer.state[p])
    moved32 = runs[torch.float32][0] - 1.0
    assert moved32.mean().item() == pytest.approx(-0.02, rel=2e-2)
    p, state = runs[torch.bfloat16]
    if precision == "nearest":
        assert torch.equal(p, torch.ones_like(p))
    elif precision == "kahan":
        total = p + state["kahan_comp"].double()
        assert torch.allclose(total - 1.0, moved32, rtol=1e-2, atol=0)
        assert ((p - 1.0 - moved32).abs() <= BF16_UNIT_AT_1 / 2).all()
    else:
        assert (p - 1.0).mean().item() == pytest.approx(moved32.mean().item(), rel=2e-2)
