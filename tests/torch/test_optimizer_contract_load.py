"""The optimizer contract for ``load_state_dict``, run for every row of the optimizer table.

A state dict is checked before anything is applied: its structure, every group's options (by
the constructor's checks: the rows' error inputs, in a saved group) and every parameter's state
(entries, step, shapes, dtypes, finite values, memory of its own). A rejected one raises
TypeError or ValueError naming the group and parameter index, and leaves the optimizer exactly
as it was (``assert_load_rejected``). Resuming and transformers' checkpoints are in
``test_optimizer_contract.py``.
"""

from __future__ import annotations

import copy
import math

import pytest

torch = pytest.importorskip("torch")

from cases.torch_contract import (  # noqa: E402
    assert_identical,
    assert_load_rejected,
    each_optimizer,
    per_optimizer,
    step_with,
)

FROZEN = 2  # a parameter that never gets a gradient: it has no state
TARGET = 1  # the parameter whose saved state the tests alter (in the second group)


@pytest.fixture
def trained(make_params, make_grads):
    """``trained(info, shapes=info.shapes, path="auto", seed=0, dtype=float32)``: (params,
    optimizer) of the row's resume configuration in two groups (``info.groups``), stepped
    twice, the parameter ``FROZEN`` without gradients."""

    def train(info, shapes=None, path="auto", seed=0, dtype=None):
        config = info.configs[info.resume_configs[0]]
        params = make_params(shapes or info.shapes, dtype, seed=seed)
        optimizer = info.make(info.groups(params, config), path, **config)
        grads = make_grads(params, 2, seed=seed + 1)
        for step_grads in grads:
            step_grads[FROZEN] = None
        return params, step_with(optimizer, params, grads)

    return train


def saved_as(optimizer, p):
    """(the key of ``p``'s state in ``optimizer.state_dict()``, where a message names it)."""
    located = [
        (g, j, q)
        for g, group in enumerate(optimizer.param_groups)
        for j, q in enumerate(group["params"])
    ]
    key = next(key for key, (_, _, q) in enumerate(located) if q is p)
    g, j, _ = located[key]
    return key, f"state of param_groups[{g}]['params'][{j}]"


def altered(optimizer, params, change):
    """A copy of ``optimizer.state_dict()`` with ``change(state)`` applied to the target's saved
    state; returns it and where messages name that state."""
    saved = copy.deepcopy(optimizer.state_dict())
    key, where = saved_as(optimizer, params[TARGET])
    change(saved["state"][key])
    return saved, where


@each_optimizer()
def test_state_of_another_shape_is_rejected(info, trained):
    """Saved for a (3, 4) parameter, loaded for a (3, 5) one (the fused kernel would write out
    of bounds)."""
    saved = trained(info, shapes=[(2,), (3, 4), (2,)])[1].state_dict()
    params, optimizer = trained(info, shapes=[(2,), (3, 5), (2,)], seed=3)
    message = assert_load_rejected(optimizer, params, saved, ValueError)
    if info.name == "AdamW":
        assert message == (
            "state of param_groups[1]['params'][0]: exp_avg has shape (3, 4), the parameter (3, 5)"
        )
    else:  # the column statistic of a factored (3, 5) parameter has 5 entries
        assert message == (
            "state of param_groups[1]['params'][0]: exp_avg_sq_col has shape (4,), the "
            "parameter (3, 5) (so exp_avg_sq_col must have (5,))"
        )


@per_optimizer("group_error_input")
def test_invalid_options_in_a_saved_group_are_rejected(info, group_error_input, trained):
    params, optimizer = trained(info)
    saved = optimizer.state_dict()
    saved["param_groups"][1].update(group_error_input.kwargs)
    prefix = f"param_groups[1]: {group_error_input.argument}"
    assert_load_rejected(optimizer, params, saved, group_error_input.error, prefix)


@each_optimizer()
def test_a_saved_group_must_have_every_option(info, trained):
    params, optimizer = trained(info)
    saved = optimizer.state_dict()
    del saved["param_groups"][0]["weight_decay"]
    message = "param_groups[0] must have every option, has no 'weight_decay'"
    assert_load_rejected(optimizer, params, saved, ValueError, message)


STEPS = [
    (-5, ValueError),
    ("seven", TypeError),
    (math.nan, ValueError),
    (math.inf, ValueError),
    (1.5, ValueError),
    (True, TypeError),
    (None, TypeError),
    (10**400, ValueError),
    (2**63 + 1, ValueError),
    (torch.tensor(-1.0), ValueError),
    (torch.tensor(math.nan), ValueError),
    (torch.tensor(2.5), ValueError),
    (torch.tensor([1.0, 2.0]), TypeError),
    (torch.tensor(True), TypeError),
]


@each_optimizer()
@pytest.mark.parametrize(("step", "error"), STEPS, ids=repr)
def test_invalid_step_is_rejected(info, step, error, trained):
    params, optimizer = trained(info)
    saved, where = altered(optimizer, params, lambda state: state.update(step=step))
    assert_load_rejected(optimizer, params, saved, error, f"{where}: step must be")


