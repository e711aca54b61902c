"""GradientAccumulation's token weighting: ``acc.backward(summed_loss, num_items=n)`` updates with
the window's summed loss over its total items, as one step on the joined window with the loss
averaged over all its items (2 ranks: the distributed tests)."""

import contextlib

import pytest

torch = pytest.importorskip("torch")

from cases import distributed as cases  # noqa: E402
from stepsize.torch import GradientAccumulation  # noqa: E402

WINDOWS = [4, 4, 2]  # 10 micro-batches of 1 to 8 rows, steps=4


def _setup(optimizer="adamw", **options):
    # A schedule with AdamW; Adafactor computes its own lr.
    model = cases.make_model()
    opt = cases.OPTIMIZERS[optimizer](model.parameters())
    scheduler = cases.make_schedule(opt) if optimizer == "adamw" else None
    acc = GradientAccumulation(model, opt, scheduler, steps=4, **options)
    return model, opt, acc


def _train(optimizer="adamw", count=int, weighted=True, **options):
    model, opt, acc = _setup(optimizer, **options)
    for x, y in acc.iterate(cases.make_uneven_batches(10)):
        with acc.accumulate():
            if weighted:
                acc.backward(cases.summed_loss(model, x, y), num_items=count(y.numel()))
            else:
                acc.backward(cases.loss_fn(model, x, y))
    return cases.snapshot(model, opt), acc


@pytest.mark.parametrize("count", [int, torch.tensor], ids=["int", "tensor"])
@pytest.mark.parametrize("optimizer", ["adamw", "adafactor"])
def test_uneven_windows_equal_one_step_on_each_joined_window(optimizer, count):
    actual, acc = _train(optimizer, count)
    scheduled = acc.scheduler is not None
    batches = cases.make_uneven_batches(10)
    expected, lrs = cases.train_windows(optimizer, batches, WINDOWS, scheduled)
    cases.assert_close(actual["params"], expected["params"], "params")
    cases.assert_close(actual["state"], expected["state"], "state")
    assert (acc.micro_steps, acc.optimizer_steps, acc.pending) == (10, 3, 0)
    if scheduled:
        assert acc.scheduler.get_last_lr()[0] == lrs[-1]


def test_mean_losses_weigh_micro_batches_not_items():
    # The same data with mean losses: short micro-batches count as much as long ones, so the
    # result differs from the joined windows' (what token weighting fixes).
    actual, _ = _train(weighted=False)
    expected, _ = cases.train_windows("adamw", cases.make_uneven_batches(10), WINDOWS)
    with pytest.raises(AssertionError):
        cases.assert_close(actual["params"], expected["params"], "params")


def test_clipping_after_normalization_and_grad_scaler():
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    actual, acc = _train(max_grad_norm=cases.MAX_GRAD_NORM, scaler=scaler)
    expected, _ = cases.train_windows(
        "adamw", cases.make_uneven_batches(10), WINDOWS, True, cases.MAX_GRAD_NORM
    )
    assert float(acc.grad_norm) > cases.MAX_GRAD_NORM  # clipping was active
    assert (acc.optimizer_steps, acc.skipped_steps) == (3, 0)
    cases.assert_close(actual["params"], expected["params"], "params")
    cases.assert_close(actual["state"], expected["state"], "state")


def test_failed_micro_batch_items_do_not_count():
    batches = cases.make_uneven_batches(10)
    model, opt, acc = _setup()
    for index, (x, y) in enumerate(acc.iterate(batches)):
        failing = pytest.raises(RuntimeError, match="out of memory")
        with failing if index == 5 else contextlib.nullcontext(), acc.accumulate():
            acc.backward(cases.summed_loss(model, x, y), num_items=y.numel())
            if index == 5:
                raise RuntimeError("out of memory")
    kept = batches[:5] + batches[6:]  # windows 0-3, 4 and 6-8, then 9 at the end of the data
    expected, _ = cases.train_windows("adamw", kept, [4, 4, 1], True)
    cases.assert_close(cases.snapshot(model, opt)["params"], expected["params"], "params")
    assert (acc.micro_steps, acc.optimizer_steps) == (9, 3)


MIXED = (
    "num_items must be given for every micro-batch of a window or for none: this window's "
    "losses came {before} it, then one {after} num_items (got num_items={value})"
)


@pytest.mark.parametrize("same_micro_batch", [False, True])
@pytest.mark.parametrize("first", ["items", "mean"])
def test_mixing_modes_in_a_window_is_a_value_error(first, same_micro_batch):
    model, _, acc = _setup()
    (x, y), (x2, y2) = cases.make_uneven_batches(2)

    def backward(mode, x, y):
        if mode == "items":
            acc.backward(cases.summed_loss(model, x, y), num_items=y.numel())
        else:
            acc.backward(cases.loss_fn(model, x, y))

    second = "mean" if first == "items" else "items"
    before, after = ("with", "without") if first == "items" else ("without", "with")
    value = "None" if second == "mean" else str(y2.numel())
    if same_micro_batch:
        with pytest.raises(ValueError) as info, acc.accumulate():
            backward(first, x, y)
            backward(second, x2, y2)
    else:
        with acc.accumulate():
            backward(first, x, y)
        with pytest.raises(ValueError) as info, acc.accumulate():
            backward(second, x2, y2)
    assert str(info.value) == MIXED.format(before=before, after=after, value=value)
    # The rejected micro-batch left nothing behind: the window goes on in its first mode.
    assert acc.pending == (0 if same_micro_batch else 1)
    with acc.accumulate(last=True):
        backward(first, x2, y2)
    assert acc.optimizer_steps == 1


def test_the_mode_may_change_between_windows():
    model, _, acc = _setup()
    batches = cases.make_uneven_batches(8)
    for index, (x, y) in enumerate(batches):
        with acc.accumulate():
            if index < 4:
                acc.backward(cases.loss_fn(model, x, y))
            else:
                acc.backward(cases.summed_loss(model, x, y), num_items=y.numel())
    assert (acc.micro_steps, acc.optimizer_steps) == (8, 2)


@pytest.mark.parametrize(
    ("num_items", "error", "message"),
    [
        (-1, ValueError, "num_items must be an integer >= 0, got -1"),
        (2.5, TypeError, "num_items must be an integer, got 2.5 (float)"),
        (True, TypeError, "num_items must be an integer, got True (bool)"),
        (torch.tensor([1, 2]), TypeError,
         "num_items must be an integer or a one-element tensor, got a tensor of shape (2,)"),
    ],
)  # fmt: skip
def test_bad_num_items(num_items, error, message):
    model, _, acc = _setup()
    x, y = cases.make_uneven_batches(1)[0]
    with pytest.raises(error) as info, acc.accumulate():
        acc.backward(cases.summed_loss(model, x, y), num_items=num_items)
    assert type(info.value) is error
    assert str(info.value).startswith(message)
    assert acc.pending == 0 and all(p.grad is None for p in model.parameters())


def test_a_window_without_items_is_a_value_error_that_drops_it():
    model, _, acc = _setup()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = cases.make_uneven_batches(1)[0]
    empty = "num_items must add up to more than 0 over a window"
    with pytest.raises(ValueError, match=empty), acc.accumulate(last=True):
        acc.backward(cases.summed_loss(model, x, y) * 0, num_items=0)
    assert (acc.pending, acc.optimizer_steps) == (0, 0)
    assert all(p.grad is None for p in model.parameters())
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    with acc.accumulate(last=True):  # the next window starts afresh
        acc.backward(cases.summed_loss(model, x, y), num_items=y.numel())
    assert acc.optimizer_steps == 1
