"""``ScheduledLR`` against torch's ``LambdaLR``, and its weights_only-loadable state."""

from __future__ import annotations

import json
import re
import warnings

import pytest

torch = pytest.importorskip("torch")

from torch.optim.lr_scheduler import LambdaLR  # noqa: E402

from stepsize import schedules  # noqa: E402
from stepsize.torch import ScheduledLR  # noqa: E402

LINEAR = schedules.get("linear", num_warmup_steps=3, num_training_steps=12)
COSINE = schedules.get("cosine", num_warmup_steps=2, num_training_steps=12, num_cycles=0.75)
WSD = schedules.get("warmup_stable_decay", num_warmup_steps=2, num_decay_steps=4,
                    num_stable_steps=3, decay_type="1-sqrt", min_lr_ratio=0.1)  # fmt: skip


def _optimizer(lrs=(10.0, 2.0)):
    groups = [{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in lrs]
    return torch.optim.AdamW(groups, lr=lrs[0])


def _steps(optimizer, scheduler, n):
    seen = []
    for _ in range(n):
        optimizer.step()
        scheduler.step()
        seen.append(list(scheduler.get_last_lr()))
    return seen


@pytest.mark.parametrize("schedule", [LINEAR, COSINE, WSD], ids=lambda s: s.name)
def test_equals_lambda_lr(schedule):
    opt_a, opt_b = _optimizer(), _optimizer()
    ours = ScheduledLR(opt_a, schedule)
    torchs = LambdaLR(opt_b, lambda t: schedule(t))
    assert ours.get_last_lr() == torchs.get_last_lr()
    assert ours.base_lrs == torchs.base_lrs == [10.0, 2.0]
    assert _steps(opt_a, ours, 15) == _steps(opt_b, torchs, 15)
    assert ours.last_epoch == torchs.last_epoch == 15
    assert [g["lr"] for g in opt_a.param_groups] == [g["lr"] for g in opt_b.param_groups]


def test_one_schedule_per_group():
    opt_a, opt_b = _optimizer(), _optimizer()
    ours = ScheduledLR(opt_a, [LINEAR, COSINE])
    torchs = LambdaLR(opt_b, [lambda t: LINEAR(t), lambda t: COSINE(t)])
    assert _steps(opt_a, ours, 14) == _steps(opt_b, torchs, 14)


def test_closed_form_ignores_manual_lr_changes():
    optimizer = _optimizer()
    scheduler = ScheduledLR(optimizer, LINEAR)
    _steps(optimizer, scheduler, 4)
    optimizer.param_groups[0]["lr"] = 123.0  # e.g. an lr finder poking the optimizer
    optimizer.step()
    scheduler.step()
    assert scheduler.get_last_lr() == [10.0 * LINEAR(5), 2.0 * LINEAR(5)]


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (("not an optimizer", LINEAR), TypeError,
         "optimizer must be a torch.optim.Optimizer, got 'not an optimizer' (str)"),
        ((None, lambda t: 1.0), TypeError, "schedule must be a stepsize.schedules.Schedule"),
        ((None, "linear"), TypeError, "schedule must be a stepsize.schedules.Schedule"),
        ((None, [LINEAR]), ValueError,
         "schedule must hold 2 schedules (one per param group), got 1"),
        ((None, [LINEAR, LINEAR, LINEAR]), ValueError, "schedule must hold 2 schedules"),
        ((None, [LINEAR, "linear"]), TypeError, "schedule[1] must be a stepsize.schedules."),
        ((None, LINEAR, -2), ValueError, "last_epoch must be an integer >= -1, got -2"),
        ((None, LINEAR, 1.5), TypeError, "last_epoch must be an integer, got 1.5 (float)"),
        ((None, LINEAR, None), TypeError, "last_epoch must be an integer, got None"),
        ((None, LINEAR, True), TypeError, "last_epoch must be an integer, got True (bool)"),
        ((None, LINEAR, 2**63 + 1), ValueError, "last_epoch must be an integer <= 2**63"),
        ((float("nan"), LINEAR), ValueError,
         "param_groups[0]['lr'] must be a finite number >= 0.0, got nan"),
        ((-0.5, LINEAR), ValueError,
         "param_groups[0]['lr'] must be a finite number >= 0.0, got -0.5"),
        ((float("inf"), LINEAR), ValueError,
         "param_groups[0]['lr'] must be a finite number >= 0.0, got inf"),
        ((None, LINEAR, 3), ValueError,
         "param_groups[0] must hold 'initial_lr' to resume at last_epoch=3: load the"),
    ],
)  # fmt: skip
def test_bad_arguments(args, error, message):
    first = args[0]
    if first is None or isinstance(first, float):  # an optimizer; a float: its first group's lr
        optimizer = _optimizer()
        if first is not None:  # set after construction: the optimizer itself would refuse it
            optimizer.param_groups[0]["lr"] = first
        args = (optimizer, *args[1:])
    with pytest.raises(Exception) as info:
        ScheduledLR(*args)
    assert type(info.value) is error
    assert str(info.value).strip('"').replace(str(2**63), "2**63").startswith(message)


