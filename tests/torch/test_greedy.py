"""``GreedyLR`` (transformers 5's greedy scheduler), and its lowering side against torch's
``ReduceLROnPlateau``."""

from __future__ import annotations

import math
import random
import warnings

import pytest

torch = pytest.importorskip("torch")

from torch.optim.lr_scheduler import ReduceLROnPlateau  # noqa: E402

from stepsize.torch import GreedyLR, get_greedy_schedule  # noqa: E402

TRANSFORMERS_STATE_KEYS = {
    "factor", "min_lrs", "max_lrs", "patience", "verbose", "cooldown", "warmup",
    "cooldown_counter", "warmup_counter", "mode", "threshold", "threshold_mode", "best",
    "num_bad_epochs", "num_good_epochs", "eps", "last_epoch", "smooth", "window_size",
    "reset_start", "reset_start_original", "_last_lr", "_init_lrs",
}  # fmt: skip


def _optimizer(lrs=(0.1,)):
    groups = [{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in lrs]
    return torch.optim.SGD(groups, lr=lrs[0])


def _greedy(lrs=(0.1,), **kwargs):
    kwargs = {"min_lr": 1e-4, **kwargs}
    optimizer = _optimizer(lrs)
    return optimizer, GreedyLR(optimizer, **kwargs)


def _run(scheduler, metrics):
    """The first group's lr after each metric."""
    seen = []
    for metric in metrics:
        scheduler.step(metric)
        seen.append(scheduler.get_last_lr()[0])
    return seen


def test_defaults():
    optimizer = _optimizer((0.5, 0.2))
    scheduler = GreedyLR(optimizer)
    assert isinstance(scheduler, ReduceLROnPlateau)  # stepped with a metric by trainers
    assert (scheduler.mode, scheduler.factor, scheduler.patience) == ("min", 0.95, 10)
    assert (scheduler.threshold, scheduler.threshold_mode) == (1e-6, "abs")
    assert (scheduler.cooldown, scheduler.warmup, scheduler.eps) == (0, 0, 1e-8)
    assert (scheduler.min_lrs, scheduler.max_lrs) == ([1e-3, 1e-3], [1.0, 1.0])
    assert (scheduler.smooth, scheduler.window_size, scheduler.reset_start) == (False, 50, 500)
    assert scheduler.best == math.inf
    assert scheduler.last_epoch == 0
    assert scheduler.get_last_lr() == [0.5, 0.2]
    assert GreedyLR(_optimizer(), mode="max").best == -math.inf


def test_lowers_after_patience_bad_evaluations():
    _, scheduler = _greedy(factor=0.5, patience=2)
    # 1.0 sets the best; the third bad evaluation (> patience) lowers the lr
    assert _run(scheduler, [1.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]) == pytest.approx(
        [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025]
    )


def test_raises_after_patience_good_evaluations_within_max_lr():
    _, scheduler = _greedy(factor=0.5, patience=2, max_lr=0.3)
    assert _run(scheduler, [9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0]) == pytest.approx(
        [0.1, 0.1, 0.2, 0.2, 0.2, 0.3, 0.3, 0.3, 0.3]
    )
    assert scheduler.get_last_lr() == [0.3]


def test_cooldown_skips_evaluations_after_lowering():
    _, scheduler = _greedy(factor=0.5, patience=1, cooldown=2)
    lrs = _run(scheduler, [1.0, 2.0, 2.0, 0.5, 0.4, 2.0])
    # lowered at the 2nd bad one; then 0.5 and 0.4 fall in the cooldown (not improvements)
    assert lrs == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.05, 0.05])
    assert (scheduler.best, scheduler.num_bad_epochs) == (1.0, 1)
    assert _run(scheduler, [2.0]) == pytest.approx([0.025])


def test_warmup_skips_evaluations_after_raising():
    _, scheduler = _greedy(factor=0.5, patience=1, warmup=3)
    lrs = _run(scheduler, [5.0, 4.0, 3.0, 2.0, 1.0, 0.5, 0.4])
    # raised at the 2nd good one; 3, 2 and 1 fall in the warmup (best stays 4)
    assert lrs == pytest.approx([0.1, 0.2, 0.2, 0.2, 0.2, 0.2, 0.4])
    assert (scheduler.warmup_counter, scheduler.best) == (3, 0.4)


def test_counters_are_zeroed_during_cooldown_and_warmup():
    _, scheduler = _greedy(factor=0.5, patience=0, cooldown=1, warmup=1)
    scheduler.step(1.0)  # good > 0: raise, warmup starts
    assert (scheduler.warmup_counter, scheduler.num_good_epochs) == (1, 0)
    scheduler.step(0.5)
    assert (scheduler.warmup_counter, scheduler.num_good_epochs, scheduler.best) == (0, 0, 1.0)


