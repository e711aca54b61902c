"""GradientAccumulation: k micro-batches then one update == one update on the joined batch."""

import math
import re

import pytest

torch = pytest.importorskip("torch")

from cases import distributed as cases  # noqa: E402
from stepsize.torch import GradientAccumulation  # noqa: E402

# How the loop tells the helper where the data ends; each gives windows 4, 4, 2 for 10.
ENDINGS = ["iterate_len", "iterate_generator", "last_flag", "explicit_step"]
# A wrongly averaged window changes either optimizer's update (their fast paths have their own
# tests).
ACCUMULATED = ["adamw", "adafactor"]


def _run_epoch(acc, model, batches, ending):
    """One pass over ``batches``, telling the helper where they end in the way ``ending`` names."""
    if ending.startswith("iterate"):
        source = batches if ending == "iterate_len" else (b for b in batches)
        loop = ((batch, None) for batch in acc.iterate(source))
    elif ending == "last_flag":
        loop = ((batch, i == len(batches) - 1) for i, batch in enumerate(batches))
    else:
        loop = ((batch, False) for batch in batches)
    for (x, y), last in loop:
        with acc.accumulate(last=last):
            acc.backward(cases.loss_fn(model, x, y))
    if ending == "explicit_step":
        assert acc.step()


@pytest.mark.parametrize("name", ACCUMULATED)
def test_even_windows_equal_one_step_on_the_joined_batch(name):
    batches = cases.make_batches(12)
    model = cases.make_model()
    opt = cases.OPTIMIZERS[name](model.parameters())
    acc = GradientAccumulation(model, opt, steps=4)
    for x, y in batches:
        with acc.accumulate():
            acc.backward(cases.loss_fn(model, x, y))
    expected, _ = cases.train_windows(name, batches, [4, 4, 4])
    actual = cases.snapshot(model, opt)
    cases.assert_close(actual["params"], expected["params"], "params")
    cases.assert_close(actual["state"], expected["state"], "state")
    assert (acc.micro_steps, acc.optimizer_steps, acc.pending) == (12, 3, 0)


@pytest.mark.parametrize("ending", ENDINGS)
@pytest.mark.parametrize("name", ACCUMULATED)
def test_uneven_last_window_is_averaged_over_its_real_size(name, ending):
    batches = cases.make_batches(10)
    model = cases.make_model()
    opt = cases.OPTIMIZERS[name](model.parameters())
    acc = GradientAccumulation(model, opt, steps=4)
    for _ in range(2):  # two epochs: the windows restart with each epoch
        _run_epoch(acc, model, batches, ending)
    expected, _ = cases.train_windows(name, batches + batches, [4, 4, 2, 4, 4, 2])
    actual = cases.snapshot(model, opt)
    cases.assert_close(actual["params"], expected["params"], "params")
    cases.assert_close(actual["state"], expected["state"], "state")
    assert (acc.micro_steps, acc.optimizer_steps, acc.pending) == (20, 6, 0)


def test_windows_run_across_epochs_without_an_end_marker():
    batches = cases.make_batches(6)
    model = cases.make_model()
    opt = cases.OPTIMIZERS["adamw"](model.parameters())
    acc = GradientAccumulation(model, opt, steps=4)
    updates = []
    for _ in range(2):
        for x, y in batches:
            with acc.accumulate():
                acc.backward(cases.loss_fn(model, x, y))
            updates.append(acc.optimizer_steps)
    assert updates == [0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3]
    expected, _ = cases.train_windows("adamw", batches + batches, [4, 4, 4])
    cases.assert_close(cases.snapshot(model, opt)["params"], expected["params"])


def test_step_without_pending_micro_batches_does_nothing():
    model = cases.make_model()
    acc = GradientAccumulation(model, torch.optim.SGD(model.parameters(), lr=0.1), steps=2)
    assert acc.step() is False
    assert acc.optimizer_steps == 0


def test_misuse_raises():
    model = cases.make_model()
    acc = GradientAccumulation(model, torch.optim.SGD(model.parameters(), lr=0.1), steps=2)
    loss = cases.loss_fn(model, *cases.make_batches(1)[0])
    with pytest.raises(RuntimeError, match="inside"):
        acc.backward(loss)
    with acc.accumulate(), pytest.raises(RuntimeError, match="nested"), acc.accumulate():
        pass
    with acc.accumulate(), pytest.raises(RuntimeError, match="inside accumulate"):
        acc.step()


@pytest.mark.parametrize(
    ("argument", "value", "error"),
    [("steps", 0, ValueError), ("steps", -1, ValueError), ("steps", 2.5, TypeError),
     ("steps", 2.0, TypeError), ("steps", True, TypeError), ("steps", "4", TypeError),
     ("steps", None, TypeError), ("max_grad_norm", 0, ValueError),
     ("max_grad_norm", math.inf, ValueError), ("max_grad_norm", math.nan, ValueError),
     ("max_grad_norm", "1", TypeError), ("max_grad_norm", True, TypeError)],
)  # fmt: skip
def test_bad_steps_and_max_grad_norm(argument, value, error):
    model = cases.make_model()
    kwargs = {"steps": 2, argument: value}
    with pytest.raises(error, match=rf"^{argument} must be an? .*, got {re.escape(repr(value))}"):
        GradientAccumulation(model, torch.optim.SGD(model.parameters(), lr=0.1), **kwargs)


def test_metric_driven_scheduler_is_refused():
    model = cases.make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt)
    with pytest.raises(ValueError, match="scheduler ReduceLROnPlateau"):
        GradientAccumulation(model, opt, plateau, steps=2)


@pytest.mark.parametrize("argument", ["model", "optimizer", "scheduler", "scaler"])
def test_wrong_types(argument):
    model = cases.make_model()
    kwargs = {
        "model": model,
        "optimizer": torch.optim.SGD(model.parameters(), lr=0.1),
        "steps": 2,
        argument: object(),
    }
    with pytest.raises(TypeError, match=argument):
        GradientAccumulation(**kwargs)