def test_resuming_checks_the_initial_lr():
    optimizer = _optimizer()
    optimizer.param_groups[1]["initial_lr"] = float("nan")
    optimizer.param_groups[0]["initial_lr"] = 1.0
    with pytest.raises(ValueError, match=r"param_groups\[1\]\['initial_lr'\] must be a finite"):
        ScheduledLR(optimizer, LINEAR, last_epoch=3)


@pytest.mark.parametrize(
    ("epoch", "error", "message"),
    [(-1, ValueError, "epoch must be an integer >= 0, got -1"),
     (2.0, TypeError, "epoch must be an integer, got 2.0 (float)"),
     ("3", TypeError, "epoch must be an integer, got '3' (str)")],
)  # fmt: skip
def test_step_checks_the_epoch(epoch, error, message):
    scheduler = ScheduledLR(_optimizer(), LINEAR)
    with pytest.raises(error, match=re.escape(message)):
        scheduler.step(epoch)
    assert scheduler.last_epoch == 0


def test_an_lr_that_overflows_is_an_error_not_inf():
    # a schedule above 1 (Scale) times a huge base lr: inf would reach the optimizer
    tenfold = schedules.Scale(schedules.get("constant"), 10)
    with pytest.raises(ValueError, match=re.escape("base_lrs[0] · schedule(0) must be finite")):
        ScheduledLR(_optimizer((1e308, 1.0)), tenfold)


def test_state_dict_is_plain_data():
    optimizer = _optimizer()
    scheduler = ScheduledLR(optimizer, [LINEAR, WSD])
    _steps(optimizer, scheduler, 3)
    state = scheduler.state_dict()
    assert json.loads(json.dumps(state)) == state
    assert state["schedules"] == [LINEAR.get_config(), WSD.get_config()]
    assert state["last_epoch"] == 3


def _save_load(tmp_path, obj):
    path = tmp_path / "state.pt"
    torch.save(obj, path)
    return torch.load(path, weights_only=True)


@pytest.mark.parametrize("split", [0, 1, 5, 13])
def test_weights_only_round_trip_resumes_exactly(tmp_path, split):
    optimizer = _optimizer()
    scheduler = ScheduledLR(optimizer, [COSINE, WSD])
    _steps(optimizer, scheduler, split)
    saved = _save_load(tmp_path, {"opt": optimizer.state_dict(), "sched": scheduler.state_dict()})
    at_split = list(scheduler.get_last_lr())
    expected = _steps(optimizer, scheduler, 16 - split)

    fresh_optimizer = _optimizer()
    # built with another schedule: the checkpoint's schedules replace it
    fresh = ScheduledLR(fresh_optimizer, LINEAR)
    fresh_optimizer.load_state_dict(saved["opt"])
    fresh.load_state_dict(saved["sched"])
    assert fresh.schedules == [COSINE, WSD]
    assert fresh.get_last_lr() == at_split
    assert _steps(fresh_optimizer, fresh, 16 - split) == expected


def test_load_rejects_a_state_for_another_group_count():
    optimizer = _optimizer()
    state = ScheduledLR(optimizer, LINEAR).state_dict()
    with pytest.raises(ValueError, match=r"state_dict\['base_lrs'\] must hold 1 values"):
        ScheduledLR(_optimizer(lrs=(1.0,)), LINEAR).load_state_dict(state)


