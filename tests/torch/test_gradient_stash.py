"""GradientStash: merging a micro-batch's gradient equals autograd's own accumulation, bit for
bit; restoring drops it."""

import pytest

torch = pytest.importorskip("torch")

from stepsize.torch._gradient_stash import GradientStash  # noqa: E402


def _embedding(sparse):
    torch.manual_seed(0)
    return torch.nn.Embedding(10, 3, sparse=sparse)


def _backward(module, seed):
    generator = torch.Generator().manual_seed(seed)
    if isinstance(module, torch.nn.Embedding):
        out = module(torch.randint(0, 10, (6,), generator=generator))
    else:
        out = module(torch.randn(4, 3, generator=generator))
        out = out + module(torch.randn(4, 3, generator=generator))  # weights used twice
    (out * torch.randn(out.shape, generator=generator)).sum().backward()


@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_merge_equals_autograd_accumulation(kind):
    def make():
        if kind == "sparse":
            return _embedding(sparse=True)
        torch.manual_seed(0)
        return torch.nn.Linear(3, 2)

    accumulated, stashed = make(), make()
    for seed in range(3):
        _backward(accumulated, seed)
        held = [p.grad for p in stashed.parameters()]
        stash = GradientStash(stashed.parameters())
        assert all(p.grad is None for p in stashed.parameters())
        _backward(stashed, seed)
        stash.merge()
        if seed:  # the window's gradient tensors themselves hold the sum
            assert all(p.grad is g for p, g in zip(stashed.parameters(), held, strict=True))
    for a, b in zip(accumulated.parameters(), stashed.parameters(), strict=True):
        assert a.grad.is_sparse is b.grad.is_sparse is (kind == "sparse")
        assert torch.equal(a.grad.to_dense(), b.grad.to_dense())


def test_sparse_gradient_into_a_dense_one_and_back():
    accumulated, stashed = _embedding(sparse=True), _embedding(sparse=True)
    for module in (accumulated, stashed):
        module.weight.grad = torch.ones(10, 3)  # e.g. set by hand
    _backward(accumulated, 0)
    stash = GradientStash(stashed.parameters())
    _backward(stashed, 0)
    sparse = stashed.weight.grad
    stash.merge()
    assert not stashed.weight.grad.is_sparse
    assert torch.equal(stashed.weight.grad, accumulated.weight.grad)

    stashed.weight.grad = sparse
    stash = GradientStash(stashed.parameters())
    dense = torch.full((10, 3), 2.0)
    stashed.weight.grad = dense  # a dense micro-batch gradient onto a sparse window
    stash.merge()
    assert stashed.weight.grad is dense
    assert torch.allclose(dense, 2.0 + sparse.to_dense())


def test_restore_drops_the_micro_batch_and_missing_gradients_stay_missing():
    torch.manual_seed(0)
    used, unused, frozen = (torch.nn.Parameter(torch.randn(2)) for _ in range(3))
    frozen.requires_grad_(False)
    used.grad = held = torch.ones(2)
    stash = GradientStash([used, unused, frozen, used])  # duplicates count once
    assert (used.grad, unused.grad, frozen.grad) == (None, None, None)
    (used * unused * 3).sum().backward()
    stash.restore()
    assert used.grad is held and unused.grad is None
    assert torch.equal(held, torch.ones(2))

    stash = GradientStash([used, unused])
    (unused * 5).sum().backward()  # only a parameter without a window gradient
    stash.merge()
    assert used.grad is held and torch.equal(unused.grad, torch.full((2,), 5.0))