def test_smoothing_replaces_the_metric_by_the_window_mean():
    # means 4, 2, 1.5: three improvements; raw 3.0 would be a bad evaluation
    _, smooth = _greedy(factor=0.5, patience=0, smooth=True, window_size=2)
    assert _run(smooth, [4.0, 0.0, 3.0]) == pytest.approx([0.2, 0.4, 0.8])
    _, raw = _greedy(factor=0.5, patience=0)
    assert _run(raw, [4.0, 0.0, 3.0]) == pytest.approx([0.2, 0.4, 0.2])
    assert list(smooth._streaming_avg.values) == [0.0, 3.0]


def test_reset_after_reset_start_lowerings_at_min_lr():
    _, scheduler = _greedy(factor=0.5, patience=1, min_lr=0.025, reset_start=2)
    lrs = _run(scheduler, [1.0] + [2.0] * 6)
    # lowered to 0.05, then to the floor 0.025 (counter 2 -> 1), then due again at the
    # floor (counter 1 -> 0): initial lrs and state come back
    assert lrs == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.1])
    assert (scheduler.best, scheduler.num_bad_epochs, scheduler.reset_start) == (math.inf, 0, 2)
    assert _run(scheduler, [2.0]) == pytest.approx([0.1])
    assert scheduler.best == 2.0


def test_raise_restores_the_reset_counter():
    _, scheduler = _greedy(factor=0.5, patience=0, min_lr=0.05, reset_start=3)
    assert _run(scheduler, [1.0, 2.0, 2.0]) == pytest.approx([0.2, 0.1, 0.05])
    assert scheduler.reset_start == 2  # the last lowering reached the floor
    _run(scheduler, [2.0])  # due again at the floor
    assert scheduler.reset_start == 1
    assert _run(scheduler, [0.5]) == pytest.approx([0.1])  # raise: counter restored
    assert scheduler.reset_start == 3


def test_per_group_min_and_max_lrs():
    optimizer, scheduler = _greedy(
        lrs=(0.1, 0.01), factor=0.5, patience=0, min_lr=[0.04, 0.001], max_lr=[0.15, 1.0]
    )
    scheduler.step(1.0)
    assert scheduler.get_last_lr() == pytest.approx([0.15, 0.02])
    for metric in (2.0, 2.0, 2.0):
        scheduler.step(metric)
    assert scheduler.get_last_lr() == pytest.approx([0.04, 0.0025])
    assert [g["lr"] for g in optimizer.param_groups] == scheduler.get_last_lr()


@pytest.mark.parametrize(
    ("mode", "threshold_mode", "best", "worse", "better"),
    [
        ("min", "rel", 10.0, 9.5, 8.9),  # needs < 10 * 0.9
        ("min", "abs", 10.0, 9.5, 8.9),  # needs < 10 - 1
        ("max", "rel", 10.0, 10.5, 11.1),  # needs > 10 * 1.1
        ("max", "abs", 10.0, 10.5, 11.1),  # needs > 10 + 1
    ],
)
def test_threshold_modes(mode, threshold_mode, best, worse, better):
    threshold = 0.1 if threshold_mode == "rel" else 1.0
    _, scheduler = _greedy(mode=mode, threshold_mode=threshold_mode, threshold=threshold)
    scheduler.step(best)
    scheduler.step(worse)
    assert (scheduler.best, scheduler.num_bad_epochs) == (best, 1)
    scheduler.step(better)
    assert (scheduler.best, scheduler.num_bad_epochs, scheduler.num_good_epochs) == (better, 0, 1)


def test_max_mode_lowers_and_raises():
    _, scheduler = _greedy(mode="max", factor=0.5, patience=1)
    assert _run(scheduler, [1.0, 2.0, 1.0, 1.0]) == pytest.approx([0.1, 0.2, 0.2, 0.1])


def test_metric_may_be_a_tensor_and_epoch_is_recorded():
    _, scheduler = _greedy()
    scheduler.step(torch.tensor(3.0))
    assert (scheduler.best, scheduler.last_epoch) == (3.0, 1)
    scheduler.step(2.0, epoch=7)
    assert scheduler.last_epoch == 7


def test_known_behaviour_default_min_lr_above_the_lr():
    # the documented trap (GreedyLR's docstring): min_lr=1e-3 with lr=5e-5 never lowers the lr
    optimizer = _optimizer((5e-5,))
    with pytest.warns(UserWarning, match="never lowers"):
        scheduler = GreedyLR(optimizer, patience=1)
    lrs = _run(scheduler, [1.0] + [2.0] * 30)
    assert lrs == [5e-5] * 31


def test_no_warning_when_lrs_are_above_min_lr():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GreedyLR(_optimizer((5e-5,)), min_lr=1e-7)


def test_verbose_prints_changes(capsys):
    _, scheduler = _greedy(factor=0.5, patience=0, verbose=True)
    scheduler.step(1.0)
    scheduler.step(2.0)
    out = capsys.readouterr().out
    assert "increasing learning rate of group 0 to 2.0000e-01" in out
    assert "reducing learning rate of group 0 to 1.0000e-01" in out