@each_optimizer()
@pytest.mark.parametrize("step", [0, 7, 7.0, 2**63, torch.tensor(7), torch.tensor(7.0)], ids=str)
def test_step_may_be_any_whole_number(info, step, trained):
    params, optimizer = trained(info)
    saved, _ = altered(optimizer, params, lambda state: state.update(step=step))
    optimizer.load_state_dict(saved)
    assert float(optimizer.state[params[TARGET]]["step"]) == float(step)
    assert float(optimizer.state[params[0]]["step"]) == 2


@each_optimizer()
def test_missing_state_entries_are_rejected(info, trained):
    """Every entry a stepped parameter has is needed (``exp_avg`` too: transformers' state
    dicts have it)."""
    params, optimizer = trained(info)
    entries = ["step", *(key for key in info.state_keys if key in optimizer.state[params[TARGET]])]
    assert len(entries) >= 3
    for key in entries:
        saved, where = altered(optimizer, params, lambda state, key=key: state.pop(key))
        assert_load_rejected(optimizer, params, saved, ValueError, f"{where}: {key} is missing")


@each_optimizer()
def test_unknown_state_entries_are_rejected(info, trained):
    params, optimizer = trained(info)
    saved, where = altered(
        optimizer, params, lambda state: state.update(max_exp_avg_sq=state["step"])
    )
    message = f"{where}: 'max_exp_avg_sq' is not a state entry"
    assert_load_rejected(optimizer, params, saved, ValueError, message)


# (a change of one state tensor, the error, what the message says)
BAD_TENSORS = {
    "nan": (lambda t: t.index_fill_(-1, torch.tensor(0), math.nan), ValueError, "must hold finite"),
    "inf": (
        lambda t: t.index_fill_(-1, torch.tensor(0), -math.inf),
        ValueError,
        "must hold finite",
    ),
    "beyond float32": (lambda t: t.double().fill_(1e39), ValueError, "must hold finite"),
    "int64": (lambda t: t.long(), TypeError, "must be a floating-point tensor"),
    "bool": (lambda t: t.bool(), TypeError, "must be a floating-point tensor"),
    "complex": (lambda t: t.cfloat(), TypeError, "must be a floating-point tensor"),
    "sparse": (lambda t: t.to_sparse(), TypeError, "must be a dense tensor"),
    "meta": (lambda t: t.to("meta"), TypeError, "must be a dense tensor"),
    "a list": (lambda t: [t.tolist()], TypeError, "must be a tensor"),
    "extra dim": (lambda t: t.unsqueeze(0), ValueError, "has shape"),
}


@each_optimizer()
@pytest.mark.parametrize("change", BAD_TENSORS)
def test_invalid_state_tensors_are_rejected(info, change, trained):
    alter, error, says = BAD_TENSORS[change]
    params, optimizer = trained(info)
    for key in info.state_keys:
        if key not in optimizer.state[params[TARGET]]:
            continue
        saved, where = altered(
            optimizer, params, lambda state, key=key: state.update({key: alter(state[key].clone())})
        )
        assert_load_rejected(optimizer, params, saved, error, f"{where}: {key} {says}")


@each_optimizer()
@pytest.mark.parametrize("change", ["nan", "int64", "complex", "a list", "extra dim"])
def test_invalid_kahan_compensation_is_rejected(info, change, trained):
    """bfloat16 parameters keep the Kahan buffer ``kahan_comp`` (the default): loaded like the
    moments, checked the same way, refused all or nothing."""
    alter, error, says = BAD_TENSORS[change]
    params, optimizer = trained(info, dtype=torch.bfloat16)
    assert optimizer.state[params[TARGET]]["kahan_comp"].dtype == torch.bfloat16
    saved, where = altered(
        optimizer,
        params,
        lambda state: state.update(kahan_comp=alter(state["kahan_comp"].clone())),
    )
    assert_load_rejected(optimizer, params, saved, error, f"{where}: kahan_comp {says}")


@each_optimizer()
def test_kahan_compensation_loads_in_the_parameters_dtype(info, trained):
    """A buffer saved in float32 (or one missing: a checkpoint saved without Kahan) loads; the
    buffer is kept in the parameter's dtype."""
    params, optimizer = trained(info, dtype=torch.bfloat16)
    kept = optimizer.state[params[TARGET]]["kahan_comp"].clone()
    saved, _ = altered(
        optimizer, params, lambda state: state.update(kahan_comp=state["kahan_comp"].float())
    )
    saved["state"][0].pop("kahan_comp")
    optimizer.load_state_dict(saved)
    assert "kahan_comp" not in optimizer.state[params[0]]
    loaded = optimizer.state[params[TARGET]]["kahan_comp"]
    assert loaded.dtype == torch.bfloat16 and torch.equal(loaded, kept)


