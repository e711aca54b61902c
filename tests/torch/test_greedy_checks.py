"""What GreedyLR takes in: NaN and infinite metrics count as bad evaluations and poison nothing
(the best, the smoothing window), and the lrs stay finite and within their bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch.optim.lr_scheduler import ReduceLROnPlateau  # noqa: E402

from stepsize.torch import GreedyLR, StreamingAverage  # noqa: E402


def _optimizer(lr=0.1):
    return torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)


@pytest.mark.parametrize("mode", ["min", "max"])
def test_nan_counts_as_a_bad_evaluation_as_in_reduce_lr_on_plateau(mode):
    kwargs = {"mode": mode, "factor": 0.5, "patience": 1, "min_lr": 1e-4}
    greedy = GreedyLR(_optimizer(), reset_start=10**6, **kwargs)
    plateau = ReduceLROnPlateau(_optimizer(), **kwargs)
    sign = 1.0 if mode == "min" else -1.0
    for metric in [sign * 1.0, math.nan, math.nan, math.nan, sign * 2.0, math.nan, math.nan]:
        greedy.step(metric)
        plateau.step(metric)
        assert greedy.get_last_lr() == plateau.get_last_lr()
        assert greedy.num_bad_epochs == plateau.num_bad_epochs
        assert greedy.best == plateau.best == sign * 1.0
    assert greedy.get_last_lr()[0] < 0.1


@pytest.mark.parametrize(
    ("mode", "metric"), [("min", -math.inf), ("max", math.inf), ("min", math.inf),
                         ("min", 10**400), ("max", -(10**400))],
)  # fmt: skip
def test_infinite_metric_is_never_an_improvement(mode, metric):
    # ReduceLROnPlateau takes -inf (min) or inf (max) as the best forever; here it is bad
    scheduler = GreedyLR(_optimizer(), mode=mode, patience=0, factor=0.5, min_lr=1e-4)
    scheduler.step(1.0)
    scheduler.step(metric)
    assert (scheduler.best, scheduler.num_bad_epochs) == (1.0, 0)  # lowered: counter reset
    assert scheduler.get_last_lr() == [0.1]  # 0.2 after the improvement, then lowered
    scheduler.step(0.5 if mode == "min" else 1.5)
    assert scheduler.best in (0.5, 1.5)  # a finite improvement still counts


def test_non_finite_metrics_stay_out_of_the_smoothing_window():
    scheduler = GreedyLR(_optimizer(), smooth=True, window_size=3, min_lr=1e-4)
    for metric in (1.0, math.nan, 2.0, math.inf, -math.inf, 3.0):
        scheduler.step(metric)
    assert list(scheduler._streaming_avg.values) == [1.0, 2.0, 3.0]
    assert scheduler.best == 1.0
    assert math.isfinite(scheduler._streaming_avg.sum)


def test_metric_types():
    scheduler = GreedyLR(_optimizer(), min_lr=1e-4)
    for metric, best in [(torch.tensor([3.0]), 3.0), (np.float32(2.0), 2.0),
                         (np.array(1.0), 1.0), (np.array([0.5]), 0.5), (0, 0.0)]:  # fmt: skip
        scheduler.step(metric)
        assert scheduler.best == best
        assert type(scheduler.best) is float


def test_a_rel_threshold_of_one_or_more_still_takes_the_first_metric():
    # best·(1 - threshold) is NaN or -inf for the initial best = inf: any finite metric is
    # better than no metric at all
    scheduler = GreedyLR(_optimizer(), threshold_mode="rel", threshold=1.0, min_lr=1e-4)
    scheduler.step(5.0)
    assert (scheduler.best, scheduler.num_good_epochs) == (5.0, 1)


def test_streaming_average_survives_huge_values():
    average = StreamingAverage(window_size=2)
    assert average.streamavg(1e308) == 1e308
    assert average.streamavg(1e308) == 1e308  # the sum overflows, the mean does not
    assert average.sum == math.inf
    assert average.streamavg(1.0) == 1e308 / 2
    # a running sum would have lost 1.0 to rounding next to 1e308, and kept the error
    assert average.streamavg(3.0) == 2.0
    assert average.sum == 4.0


@pytest.mark.parametrize(("value", "error"), [(math.nan, ValueError), (math.inf, ValueError),
                                              ("1", TypeError), (None, TypeError)])  # fmt: skip
def test_streaming_average_refuses_what_would_poison_it(value, error):
    average = StreamingAverage(window_size=2)
    average.streamavg(1.0)
    with pytest.raises(error, match="value must be a"):
        average.streamavg(value)
    assert average.state_dict() == {"window_size": 2, "values": [1.0], "sum": 1.0}
