"""Param groups added to the optimizer after its scheduler was created are scheduled from their
own lr, and the state dicts grow with them."""

from __future__ import annotations

import math
import re

import pytest

torch = pytest.importorskip("torch")

from cases import scheduler_states as cases  # noqa: E402
from stepsize import schedules  # noqa: E402
from stepsize.torch import Adafactor, AdafactorSchedule, GreedyLR, ScheduledLR  # noqa: E402

LINEAR = schedules.get("linear", num_warmup_steps=2, num_training_steps=10)
COSINE = schedules.get("cosine", num_warmup_steps=1, num_training_steps=8)


def _add_group(optimizer, lr):
    optimizer.add_param_group({"params": [torch.nn.Parameter(torch.ones(2))], "lr": lr})


def _step(optimizer, scheduler, *args):
    optimizer.step()
    scheduler.step(*args)
    return [float(lr) for lr in scheduler.get_last_lr()]


@pytest.mark.parametrize("per_group", [False, True], ids=["one_schedule", "equal_list"])
def test_scheduled_lr_schedules_a_new_group_from_its_own_lr(per_group):
    optimizer = cases.optimizer((1.0,))
    scheduler = ScheduledLR(optimizer, [LINEAR] if per_group else LINEAR)
    for _ in range(2):
        _step(optimizer, scheduler)
    _add_group(optimizer, 0.5)
    assert _step(optimizer, scheduler) == [LINEAR(3), 0.5 * LINEAR(3)]
    assert optimizer.param_groups[1]["initial_lr"] == 0.5  # as torch records it
    assert scheduler.base_lrs == [1.0, 0.5]
    state = scheduler.state_dict()
    assert len(state["schedules"]) == len(state["_last_lr"]) == 2

    resumed_optimizer = cases.optimizer((1.0, 0.5))
    resumed = ScheduledLR(resumed_optimizer, COSINE)
    resumed_optimizer.load_state_dict(optimizer.state_dict())
    resumed.load_state_dict(state)
    assert _step(resumed_optimizer, resumed) == _step(optimizer, scheduler)


def test_scheduled_lr_with_different_schedules_needs_one_for_the_new_group():
    optimizer = cases.optimizer()
    scheduler = ScheduledLR(optimizer, [LINEAR, COSINE])
    _add_group(optimizer, 0.5)
    before = cases.snapshot(scheduler)
    message = ("schedule must be the same for every param group to extend it to param group 2, "
               "added to the optimizer later, got [")  # fmt: skip
    for action in (scheduler.step, scheduler.state_dict):
        with pytest.raises(ValueError, match=re.escape(message)) as info:
            action()
        assert "append a schedule for the new group to scheduler.schedules" in str(info.value)
        assert cases.snapshot(scheduler) == before
    scheduler.schedules.append(COSINE)
    assert _step(optimizer, scheduler)[2] == 0.5 * COSINE(1)
    scheduler.schedules.append("linear")
    _add_group(optimizer, 0.5)
    with pytest.raises(TypeError, match=re.escape("schedules[3] must be a stepsize.schedules")):
        scheduler.step()


def test_scheduled_lr_new_group_with_a_tensor_lr_or_a_bad_lr():
    optimizer = cases.optimizer()
    scheduler = ScheduledLR(optimizer, LINEAR)
    lr = torch.tensor(0.25)
    _add_group(optimizer, lr)
    _step(optimizer, scheduler)
    assert optimizer.param_groups[2]["lr"] is lr  # updated in place
    assert float(lr) == 0.25 * LINEAR(1)
    _add_group(optimizer, 0.5)
    optimizer.param_groups[3]["lr"] = math.nan
    with pytest.raises(ValueError, match=re.escape("param_groups[3]['lr'] must be a finite")):
        scheduler.step()


def test_greedy_extends_its_shared_bounds_and_initial_lrs():
    optimizer = cases.optimizer((0.1,))
    scheduler = GreedyLR(optimizer, factor=0.5, patience=0, min_lr=0.01, max_lr=0.4,
                         reset_start=1)  # fmt: skip
    scheduler.step(1.0)  # improvement: 0.2
    _add_group(optimizer, 0.3)
    scheduler.step(0.5)  # improvement: both raised, within max_lr
    assert scheduler.get_last_lr() == [0.4, 0.4]
    assert (scheduler.min_lrs, scheduler.max_lrs) == ([0.01, 0.01], [0.4, 0.4])
    for _ in range(6):
        scheduler.step(2.0)
    # lowered to the floor, then reset to each group's initial lr
    assert scheduler._init_lrs == [0.1, 0.3]
    assert scheduler.get_last_lr() == [0.1, 0.3]
    assert len(scheduler.state_dict()["_init_lrs"]) == 2


def test_greedy_with_per_group_bounds_needs_the_new_groups_bounds():
    optimizer = cases.optimizer()
    scheduler = GreedyLR(optimizer, min_lr=[0.001, 0.002])
    _add_group(optimizer, 0.5)
    before = cases.snapshot(scheduler)
    with pytest.raises(ValueError, match=re.escape("min_lrs must be the same for every param")):
        scheduler.step(1.0)
    assert cases.snapshot(scheduler) == before
    scheduler.min_lrs.append(0.003)
    scheduler.step(1.0)
    assert (scheduler.min_lrs, scheduler.max_lrs) == ([0.001, 0.002, 0.003], [1.0] * 3)
    scheduler.max_lrs.append(0.001)
    _add_group(optimizer, 0.5)
    scheduler.min_lrs.append(0.002)
    with pytest.raises(ValueError, match=r"min_lr 0\.002 is above max_lr 0\.001 for param group 3"):
        scheduler.step(1.0)


def test_adafactor_schedule_reports_a_new_group():
    params = [torch.nn.Parameter(torch.ones(2, 3))]
    optimizer = Adafactor(params)
    scheduler = AdafactorSchedule(optimizer, initial_lr=1e-3)
    optimizer.add_param_group({"params": [torch.nn.Parameter(torch.ones(3))]})
    for p in (params[0], optimizer.param_groups[1]["params"][0]):
        p.grad = torch.ones_like(p)
    optimizer.step()
    scheduler.step()
    assert len(scheduler.get_last_lr()) == len(scheduler.base_lrs) == 2
    assert scheduler.get_last_lr()[1] == pytest.approx(1e-2)  # ρ·max(eps2, RMS(p)) = 0.01·1


def test_removed_param_groups_are_an_error():
    for make in (lambda opt: ScheduledLR(opt, LINEAR), lambda opt: GreedyLR(opt, min_lr=1e-4)):
        optimizer = cases.optimizer()
        scheduler = make(optimizer)
        del optimizer.param_groups[1]
        with pytest.raises(ValueError, match="the optimizer must keep its 2 param groups, got 1"):
            scheduler.state_dict()
