"""PyTorch set-up shared by the ``stepsize.torch`` tests.

* Every test module runs with one intra-op thread: the tensors are tiny, and kernels then never
  wait on a busy machine's cores. (The distributed tests' worker processes set their own
  threads; the count is restored after each module.) A test on large tensors can ask for
  torch's default count with ``default_threads``.
* ``device``: tests that take it run on the CPU and, where there is a GPU, on CUDA (marked
  ``cuda``, so a machine without one deselects them).
* ``make_params`` / ``make_grads``: seeded parameters and gradients, equal for equal seeds
  whatever the dtype, device and memory layout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

try:
    import torch
except ImportError:  # the tests import-skip themselves
    torch = None

# A memory layout: returns a tensor with the same values, stored differently.
_Layout = Callable[["torch.Tensor"], "torch.Tensor"]


# torch's own intra-op thread count, before any test changes it.
_DEFAULT_THREADS = torch.get_num_threads() if torch is not None else 1


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread for the module's tests; the previous count is restored after."""
    if torch is None:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def default_threads():
    """torch's default thread count for one test whose subject depends on it (large tensors,
    whose float32 sums are split across threads)."""
    torch.set_num_threads(_DEFAULT_THREADS)
    yield
    torch.set_num_threads(1)


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def device(request) -> str:
    """The device a test runs its optimizer on: the CPU, and CUDA where there is a GPU."""
    return request.param


def _new_params(
    shapes: Sequence[tuple[int, ...]],
    dtype: torch.dtype | None = None,
    *,
    seed: int = 0,
    device: str = "cpu",
    layout: _Layout | None = None,
) -> list[torch.nn.Parameter]:
    """Parameters of ``shapes`` with seeded standard-normal values (drawn in float64, then
    cast to ``dtype``, float32 by default)."""
    dtype = dtype or torch.float32
    generator = torch.Generator().manual_seed(seed)
    values = [torch.randn(s, generator=generator, dtype=torch.float64) for s in shapes]
    values = [v.to(device=device, dtype=dtype) for v in values]
    return [torch.nn.Parameter(layout(v) if layout else v) for v in values]


def _new_grads(
    params: Sequence[torch.Tensor], steps: int, *, seed: int = 1, layout: _Layout | None = None
) -> list[list[torch.Tensor]]:
    """``steps`` lists of seeded gradients, one per parameter, in its dtype and on its device."""
    generator = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(steps):
        grads = [
            torch.randn(p.shape, generator=generator, dtype=torch.float64).to(p.device, p.dtype)
            for p in params
        ]
        out.append([layout(g) for g in grads] if layout else grads)
    return out


@pytest.fixture(scope="session")
def make_params():
    """``make_params(shapes, dtype=float32, *, seed=0, device="cpu", layout=None)``."""
    return _new_params


@pytest.fixture(scope="session")
def make_grads():
    """``make_grads(params, steps, *, seed=1, layout=None)``: a list of gradients per step."""
    return _new_grads
