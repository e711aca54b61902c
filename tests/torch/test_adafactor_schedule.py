"""``AdafactorSchedule``: transformers' reported lrs, as floats, without touching the optimizer."""

from __future__ import annotations

import io
import re

import pytest

torch = pytest.importorskip("torch")

from torch.optim.lr_scheduler import LRScheduler  # noqa: E402

from cases.torch_optimizers import ADAFACTOR_CONFIGS, ADAFACTOR_SHAPES  # noqa: E402
from stepsize.torch import Adafactor, AdafactorSchedule, get_adafactor_schedule  # noqa: E402

STEPS = 12


def _params(dtype=torch.float64):
    g = torch.Generator().manual_seed(0)
    return [
        torch.nn.Parameter(torch.randn(s, generator=g, dtype=torch.float64).to(dtype))
        for s in ADAFACTOR_SHAPES
    ]


def _train(optimizer, params, scheduler=None, steps=STEPS):
    """Step with seeded gradients; the scheduler's get_last_lr() after each step."""
    g = torch.Generator().manual_seed(1)
    seen = []
    for _ in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, generator=g, dtype=torch.float64).to(p.dtype)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
            seen.append(scheduler.get_last_lr())
        optimizer.zero_grad()
    return seen


# With a manual lr, transformers' schedule rewrites group["lr"] (test_manual_lr_keeps_working).
RELATIVE = [
    n for n in ADAFACTOR_CONFIGS if n.endswith("beta1None-clip1.0-wd0.0") and "manual" not in n
]


@pytest.mark.parametrize("name", RELATIVE)
def test_reports_transformers_lrs_as_floats(name):
    hf = pytest.importorskip("transformers.optimization")
    config = ADAFACTOR_CONFIGS[name]
    ours, theirs = _params(), _params()
    our_opt = Adafactor([{"params": ours[:2]}, {"params": ours[2:]}], **config)
    their_opt = hf.Adafactor([{"params": theirs[:2]}, {"params": theirs[2:]}], **config)
    our_sched = AdafactorSchedule(our_opt, initial_lr=1e-3)
    their_sched = hf.AdafactorSchedule(their_opt, initial_lr=1e-3)
    assert our_sched.get_last_lr() == [1e-3, 1e-3]
    g = torch.Generator().manual_seed(1)
    for _ in range(STEPS):
        for p, q in zip(ours, theirs, strict=True):
            p.grad = torch.randn(p.shape, generator=g, dtype=torch.float64)
            q.grad = p.grad.clone()
        our_opt.step()
        their_opt.step()
        our_sched.step()
        their_sched.step()  # reads the gradients: before zero_grad
        mine, expected = our_sched.get_last_lr(), their_sched.get_last_lr()
        assert all(type(lr) is float for lr in mine)
        assert mine == pytest.approx([float(lr) for lr in expected], rel=1e-12)
        our_opt.zero_grad()
        their_opt.zero_grad()
    # Also for transformers' optimizer: the same keys and state, reported as floats.
    assert AdafactorSchedule(their_opt).get_lr() == pytest.approx(mine, rel=1e-12)


def test_effective_lr_is_that_of_the_groups_first_updated_parameter():
    params = _params()
    optimizer = Adafactor([{"params": params[:2]}, {"params": params[2:]}, {"params": []}])
    scheduler = AdafactorSchedule(optimizer, initial_lr=0.5)
    params[0].grad = torch.ones_like(params[0])  # group 0: its first parameter
    params[3].grad = torch.ones_like(params[3])  # group 1: its second parameter only
    optimizer.step()
    scheduler.step()
    rms = [optimizer.state[params[i]]["RMS"].item() for i in (0, 3)]
    assert scheduler.get_last_lr() == [
        pytest.approx(1e-2 * max(1e-3, rms[0]), rel=1e-12),
        pytest.approx(1e-2 * max(1e-3, rms[1]), rel=1e-12),
        0.5,  # a group that never stepped reports initial_lr
    ]
    assert rms[0] != rms[1]


@pytest.mark.parametrize("scale_parameter", [True, False])
def test_manual_lr_keeps_working(scale_parameter):
    config = {"lr": 1e-2, "relative_step": False, "scale_parameter": scale_parameter}
    with_schedule, without = _params(), _params()
    optimizer = Adafactor(with_schedule, **config)
    scheduler = AdafactorSchedule(optimizer)
    assert optimizer.param_groups[0]["lr"] == 1e-2  # not set to initial_lr = 0.0
    seen = _train(optimizer, with_schedule, scheduler)
    _train(Adafactor(without, **config), without)
    for p, q in zip(with_schedule, without, strict=True):
        assert torch.equal(p.detach(), q.detach())
    assert optimizer.param_groups[0]["lr"] == 1e-2
    assert "initial_lr" not in optimizer.param_groups[0]
    state = optimizer.state[with_schedule[0]]
    # transformers' schedule sets the lr to initial_lr (0.0): its parameters never move.
    hf = pytest.importorskip("transformers.optimization")
    theirs, start = _params(), _params()
    their_opt = hf.Adafactor(theirs, **config)
    _train(their_opt, theirs, hf.AdafactorSchedule(their_opt))
    assert all(torch.equal(p.detach(), q.detach()) for p, q in zip(theirs, start, strict=True))
    expected = 1e-2 * max(1e-3, state["RMS"].item()) if scale_parameter else 1e-2
    assert seen[-1] == [pytest.approx(expected, rel=1e-12)]