@each_optimizer()
def test_negative_second_moments_are_rejected(info, trained):
    params, optimizer = trained(info)
    for key in ("exp_avg_sq", "exp_avg_sq_row", "exp_avg_sq_col"):
        if key not in optimizer.state[params[TARGET]]:
            continue
        saved, where = altered(
            optimizer, params, lambda state, key=key: state[key].view(-1)[0].fill_(-1.0)
        )
        message = f"{where}: {key} must hold values >"
        assert_load_rejected(optimizer, params, saved, ValueError, message)


@each_optimizer()
def test_state_tensors_must_have_memory_of_their_own(info, trained):
    """A moment that is another one, or a parameter, would be updated twice per step."""
    params, optimizer = trained(info)
    with torch.no_grad():
        params[TARGET].abs_().add_(1.0)  # a valid second moment but for its memory
    saved, where = altered(
        optimizer, params, lambda state: state.update(exp_avg_sq=params[TARGET].detach())
    )
    message = f"{where}: exp_avg_sq must have memory of its own, it shares a parameter's"
    assert_load_rejected(optimizer, params, saved, ValueError, message)

    saved = copy.deepcopy(optimizer.state_dict())  # params[0]: exp_avg and exp_avg_sq
    saved["state"][0]["exp_avg"] = saved["state"][0]["exp_avg_sq"]
    message = (
        "state of param_groups[0]['params'][0]: exp_avg_sq must have memory of its own, it "
        "shares state of param_groups[0]['params'][0]['exp_avg']'s"
    )
    assert_load_rejected(optimizer, params, saved, ValueError, message)


def restructured(saved, change):
    """``saved`` (a state dict) changed in its structure; and what the message names."""
    groups, state = saved["param_groups"], saved["state"]
    if change == "not a dict":
        return [saved], "state_dict must be a dict"
    if change == "no state":
        return {"param_groups": groups}, "has no 'state'"
    if change == "groups not a list":
        return {**saved, "param_groups": groups[0]}, "state_dict['param_groups'] must be a list"
    if change in ("one group less", "a group more"):
        changed = groups[:1] if change == "one group less" else groups * 2
        return {**saved, "param_groups": changed}, "state_dict['param_groups'] must hold 2"
    if change == "a parameter less":
        groups[0]["params"].pop()
        return saved, "param_groups[0]['params'] must list"
    if change == "a repeated id":
        groups[1]["params"][0] = groups[0]["params"][0]
        return saved, "param_groups[1]['params'][0] must be a new parameter id"
    if change == "an unhashable id":
        groups[0]["params"][0] = [0]
        return saved, "param_groups[0]['params'][0] must be a parameter id"
    if change == "state for no parameter":
        state[999] = {}
        return saved, "state_dict['state'] is keyed by the saved parameter ids, got 999"
    state[0] = 1.0  # a state that is not a dict
    return saved, "state of param_groups[0]['params'][0]: the state must be a dict"


@each_optimizer()
@pytest.mark.parametrize(
    "change",
    [
        "not a dict",
        "no state",
        "groups not a list",
        "one group less",
        "a group more",
        "a parameter less",
        "a repeated id",
        "an unhashable id",
        "state for no parameter",
        "a state not a dict",
    ],
)
def test_state_dicts_of_another_structure_are_rejected(info, change, trained):
    params, optimizer = trained(info)
    saved, says = restructured(optimizer.state_dict(), change)
    assert_load_rejected(optimizer, params, saved, (TypeError, ValueError), says)


@each_optimizer()
def test_loads_its_own_state_with_frozen_parameters(info, trained, make_grads):
    """A parameter that never had a gradient has no state, before and after; the rest
    continues as if uninterrupted (in the saved dtype, on the parameter's device)."""
    params, optimizer = trained(info)
    twin_params, twin = trained(info, seed=5)
    twin.load_state_dict(copy.deepcopy(optimizer.state_dict()))  # as from a file
    for p, q in zip(params, twin_params, strict=True):
        q.data.copy_(p.detach())
    assert params[FROZEN] not in optimizer.state and twin_params[FROZEN] not in twin.state
    grads = make_grads(params, 2, seed=9)
    step_with(optimizer, params, grads)
    step_with(twin, twin_params, grads)
    assert_identical((params, optimizer.state), (twin_params, twin.state))


@each_optimizer()
def test_state_tensors_are_made_contiguous(info, trained):
    """Strided state, or expanded state (elements sharing memory), loads as a dense copy."""
    params, optimizer = trained(info)
    key = next(k for k in info.state_keys if k in optimizer.state[params[TARGET]] and k != "RMS")
    value = optimizer.state[params[TARGET]][key].clone()
    strided = value.new_zeros(*value.shape, 2)[..., 0].copy_(value)
    expanded = value.view(-1)[:1].expand(value.shape)
    for layout in (strided, expanded):
        assert not layout.is_contiguous()
        saved, _ = altered(
            optimizer, params, lambda state, layout=layout: state.update({key: layout})
        )
        optimizer.load_state_dict(saved)
        loaded = optimizer.state[params[TARGET]][key]
        assert loaded.is_contiguous() and torch.equal(loaded, layout)