def _greedy_run(**kwargs):
    optimizer, scheduler = _greedy(**kwargs)
    _run(scheduler, [10.0, 9.0, 8.0, 7.0, 6.0, 5.0, 6.0, 7.0])
    return optimizer, scheduler


def test_state_dict_round_trip_with_weights_only(tmp_path):
    kwargs = {"smooth": True, "window_size": 5, "factor": 0.9, "patience": 2, "cooldown": 1}
    _, scheduler = _greedy_run(**kwargs)
    state = scheduler.state_dict()
    assert set(state) == TRANSFORMERS_STATE_KEYS | {"_streaming_avg"}
    torch.save(state, tmp_path / "greedy.pt")
    loaded = torch.load(tmp_path / "greedy.pt", weights_only=True)

    optimizer, fresh = _greedy(**kwargs)
    fresh.load_state_dict(loaded)
    assert optimizer.param_groups[0]["lr"] == scheduler.get_last_lr()[0]
    assert fresh.state_dict() == scheduler.state_dict()
    metrics = [5.0, 4.0, 3.0, 3.5, 4.0, 4.0, 4.0, 2.0]
    assert _run(fresh, metrics) == _run(scheduler, metrics)


def test_state_dict_without_smoothing_has_no_window():
    _, scheduler = _greedy_run()
    assert set(scheduler.state_dict()) == TRANSFORMERS_STATE_KEYS


def test_partial_state_dict_keeps_defaults():
    optimizer, scheduler = _greedy()
    scheduler.load_state_dict({"factor": 0.8, "patience": 5, "best": 5.0, "num_bad_epochs": 3})
    assert (scheduler.factor, scheduler.patience, scheduler.best) == (0.8, 5, 5.0)
    assert scheduler.num_bad_epochs == 3
    assert (scheduler.cooldown_counter, scheduler.min_lrs, scheduler.window_size) == (0, [1e-4], 50)
    assert optimizer.param_groups[0]["lr"] == 0.1
    scheduler.load_state_dict({"_last_lr": [0.07]})
    assert optimizer.param_groups[0]["lr"] == 0.07
    assert scheduler._streaming_avg is None
    scheduler.load_state_dict({"smooth": True})  # a new window
    assert list(scheduler._streaming_avg.values) == []
    scheduler.load_state_dict({"_streaming_avg": {"values": [1.0, 3.0]}})  # sum: the values'
    assert scheduler._streaming_avg.window_size == 50
    assert scheduler._streaming_avg.streamavg(5.0) == 3.0
    scheduler.load_state_dict({"smooth": False})
    assert scheduler._streaming_avg is None


def test_get_greedy_schedule():
    optimizer = _optimizer()
    scheduler = get_greedy_schedule(optimizer, patience=5, min_lr=1e-5, factor=0.9, mode="max")
    assert type(scheduler) is GreedyLR
    assert (scheduler.patience, scheduler.min_lrs, scheduler.factor) == (5, [1e-5], 0.9)
    assert scheduler.mode == "max"


@pytest.mark.parametrize("mode", ["min", "max"])
@pytest.mark.parametrize("threshold_mode", ["abs", "rel"])
@pytest.mark.parametrize("seed", range(4))
def test_lowering_matches_reduce_lr_on_plateau(mode, threshold_mode, seed):
    patience = 1 + seed % 3
    kwargs = {
        "mode": mode,
        "factor": 0.7,
        "patience": patience,
        "threshold": 0.5 if threshold_mode == "abs" else 0.01,
        "threshold_mode": threshold_mode,
        "min_lr": [1e-3, 2e-4],
        "eps": 1e-8,
    }
    opt_a, opt_b = _optimizer((0.1, 0.05)), _optimizer((0.1, 0.05))
    greedy = GreedyLR(opt_a, reset_start=10**6, **kwargs)
    plateau = ReduceLROnPlateau(opt_b, cooldown=0, **kwargs)
    rng = random.Random(seed)
    sign = 1.0 if mode == "min" else -1.0  # values below are "lower is better"
    for _ in range(150):
        ref = 100.0 if math.isinf(greedy.best) else sign * greedy.best
        if greedy.num_good_epochs < patience:
            metric = sign * (ref + rng.uniform(-2.0, 3.0))
        else:  # keep GreedyLR from raising: it agrees with torch on lowering only
            metric = sign * (ref + 10.0)
        greedy.step(metric)
        plateau.step(metric)
        assert greedy.get_last_lr() == plateau.get_last_lr()
        assert greedy.num_bad_epochs == plateau.num_bad_epochs
        assert greedy.best == plateau.best
    assert greedy.get_last_lr()[0] < 0.1  # the sequence did lower the lr