@pytest.mark.parametrize("foreach", [None, False])
def test_relative_step_training_is_unchanged_by_the_schedule(foreach):
    with_schedule, without = _params(torch.float32), _params(torch.float32)
    optimizer = Adafactor(with_schedule, warmup_init=True, foreach=foreach)
    scheduler = get_adafactor_schedule(optimizer, initial_lr=1e-6)
    assert isinstance(scheduler, AdafactorSchedule)
    assert isinstance(scheduler, LRScheduler)
    assert scheduler.get_last_lr() == [1e-6]
    seen = _train(optimizer, with_schedule, scheduler)
    _train(Adafactor(without, warmup_init=True, foreach=foreach), without)
    for p, q in zip(with_schedule, without, strict=True):
        assert torch.equal(p.detach(), q.detach())
    assert optimizer.param_groups[0]["lr"] is None
    # warmup_init: ρ = 1e-6·step, scaled by RMS(p) of the group's first parameter.
    rms = optimizer.state[with_schedule[0]]["RMS"].item()
    assert seen[-1] == [pytest.approx(1e-6 * STEPS * max(1e-3, rms), rel=1e-6)]
    assert scheduler.last_epoch == STEPS


def test_state_dict_loads_with_weights_only_and_resumes():
    params = _params()
    optimizer = Adafactor(params)
    scheduler = AdafactorSchedule(optimizer, initial_lr=1e-4)
    _train(optimizer, params, scheduler, steps=5)
    buffer = io.BytesIO()
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)

    resumed_params = [torch.nn.Parameter(p.detach().clone()) for p in params]
    resumed_opt = Adafactor(resumed_params)
    resumed = AdafactorSchedule(resumed_opt, initial_lr=1e-4)
    resumed_opt.load_state_dict(saved["optimizer"])
    resumed.load_state_dict(saved["scheduler"])
    assert resumed.get_last_lr() == scheduler.get_last_lr()
    assert resumed.get_lr() == scheduler.get_lr()  # from the optimizer state, no gradients
    assert resumed.last_epoch == scheduler.last_epoch == 5
    assert _train(resumed_opt, resumed_params, resumed, 3) == _train(
        optimizer, params, scheduler, 3
    )


@pytest.mark.parametrize(
    ("optimizer", "initial_lr", "error", "message"),
    [("not an optimizer", 0.0, TypeError,
      "optimizer must be an Adafactor optimizer, got 'not an optimizer' (str)"),
     ("sgd", 0.0, TypeError, "optimizer must be an Adafactor optimizer, got a SGD whose param "
      "groups lack ['eps', 'scale_parameter', 'relative_step', 'warmup_init']"),
     ("adafactor", -1.0, ValueError, "initial_lr must be a finite number >= 0.0, got -1.0"),
     ("adafactor", float("nan"), ValueError, "initial_lr must be a finite number >= 0.0, got nan"),
     ("adafactor", float("inf"), ValueError, "initial_lr must be a finite number >= 0.0, got inf"),
     ("adafactor", "x", TypeError, "initial_lr must be a real number, got 'x' (str)"),
     ("adafactor", None, TypeError, "initial_lr must be a real number, got None")],
)  # fmt: skip
def test_invalid_arguments(optimizer, initial_lr, error, message):
    param = torch.nn.Parameter(torch.ones(2))
    if optimizer == "sgd":
        optimizer = torch.optim.SGD([param], lr=0.1)
    elif optimizer == "adafactor":
        optimizer = Adafactor([param])
    with pytest.raises(error, match=re.escape(message)):
        AdafactorSchedule(optimizer, initial_lr=initial_lr)


@pytest.mark.parametrize(("epoch", "error"), [(-1, ValueError), (2.5, TypeError)])
def test_step_checks_the_epoch(epoch, error):
    scheduler = AdafactorSchedule(Adafactor([torch.nn.Parameter(torch.ones(2))]))
    with pytest.raises(error, match="epoch must be an integer"):
        scheduler.step(epoch)
    assert (scheduler.last_epoch, scheduler._step_count) == (0, 1)


def test_loads_transformers_state():
    hf = pytest.importorskip("transformers.optimization")
    params = _params()
    their_opt = hf.Adafactor(params)
    theirs = hf.AdafactorSchedule(their_opt, initial_lr=1e-3)
    _train(their_opt, params, theirs, steps=3)
    ours = AdafactorSchedule(Adafactor(_params()), initial_lr=1e-3)
    ours.load_state_dict(theirs.state_dict())
    assert ours.last_epoch == theirs.last_epoch == 3
    assert ours.get_last_lr() == pytest.approx([float(lr) for lr in theirs.get_last_lr()])
    assert all(type(lr) is float for lr in ours.get_last_lr())
