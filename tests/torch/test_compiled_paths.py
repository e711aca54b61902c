"""The compiled low-precision kernels (``torch.compile``), which the rest of the suite turns off
(``STEPSIZE_COMPILE=0`` in ``tests/conftest.py``) so that it pays no compile per test.

Here compiling is on and the size threshold lowered: AdamW's per-tensor kernels and
Adafactor's factored update, with Kahan summation and stochastic rounding, equal the CPU
reference loop step by step (to the precision of each option), GradScaler's gradients are
unscaled, and a failing compile warns once and falls back to the eager path. Each kernel
compiles once per dtype for the whole module.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from cases.torch_low_precision import (  # noqa: E402
    assert_scaled_steps_like_unscaled,
    follow_step_by_step,
)
from cases.torch_optimizers import ADAFACTOR, ADAMW, PRECISION_OPTIONS  # noqa: E402
from stepsize.torch import _adafactor_compiled, _adamw_compiled, _compiled  # noqa: E402

# Shapes of at least SMALL elements (the lowered threshold) take the kernels, the 1-D one not.
SMALL = 64
SHAPES = ((7,), (8, 9), (2, 6, 7))
COMPILED = ["kahan", "stochastic"]
BF16 = torch.bfloat16
KERNELS = {
    "AdamW": {"kahan": _adamw_compiled.KAHAN, "stochastic": _adamw_compiled.STOCHASTIC},
    "Adafactor": {
        "kahan": _adafactor_compiled.KAHAN,
        "stochastic": _adafactor_compiled.STOCHASTIC,
    },
}
# Adafactor's kernel is its update without beta1: its default configuration.
CONFIGS = {"AdamW": ADAMW.configs["bias1-wd0.1-default"], "Adafactor": {"weight_decay": 0.1}}


@pytest.fixture
def compiling(monkeypatch):
    """Compiling on, for tensors of at least SMALL elements."""
    monkeypatch.setenv(_compiled.ENV, "1")
    monkeypatch.setattr(_compiled, "MIN_NUMEL", SMALL)


def _counted(monkeypatch, kernel):
    """Counts the kernel's calls (the compiled function stays the same)."""
    calls = []
    original = type(kernel).__call__

    def call(self, *args):
        if self is kernel:
            calls.append(args[0].shape)
        return original(self, *args)

    monkeypatch.setattr(type(kernel), "__call__", call)
    return calls


# Each (kernel, dtype) compiles once (Adafactor's twice: 2-D and batched); float16's rounding
# is the same code in both optimizers' kernels, so Adafactor's run in bfloat16 only.
@pytest.mark.usefixtures("compiling")
@pytest.mark.parametrize(
    ("info", "dtype"),
    [(ADAMW, torch.bfloat16), (ADAMW, torch.float16), (ADAFACTOR, torch.bfloat16)],
    ids=str,
)
@pytest.mark.parametrize("precision", COMPILED)
def test_compiled_kernels_match_the_reference_loop(
    info, precision, dtype, device, make_params, make_grads, monkeypatch
):
    kernel = KERNELS[info.name][precision]
    calls = _counted(monkeypatch, kernel)
    config, options = CONFIGS[info.name], PRECISION_OPTIONS[precision]
    ref_params = make_params(SHAPES, dtype)
    params = make_params(SHAPES, dtype, device=device)
    reference = info.make(ref_params, "loop", **config, **options)
    optimizer = info.cls(params, **config, **options)  # the automatic path, default blocks
    grads = make_grads(ref_params, 4)
    follow_step_by_step(info, (params, optimizer), (ref_params, reference), grads, dtype)
    assert len(calls) == 4 * 2  # the two larger tensors, every step
    assert not kernel._failed


@pytest.mark.usefixtures("compiling")
@pytest.mark.parametrize("precision", COMPILED)
def test_compiled_adamw_unscales_gradscaler_gradients(
    precision, device, make_params, make_grads, monkeypatch
):
    calls = _counted(monkeypatch, KERNELS["AdamW"][precision])
    options = PRECISION_OPTIONS[precision]
    params, plain = (make_params(SHAPES, torch.float16, device=device) for _ in range(2))
    optimizer, reference = (ADAMW.cls(ps, lr=1e-2, **options) for ps in (params, plain))
    grads = make_grads(params, 3)
    assert_scaled_steps_like_unscaled(device, (params, optimizer), (plain, reference), grads)
    assert all(torch.equal(p.grad, q.grad) for p, q in zip(params, plain, strict=True))
    assert len(calls) == 2 * 2 * 3  # both optimizers, two tensors, three steps


def _fails(*args, **kwargs):
    def compiled(*args):
        raise RuntimeError("no C++ compiler")

    return compiled


@pytest.mark.usefixtures("compiling")
@pytest.mark.parametrize("info", [ADAMW, ADAFACTOR], ids=str)
def test_a_failing_compile_warns_once_and_falls_back_to_eager(
    info, make_params, make_grads, monkeypatch
):
    """The failed call runs the kernel's function eagerly; later steps take the eager path."""
    kernel = KERNELS[info.name]["kahan"]
    monkeypatch.setattr(kernel, "_compiled", None)
    monkeypatch.setattr(kernel, "_failed", set())
    monkeypatch.setattr(torch, "compile", _fails)
    calls = _counted(monkeypatch, kernel)
    config = CONFIGS[info.name]
    params, ref_params = (make_params(SHAPES, BF16) for _ in range(2))
    optimizer = info.cls(params, **config)
    reference = info.make(ref_params, "loop", **config)
    grads = make_grads(params, 3)
    with pytest.warns(RuntimeWarning, match=r"compiling _\w+ for cpu failed.*no C\+\+ compiler"):
        follow_step_by_step(info, (params, optimizer), (ref_params, reference), grads[:1], BF16)
    assert kernel._failed == {"cpu"}
    first = len(calls)
    follow_step_by_step(info, (params, optimizer), (ref_params, reference), grads[1:], BF16)
    assert first >= 1 and len(calls) == first


def test_kernels_are_used_where_they_pay(monkeypatch):
    kernel = _compiled.CompiledKernel(lambda x: None)
    large, small = torch.zeros(_compiled.MIN_NUMEL), torch.zeros(_compiled.MIN_NUMEL - 1)
    monkeypatch.setenv(_compiled.ENV, "1")
    assert kernel.usable(large) and not kernel.usable(small)
    assert not kernel.usable(large.to("meta"))  # no kernel for this device type
    monkeypatch.setenv(_compiled.ENV, "0")
    assert not kernel.usable(large)
    monkeypatch.setenv(_compiled.ENV, "1")
    kernel._failed.add("cpu")
    assert not kernel.usable(large)
