"""``GreedyLR``'s arguments: TypeError for a wrong type, ValueError for a bad value, each
naming the argument and the value."""

from __future__ import annotations

import math
import re

import pytest

torch = pytest.importorskip("torch")

from stepsize.torch import GreedyLR  # noqa: E402


def _optimizer(lrs=(0.1,)):
    groups = [{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in lrs]
    return torch.optim.SGD(groups, lr=lrs[0])


@pytest.mark.parametrize("argument", ["min_lr", "max_lr"])
@pytest.mark.parametrize("values", [[0.1], (0.1, 0.2, 0.3)])
def test_wrong_number_of_bounds(argument, values):
    message = f"{argument} must hold 2 values, got {values!r}"
    with pytest.raises(ValueError, match=re.escape(message)):
        GreedyLR(_optimizer((0.5, 0.2)), **{argument: values})


def test_bounds_may_be_tuples():
    scheduler = GreedyLR(_optimizer((0.5, 0.2)), min_lr=(0.01, 0.02), max_lr=(0.8, 0.9))
    assert (scheduler.min_lrs, scheduler.max_lrs) == ([0.01, 0.02], [0.8, 0.9])


def test_infinite_max_lr_is_refused_so_the_lr_stays_finite():
    # transformers accepts max_lr=inf, and a long run of improvements takes the lr to inf
    with pytest.raises(
        ValueError, match=re.escape("max_lr must be a finite number >= 0.0, got inf")
    ):
        GreedyLR(_optimizer(), max_lr=math.inf)
    # the largest finite bound holds even where lr / factor overflows
    scheduler = GreedyLR(_optimizer(), factor=1e-300, patience=0, min_lr=0.0, max_lr=1e308)
    for metric in range(10, 0, -1):
        scheduler.step(float(metric))
        assert math.isfinite(scheduler.get_last_lr()[0])
    assert scheduler.get_last_lr() == [1e308]


# (argument, value, exception, the start of the message); every other argument is valid.
BAD_ARGUMENTS = [
    ("factor", 1.0, ValueError, "factor must be a finite number in (0.0, 1.0), got 1.0"),
    ("factor", 1.5, ValueError, "factor must be a finite number in (0.0, 1.0)"),
    ("factor", 0.0, ValueError, "factor must be a finite number in (0.0, 1.0)"),
    ("factor", math.nan, ValueError, "factor must be a finite number in (0.0, 1.0), got nan"),
    ("factor", "0.5", TypeError, "factor must be a real number, got '0.5' (str)"),
    ("mode", "unknown", ValueError, "mode must be one of 'min', 'max', got 'unknown'"),
    ("mode", None, TypeError, "mode must be a string, got None"),
    ("threshold_mode", "unknown", ValueError, "threshold_mode must be one of 'rel', 'abs'"),
    ("threshold", math.nan, ValueError, "threshold must be a finite number >= 0.0, got nan"),
    ("threshold", -0.1, ValueError, "threshold must be a finite number >= 0.0, got -0.1"),
    ("threshold", "1e-4", TypeError, "threshold must be a real number, got '1e-4'"),
    ("eps", -1.0, ValueError, "eps must be a finite number >= 0.0"),
    ("eps", None, TypeError, "eps must be a real number, got None"),
    ("patience", -1, ValueError, "patience must be an integer >= 0, got -1"),
    ("patience", 2.0, TypeError, "patience must be an integer, got 2.0 (float)"),
    ("cooldown", 1.5, TypeError, "cooldown must be an integer, got 1.5"),
    ("warmup", -1, ValueError, "warmup must be an integer >= 0, got -1"),
    ("window_size", 0, ValueError, "window_size must be an integer >= 1, got 0"),
    ("window_size", "50", TypeError, "window_size must be an integer, got '50'"),
    ("reset_start", True, TypeError, "reset_start must be an integer, got True (bool)"),
    ("min_lr", "1e-3", TypeError, "min_lr must be a real number, got '1e-3'"),
    ("min_lr", -1e-3, ValueError, "min_lr must be a finite number >= 0.0, got -0.001"),
    ("min_lr", math.inf, ValueError, "min_lr must be a finite number >= 0.0, got inf"),
    ("min_lr", [0.1, None], TypeError, "min_lr[1] must be a real number, got None"),
    ("max_lr", math.nan, ValueError, "max_lr must be a finite number >= 0.0, got nan"),
    ("max_lr", [0.5, math.inf], ValueError, "max_lr[1] must be a finite number >= 0.0, got inf"),
    ("threshold", math.inf, ValueError, "threshold must be a finite number >= 0.0, got inf"),
    ("eps", math.nan, ValueError, "eps must be a finite number >= 0.0, got nan"),
    ("factor", math.inf, ValueError, "factor must be a finite number in (0.0, 1.0), got inf"),
    ("max_lr", {"a": 1.0}, TypeError, "max_lr must be a real number, got {'a': 1.0}"),
    ("verbose", "yes", TypeError, "verbose must be True or False, got 'yes' (str)"),
    ("smooth", 1, TypeError, "smooth must be True or False, got 1 (int)"),
]


@pytest.mark.parametrize(("argument", "value", "error", "message"), BAD_ARGUMENTS, ids=str)
def test_bad_arguments(argument, value, error, message):
    with pytest.raises(Exception) as info:
        GreedyLR(_optimizer((0.5, 0.2)), **{argument: value})
    assert type(info.value) is error
    assert str(info.value).startswith(message)


def test_min_lr_above_max_lr():
    with pytest.raises(ValueError, match=r"min_lr 0\.5 is above max_lr 0\.1 for param group 0"):
        GreedyLR(_optimizer(), min_lr=0.5, max_lr=0.1)


def test_not_an_optimizer():
    message = "optimizer must be a torch.optim.Optimizer, got 'not_an_optimizer' (str)"
    with pytest.raises(TypeError, match=re.escape(message)):
        GreedyLR("not_an_optimizer")


@pytest.mark.parametrize("lr", [math.nan, -0.1, math.inf])
def test_an_lr_that_is_already_bad(lr):
    optimizer = _optimizer((0.5, 0.2))
    optimizer.param_groups[1]["lr"] = lr  # the optimizer itself refuses these at construction
    with pytest.raises(ValueError, match=re.escape("param_groups[1]['lr'] must be a finite")):
        GreedyLR(optimizer)


@pytest.mark.parametrize(
    ("metrics", "error", "message"),
    [("1.0", TypeError, "metrics must be a real number or a one-element tensor, got '1.0' (str)"),
     (None, TypeError, "metrics must be a real number or a one-element tensor, got None"),
     (True, TypeError, "metrics must be a real number or a one-element tensor, got True"),
     ([1.0], TypeError, "metrics must be a real number or a one-element tensor, got [1.0]"),
     (1j, TypeError, "metrics must be a real number"),
     (torch.ones(2), ValueError, "metrics must hold one value, got 2 values of shape (2,)"),
     (torch.ones(2, 3), ValueError, "metrics must hold one value, got 6 values of shape (2, 3)"),
     (torch.tensor(True), TypeError, "metrics must be a real number")],
)  # fmt: skip
def test_bad_metrics(metrics, error, message):
    scheduler = GreedyLR(_optimizer(), min_lr=1e-4)
    before = scheduler.state_dict()
    with pytest.raises(error, match=re.escape(message)):
        scheduler.step(metrics)
    assert scheduler.state_dict() == before


@pytest.mark.parametrize(("epoch", "error"), [(-1, ValueError), (1.0, TypeError)])
def test_bad_epoch(epoch, error):
    with pytest.raises(error, match="epoch must be an integer"):
        GreedyLR(_optimizer(), min_lr=1e-4).step(1.0, epoch=epoch)
