"""The torch optimizer contract, written once and run for every row of the optimizer table.

Every optimizer in ``cases.torch_optimizers.OPTIMIZERS``, on every path, behaves as a complete
``torch.optim`` optimizer: closure, ``zero_grad``, parameters without gradients, param groups
(also added later, and rejected whole), argument errors, sparse gradients, ``torch.compile``,
GradScaler, resume from a checkpoint and transformers' checkpoints. Tests that take ``device``
also run on CUDA where there is a GPU. The numbers are in ``test_optimizer_contract_numbers.py``.
"""

from __future__ import annotations

import copy
import io

import pytest

torch = pytest.importorskip("torch")

from cases.closeness import assert_close  # noqa: E402
from cases.torch_contract import (  # noqa: E402
    assert_identical,
    assert_rejected,
    assert_same_run,
    assert_steps,
    describe_groups,
    dtypes,
    each_optimizer,
    ours_and_transformers,
    per_optimizer,
    resume_runs,
    step_with,
    train_tiny_model,
)

FLOAT = [torch.float64, torch.float32]

# ---- torch optimizer behaviour --------------------------------------------------------------


@per_optimizer("path")
def test_closure_and_zero_grad(info, path, device):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2).to(device)
    twin = copy.deepcopy(model)
    optimizer = info.make(model.parameters(), path, **info.example)
    twin_optimizer = info.make(twin.parameters(), path, **info.example)
    x, y = torch.randn(8, 3).to(device), torch.randn(8, 2).to(device)

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        return loss

    before = model.weight.detach().clone()
    loss = optimizer.step(closure)
    expected = torch.nn.functional.mse_loss(twin(x), y)
    expected.backward()
    twin_optimizer.step()
    assert loss.item() == expected.item()
    assert not torch.equal(model.weight, before)
    for p, q in zip(model.parameters(), twin.parameters(), strict=True):
        assert torch.equal(p, q)
    optimizer.zero_grad()
    assert all(p.grad is None for p in model.parameters())


@per_optimizer("path")
def test_parameters_without_gradients_are_left_alone(info, path, device, make_params, make_grads):
    params = make_params(info.shapes, device=device)
    frozen = params[1]
    before = frozen.detach().clone()
    optimizer = info.make(params, path, **info.example)
    grads = make_grads(params, 3)
    for step_grads in grads:
        step_grads[1] = None
    step_with(optimizer, params, grads)
    assert torch.equal(frozen, before)
    assert frozen not in optimizer.state
    assert_steps(optimizer, [p for p in params if p is not frozen], 3)


@per_optimizer("path")
def test_param_group_added_later_matches_transformers(info, path, device, make_params, make_grads):
    config = info.configs[info.resume_configs[0]]

    def train_with(make):
        params = make_params(info.shapes, torch.float64, device=device)
        first, second = info.groups(params, config)  # first: the even-indexed parameters
        grads = make_grads(params, 10)
        early = [[g if i % 2 == 0 else None for i, g in enumerate(step)] for step in grads[:4]]
        optimizer = step_with(make(first["params"], **config), params, early)
        optimizer.add_param_group(second)
        return params, step_with(optimizer, params, grads[4:])

    ours, theirs = ours_and_transformers(info, path, train_with)
    assert len(ours[1].param_groups) == 2
    assert_same_run(info, ours, theirs, torch.float64)


@per_optimizer("error_input")
def test_invalid_arguments_are_rejected(info, error_input, make_params):
    with pytest.raises(error_input.error) as raised:
        info.make(make_params(info.shapes), **error_input.kwargs)
    assert_rejected(raised, error_input.argument)


@each_optimizer()
def test_integer_tensors_are_rejected_as_parameters(info, make_params):
    """They could never get a gradient; torch would accept them, and fail at step()."""
    kind = "floating-point or complex" if info.name == "AdamW" else "floating-point"
    message = rf"^params must be {kind} tensors, got a torch\.int64 tensor at index 1$"
    with pytest.raises(TypeError, match=message):
        info.make([torch.nn.Parameter(torch.ones(2)), torch.ones(2, dtype=torch.int64)])
    optimizer = info.make(make_params(info.shapes), **info.example)
    with pytest.raises(TypeError, match=r"^params must be .*torch\.int32 tensor at index 0$"):
        optimizer.add_param_group({"params": [torch.ones(2, dtype=torch.int32)]})
    assert len(optimizer.param_groups) == 1


@per_optimizer("group_error_input")
def test_invalid_param_group_is_rejected_and_changes_nothing(
    info, group_error_input, make_params, make_grads
):
    error_input = group_error_input
    runs = []
    for add_bad_group in (True, False):
        params = make_params(info.shapes)
        optimizer = info.make(params[:2], **info.example)
        grads = make_grads(params[:2], 4)
        step_with(optimizer, params[:2], grads[:2])
        if add_bad_group:
            groups = describe_groups(optimizer)
            with pytest.raises(error_input.error) as raised:
                optimizer.add_param_group({"params": params[2:], **error_input.kwargs})
            assert_rejected(raised, error_input.argument)
            assert describe_groups(optimizer) == groups
        step_with(optimizer, params[:2], grads[2:])
        runs.append((params[:2], optimizer.state))
    assert_identical(*runs)