@pytest.mark.parametrize("k", [0, 4, 20])
def test_last_epoch_resume_behaves_like_lambda_lr(k):
    # as torch documents: resuming needs initial_lr in the param groups, and
    # construction with last_epoch=k steps to k + 1
    opt_a, opt_b = _optimizer(), _optimizer()
    for opt in (opt_a, opt_b):
        for group in opt.param_groups:
            group["initial_lr"] = group["lr"]
            group["lr"] = 0.0
    ours = ScheduledLR(opt_a, WSD, last_epoch=k)
    torchs = LambdaLR(opt_b, lambda t: WSD(t), last_epoch=k)
    assert ours.last_epoch == torchs.last_epoch == k + 1
    assert ours.get_last_lr() == torchs.get_last_lr()
    assert _steps(opt_a, ours, 8) == _steps(opt_b, torchs, 8)


def test_last_epoch_resume_without_initial_lr_is_a_value_error():
    # torch raises KeyError; the missing entry is a bad value of the optimizer
    with pytest.raises(ValueError, match="must hold 'initial_lr' to resume"):
        ScheduledLR(_optimizer(), LINEAR, last_epoch=3)


def test_resume_from_checkpointed_optimizer_with_last_epoch():
    optimizer = _optimizer()
    scheduler = ScheduledLR(optimizer, COSINE)
    _steps(optimizer, scheduler, 5)
    expected = _steps(optimizer, scheduler, 6)
    fresh_optimizer = _optimizer()
    state = optimizer.state_dict()
    fresh_optimizer.load_state_dict(state)  # carries initial_lr
    # the optimizer state is from step 11; resume as if it were taken at step 5
    fresh = ScheduledLR(fresh_optimizer, COSINE, last_epoch=4)
    assert fresh.get_last_lr() == [10.0 * COSINE(5), 2.0 * COSINE(5)]
    assert _steps(fresh_optimizer, fresh, 6) == expected


def test_loads_a_transformers_lambda_lr_checkpoint(tmp_path):
    hf = pytest.importorskip("transformers.optimization")
    opt_hf = _optimizer()
    theirs = hf.get_cosine_schedule_with_warmup(opt_hf, 2, 12, num_cycles=0.75)
    _steps(opt_hf, theirs, 4)
    saved = _save_load(tmp_path, {"opt": opt_hf.state_dict(), "sched": theirs.state_dict()})
    expected = _steps(opt_hf, theirs, 8)

    optimizer = _optimizer()
    ours = ScheduledLR(optimizer, COSINE)
    optimizer.load_state_dict(saved["opt"])
    ours.load_state_dict(saved["sched"])
    assert ours.last_epoch == 4
    assert ours.schedules == [COSINE, COSINE]
    for a, b in zip(_steps(optimizer, ours, 8), expected, strict=True):
        assert a == pytest.approx(b, rel=1e-12)


def test_step_with_epoch_uses_the_closed_form():
    opt_a, opt_b = _optimizer(), _optimizer()
    ours = ScheduledLR(opt_a, COSINE)
    torchs = LambdaLR(opt_b, lambda t: COSINE(t))
    opt_a.step()
    opt_b.step()
    with pytest.warns(UserWarning):
        ours.step(7)
    with pytest.warns(UserWarning):
        torchs.step(7)
    assert ours.get_last_lr() == torchs.get_last_lr() == [10.0 * COSINE(7), 2.0 * COSINE(7)]


def test_get_lr_outside_step_warns_like_lambda_lr():
    scheduler = ScheduledLR(_optimizer(), LINEAR)
    with pytest.warns(UserWarning, match="get_last_lr"):
        assert scheduler.get_lr() == [0.0, 0.0]


def test_tensor_lr_is_updated_in_place(tmp_path):
    lr = torch.tensor(0.5)
    optimizer = torch.optim.AdamW([torch.zeros(2, requires_grad=True)], lr=lr)
    scheduler = ScheduledLR(optimizer, LINEAR)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        seen = _steps(optimizer, scheduler, 5)
    assert optimizer.param_groups[0]["lr"] is lr
    assert [float(s[0]) for s in seen] == pytest.approx([0.5 * LINEAR(t) for t in range(1, 6)])
    state = _save_load(tmp_path, scheduler.state_dict())
    assert state["last_epoch"] == 5


def test_param_group_without_lr_raises_value_error_naming_lr():
    param = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([param], lr=1.0)
    optimizer.param_groups[0]["lr"] = None  # as Adafactor(lr=None) leaves it
    with pytest.raises(ValueError, match="lr=None"):
        ScheduledLR(optimizer, schedules.get("constant"))
