"""The state dict checks shared by the torch optimizers (``_state_validation``), on their own:
step counts, a description with an entry only some groups need, the shape check of a step.

Every optimizer's ``load_state_dict`` against it is in ``test_optimizer_contract_load.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from stepsize.torch._optimizer_base import ClosureOptimizer  # noqa: E402
from stepsize.torch._state_validation import (  # noqa: E402
    StateDescription,
    StateEntry,
    check_shapes,
    param_shape,
)


def _same_dtype(p):
    return p.dtype


class Compensated(ClosureOptimizer):
    """A toy optimizer whose state has a moment and, in groups with ``compensate``, a
    compensation buffer: one more entry of its description."""

    _state_description = StateDescription(
        entries={
            "moment": StateEntry(param_shape, _same_dtype, low=0.0),
            "compensation": StateEntry(
                param_shape, _same_dtype, needed=lambda group, p: group["compensate"]
            ),
        },
        step=int,
    )
    _kept_options = ("compensate",)

    def __init__(self, params, lr=0.1, compensate=False):
        super().__init__(params, {"lr": lr, "compensate": compensate})

    def _check_group(self, group):
        if not isinstance(group["compensate"], bool):
            raise TypeError(f"compensate must be True or False, got {group['compensate']!r}")
        return {}

    def _update(self):
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                state.setdefault("step", 0)
                state.setdefault("moment", torch.zeros_like(p))
                if group["compensate"]:
                    state.setdefault("compensation", torch.zeros_like(p))
                state["step"] += 1


def _saved(compensate, step=3):
    p = torch.nn.Parameter(torch.ones(2, 3))
    optimizer = Compensated([p], compensate=compensate)
    optimizer.step()
    saved = optimizer.state_dict()
    saved["state"][0]["step"] = step
    return saved


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (0, 0),
        (5, 5),
        (5.0, 5),
        (np.int64(5), 5),
        (np.float32(5.0), 5),
        (torch.tensor(5), 5),
        (torch.tensor(5.0, dtype=torch.float64), 5),
        (torch.tensor(2.0**63), 2**63),
    ],
    ids=repr,
)
def test_steps_load_as_ints(step, expected):
    p = torch.nn.Parameter(torch.ones(2, 3))
    optimizer = Compensated([p])
    optimizer.load_state_dict(_saved(False, step))
    assert optimizer.state[p]["step"] == expected and type(optimizer.state[p]["step"]) is int


@pytest.mark.parametrize(
    ("step", "error", "says"),
    [
        (-1, ValueError, "step must be an integer >= 0, got -1"),
        (2**63 + 1, ValueError, "step must be an integer <= 9223372036854775808"),
        (math.nan, ValueError, "step must be a whole number >= 0, got nan"),
        (np.float64(0.5), ValueError, "step must be a whole number >= 0, got np.float64(0.5)"),
        ("3", TypeError, "step must be an integer, got '3' (str)"),
        (False, TypeError, "step must be an integer, got False (bool)"),
        (torch.tensor(3 + 0j), TypeError, "step must be a number or a 0-d real tensor"),
    ],
    ids=repr,
)
def test_invalid_steps(step, error, says):
    optimizer = Compensated([torch.nn.Parameter(torch.ones(2, 3))])
    with pytest.raises(error) as raised:
        optimizer.load_state_dict(_saved(False, step))
    assert str(raised.value).startswith(f"state of param_groups[0]['params'][0]: {says}")
    assert not optimizer.state


def test_an_entry_is_needed_where_its_group_says_so():
    with_buffer, without = _saved(True), _saved(False)
    for loaded, compensate in ((with_buffer, True), (without, False)):
        p = torch.nn.Parameter(torch.ones(2, 3))
        optimizer = Compensated([p], compensate=not compensate)
        optimizer.load_state_dict(loaded)  # the saved group's option wins
        assert optimizer.param_groups[0]["compensate"] is compensate
        assert ("compensation" in optimizer.state[p]) is compensate
    without["param_groups"][0]["compensate"] = True
    optimizer = Compensated([torch.nn.Parameter(torch.ones(2, 3))])
    with pytest.raises(ValueError, match=r"compensation is missing \(the state has step, moment\)"):
        optimizer.load_state_dict(without)
    del without["param_groups"][0]["compensate"]  # a kept option: the optimizer's value
    optimizer.load_state_dict(without)
    assert optimizer.param_groups[0]["compensate"] is False


def test_options_are_checked_by_the_optimizer():
    saved = _saved(False)
    saved["param_groups"][0]["compensate"] = "yes"
    optimizer = Compensated([torch.nn.Parameter(torch.ones(2, 3))])
    with pytest.raises(TypeError, match=r"^param_groups\[0\]: compensate must be True or False"):
        optimizer.load_state_dict(saved)


def test_load_hooks_run_around_the_checks():
    calls = []
    optimizer = Compensated([torch.nn.Parameter(torch.ones(2, 3))])
    optimizer.register_load_state_dict_pre_hook(lambda opt, sd: calls.append("pre"))
    optimizer.register_load_state_dict_post_hook(lambda opt: calls.append("post"))
    saved = _saved(False, step=-1)
    with pytest.raises(ValueError):
        optimizer.load_state_dict(saved)
    assert calls == ["pre"]
    saved["state"][0]["step"] = 1
    optimizer.load_state_dict(saved)
    assert calls == ["pre", "pre", "post"]


def test_check_shapes():
    p = torch.ones(2, 3)
    description = Compensated._state_description
    check_shapes(description, p, {"step": 1, "moment": torch.zeros(2, 3)})
    with pytest.raises(ValueError, match=r"^moment has shape \(3, 2\), the parameter \(2, 3\): "):
        check_shapes(description, p, {"moment": torch.zeros(3, 2)})