@per_optimizer("path")
def test_sparse_gradients_raise(info, path, device):
    embedding = torch.nn.Embedding(10, 3, sparse=True).to(device)
    optimizer = info.make(embedding.parameters(), path, **info.example)
    embedding(torch.tensor([1, 2], device=device)).sum().backward()
    with pytest.raises(RuntimeError, match="does not support sparse gradients"):
        optimizer.step()


@each_optimizer()
def test_compiled_training_step_matches_eager(info, device):
    """``torch.compile`` of the model, and of the whole step (the update runs eagerly)."""

    def make(params):
        return info.make(params, **info.example)

    eager = train_tiny_model(make, device=device)
    for compiled in (
        train_tiny_model(make, compile_model=True, device=device),
        train_tiny_model(make, compile_step=True, device=device),
    ):
        assert_close(compiled, eager, torch.float32)


# ---- mixed precision --------------------------------------------------------------------------


@per_optimizer("path", "scaler_dtype")
def test_grad_scaler_unscales_and_skips_inf_steps(
    info, path, scaler_dtype, device, make_params, make_grads
):
    """Scaled gradients give the unscaled run bit for bit; an inf step changes nothing."""
    scaler = torch.amp.GradScaler(device)
    params = make_params(info.shapes, scaler_dtype, device=device)
    plain = make_params(info.shapes, scaler_dtype, device=device)
    optimizer = info.make(params, path, **info.example)
    reference = info.make(plain, path, **info.example)
    # 65536 by default: a power of 2, exact in float16 too
    scale = scaler.scale(torch.ones((), device=device)).item()
    for step, grads in enumerate(make_grads(params, 4)):
        for p, q, grad in zip(params, plain, grads, strict=True):
            q.grad = grad / 100
            p.grad = q.grad * scale
        if step == 2:
            params[-1].grad.view(-1)[0] = float("inf")
            before = copy.deepcopy((params, optimizer.state))
        scaler.step(optimizer)
        scaler.update()
        if step == 2:  # skipped: parameters and state untouched, the scale backs off
            assert_identical((params, optimizer.state), before)
            assert_steps(optimizer, params, 2)
            assert scaler.get_scale() == scale / 2
            scale /= 2
        else:
            reference.step()
    assert_steps(optimizer, params, 3)
    assert_identical((params, optimizer.state), (plain, reference.state))


@per_optimizer("path")
def test_grad_scaler_after_explicit_unscale(info, path, device, make_params, make_grads):
    scaler = torch.amp.GradScaler(device)
    params, plain = (make_params(info.shapes, device=device) for _ in range(2))
    optimizer = info.make(params, path, **info.example)
    reference = info.make(plain, path, **info.example)
    scale = scaler.scale(torch.ones((), device=device)).item()
    for p, q, grad in zip(params, plain, make_grads(params, 1)[0], strict=True):
        q.grad = grad
        p.grad = grad * scale
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(params, 1e9)
    scaler.step(optimizer)
    reference.step()
    assert_identical((params, optimizer.state), (plain, reference.state))


# ---- checkpoints ----------------------------------------------------------------------------


@per_optimizer("resume_config", "path")
@dtypes([torch.float32, torch.bfloat16])
def test_resume_is_bit_identical(info, resume_config, path, dtype, device, make_params, make_grads):
    """Save after 10 steps (with a scheduler attached), load with ``weights_only=True`` into
    fresh objects, train 10 more: the same as 20 steps in one go."""
    config = info.configs[resume_config]
    grads = make_grads(make_params(info.shapes, dtype, device=device), 20)
    resumed, uninterrupted = resume_runs(
        info, config, path, grads, lambda: make_params(info.shapes, dtype, device=device)
    )
    assert_identical((resumed[0], resumed[1].state), (uninterrupted[0], uninterrupted[1].state))
    assert resumed[2].get_last_lr() == uninterrupted[2].get_last_lr()
    assert_steps(resumed[1], resumed[0], 20)


@per_optimizer("path")
@dtypes(FLOAT)
def test_loads_a_transformers_checkpoint(info, path, dtype, device, make_params, make_grads):
    """transformers trains 5 steps; we load its state dict and continue exactly as it does."""
    config = info.configs[info.resume_configs[0]]
    theirs = make_params(info.shapes, dtype, device=device)
    grads = make_grads(theirs, 10)
    their_optimizer = info.make_reference(info.groups(theirs, config), **config)
    step_with(their_optimizer, theirs, grads[:5])
    buffer = io.BytesIO()
    torch.save(their_optimizer.state_dict(), buffer)
    buffer.seek(0)
    ours = [torch.nn.Parameter(p.detach().clone()) for p in theirs]
    our_optimizer = info.make(info.groups(ours, config), path, **config)
    our_optimizer.load_state_dict(torch.load(buffer, weights_only=True))
    assert_steps(our_optimizer, ours, 5)
    step_with(their_optimizer, theirs, grads[5:])
    step_with(our_optimizer, ours, grads[5:])
    assert_same_run(info, (ours, our_optimizer), (theirs, their_optimizer), dtype)
