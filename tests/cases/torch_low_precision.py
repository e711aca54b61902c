"""The low-precision part of the optimizer contract: following the reference loop step by step.

Used by ``tests/torch/test_optimizer_contract_low_precision.py`` and
``tests/torch/test_compiled_paths.py``: two runs that round float32 results to bfloat16/float16
differ by a unit now and then, so they are compared one step at a time, each step starting
from the reference's values. ``assert_scaled_steps_like_unscaled`` checks the GradScaler case.
"""

from __future__ import annotations

import copy

import torch

from cases.closeness import assert_close, assert_compensated_close, assert_within_ulps
from cases.torch_contract import assert_identical, state_of, step_with
from stepsize.torch._lowp import KAHAN_KEY

__all__ = ["assert_scaled_steps_like_unscaled", "follow_step_by_step"]


def _assert_step_matches(info, ours, theirs, dtype) -> None:
    """One step from equal values: parameters and low-precision state within a unit, float32
    state per float32, p + kahan_comp to the precision of the compensated pair."""
    (params, optimizer), (ref_params, reference) = ours, theirs
    assert_within_ulps([p.cpu() for p in params], ref_params, dtype, what="params")
    mine, expected = state_of(info, optimizer, params), state_of(info, reference, ref_params)
    pairs = zip(mine, expected, strict=True)
    for index, (state, ref_state) in enumerate(pairs):
        assert state.keys() == ref_state.keys(), index
        for key, value in state.items():
            expected, what = ref_state[key], f"state[{index}][{key}]"
            assert value.dtype == expected.dtype == info.state_dtype(dtype), what
            if value.dtype == dtype:
                assert_within_ulps(value.cpu(), expected, dtype, what=what)
            else:
                assert_close(value.cpu(), expected, value.dtype, what=what)
    for index, (p, q) in enumerate(zip(params, ref_params, strict=True)):
        state, ref_state = optimizer.state[p], reference.state[q]
        assert (KAHAN_KEY in state) == (KAHAN_KEY in ref_state), index
        if KAHAN_KEY in ref_state:
            comp, ref_comp = state[KAHAN_KEY], ref_state[KAHAN_KEY]
            assert comp.dtype == dtype, index
            pair = (p.cpu(), comp.cpu(), q, ref_comp)
            assert_compensated_close(*pair, dtype, what=f"p + kahan_comp [{index}]")


def follow_step_by_step(info, ours, theirs, grads, dtype) -> None:
    """Steps (params, optimizer) pairs ``ours`` (on any device) and ``theirs`` (the CPU
    reference) with each step's ``grads``; after each step, asserts they match to the
    precision of ``dtype`` (bfloat16/float16: parameters and low-precision state within a unit,
    float32 state per float32, p + kahan_comp to the precision of the compensated pair) and
    continues ours from theirs (loaded into ours, which keeps its path switches)."""
    (params, optimizer), (ref_params, reference) = ours, theirs
    device = params[0].device
    for step_grads in grads:
        step_with(reference, ref_params, [step_grads])
        step_with(optimizer, params, [[g.to(device) for g in step_grads]])
        _assert_step_matches(info, ours, theirs, dtype)
        with torch.no_grad():
            for p, q in zip(params, ref_params, strict=True):
                p.copy_(q)
        saved = copy.deepcopy(reference.state_dict())
        for group, mine in zip(saved["param_groups"], optimizer.param_groups, strict=True):
            group.update(foreach=mine["foreach"], fused=mine["fused"])
        optimizer.load_state_dict(saved)


def assert_scaled_steps_like_unscaled(device, ours, theirs, grads) -> None:
    """``ours`` stepped by a GradScaler on gradients scaled by a power of 2 (exact) ends
    identical to ``theirs`` stepped plainly on the unscaled gradients, for each list of
    ``grads``. ``ours`` and ``theirs`` are (params, optimizer) pairs."""
    (params, optimizer), (plain, reference) = ours, theirs
    scaler = torch.amp.GradScaler(device)
    scale = scaler.scale(torch.ones((), device=device)).item()
    for step_grads in grads:
        for p, q, grad in zip(params, plain, step_grads, strict=True):
            q.grad = grad / 100
            p.grad = q.grad * scale
        scaler.step(optimizer)
        scaler.update()
        reference.step()
    assert_identical((params, optimizer.state), (plain, reference.state))
