"""GradientAccumulation: k micro-batches then one update == one update on the joined batch."""

import contextlib
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


def _reference(name, batches, sizes, scheduler=False):
    """One plain update per window on the window's joined micro-batches."""
    model = cases.make_model()
    opt = cases.OPTIMIZERS[name](model.parameters())
    sched = cases.make_schedule(opt) if scheduler else None
    lrs = []
    for x, y in cases.concatenate(batches, sizes):
        cases.loss_fn(model, x, y).backward()
        opt.step()
        opt.zero_grad()
        if sched is not None:
            sched.step()
            lrs.append(sched.get_last_lr()[0])
    return cases.snapshot(model, opt), lrs


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
    expected, _ = _reference(name, batches, [4, 4, 4])
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
    expected, _ = _reference(name, batches + batches, [4, 4, 2, 4, 4, 2])
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
    expected, _ = _reference("adamw", batches + batches, [4, 4, 4])
    cases.assert_close(cases.snapshot(model, opt)["params"], expected["params"])


def test_scheduler_steps_once_per_update():
    batches = cases.make_batches(10)
    model = cases.make_model()
    opt = cases.OPTIMIZERS["adamw"](model.parameters())
    scheduler = cases.make_schedule(opt)
    acc = GradientAccumulation(model, opt, scheduler, steps=4)
    lrs = []
    for _ in range(2):
        for x, y in acc.iterate(batches):
            with acc.accumulate():
                acc.backward(cases.loss_fn(model, x, y))
            if acc.pending == 0:
                lrs.append(scheduler.get_last_lr()[0])
    expected, expected_lrs = _reference("adamw", batches + batches, [4, 4, 2] * 2, True)
    assert scheduler.last_epoch == acc.optimizer_steps == 6
    assert lrs == expected_lrs
    cases.assert_close(cases.snapshot(model, opt)["params"], expected["params"])


def test_grad_scaler_matches_the_unscaled_run():
    batches = cases.make_batches(10)
    runs = []
    for scaler in (None, torch.amp.GradScaler("cpu", init_scale=2.0**10)):
        model = cases.make_model()
        opt = cases.OPTIMIZERS["adamw"](model.parameters())
        acc = GradientAccumulation(model, opt, steps=4, scaler=scaler)
        for x, y in acc.iterate(batches):
            with acc.accumulate():
                acc.backward(cases.loss_fn(model, x, y))
        runs.append(cases.snapshot(model, opt))
        assert (acc.optimizer_steps, acc.skipped_steps) == (3, 0)
    cases.assert_close(runs[1]["params"], runs[0]["params"], "params")
    cases.assert_close(runs[1]["state"], runs[0]["state"], "state")


def test_grad_scaler_skip_does_not_step_the_scheduler():
    model = cases.make_model()
    opt = cases.OPTIMIZERS["adamw"](model.parameters())
    scheduler = cases.make_schedule(opt)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    acc = GradientAccumulation(model, opt, scheduler, steps=2, scaler=scaler)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    (x, y), _ = cases.make_batches(2)
    for poison in (False, True):
        with acc.accumulate():
            loss = cases.loss_fn(model, x, y)
            acc.backward(loss * math.inf if poison else loss)
    assert (acc.optimizer_steps, acc.skipped_steps, scheduler.last_epoch) == (0, 1, 0)
    assert scaler.get_scale() == 2.0**9
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert all(p.grad is None for p in model.parameters())


def test_clipping_after_averaging():
    batches = cases.make_batches(4)
    model = cases.make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    acc = GradientAccumulation(model, opt, steps=4, max_grad_norm=0.05)
    for x, y in batches:
        with acc.accumulate():
            acc.backward(cases.loss_fn(model, x, y))

    reference = cases.make_model()
    x, y = cases.concatenate(batches, [4])[0]
    cases.loss_fn(reference, x, y).backward()
    norm = torch.nn.utils.clip_grad_norm_(reference.parameters(), 0.05)
    torch.optim.SGD(reference.parameters(), lr=0.1).step()
    assert float(norm) > 0.05  # clipping was active
    cases.assert_close({"norm": acc.grad_norm}, {"norm": norm})
    expected = {name: p.detach() for name, p in reference.named_parameters()}
    cases.assert_close(cases.snapshot(model, opt)["params"], expected)


class _RecordingModule(torch.nn.Linear):
    """Records how the helper controls gradient synchronization."""

    def __init__(self, fsdp2: bool):
        super().__init__(3, 1)
        self.calls = []
        if fsdp2:
            self.set_requires_gradient_sync = self.calls.append

    @contextlib.contextmanager
    def no_sync(self):
        self.calls.append("no_sync")
        yield


@pytest.mark.parametrize(
    ("fsdp2", "expected"),
    [
        (False, ["no_sync"] * 7),
        (True, [False, True] * 7),
    ],
)
def test_gradient_sync_skipped_on_micro_steps_without_update(fsdp2, expected):
    model = _RecordingModule(fsdp2)
    acc = GradientAccumulation(model, torch.optim.SGD(model.parameters(), lr=0.1), steps=4)
    synced = []
    for x in acc.iterate(torch.randn(10, 2, 3)):
        with acc.accumulate():
            synced.append(acc.sync_gradients)
            acc.backward(model(x).mean())
    assert synced == [False, False, False, True, False, False, False, True, False, True]
    assert model.calls == expected


def test_step_refuses_a_window_that_skipped_sync():
    model = _RecordingModule(fsdp2=False)
    acc = GradientAccumulation(model, torch.optim.SGD(model.parameters(), lr=0.1), steps=4)
    with acc.accumulate():
        acc.backward(model(torch.ones(3)).sum())
    with pytest.raises(RuntimeError, match="last=True"):
        acc.step()


def test_step_without_pending_micro_batches_does_nothing():
    model = cases.make_model()
    acc = GradientAccumulation(model, torch.optim.SGD(model.parameters(), lr=0.1), steps=2)
    assert acc.step() is False
    assert acc.optimizer_steps == 0


def test_state_dict_round_trip():
    model = cases.make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    acc = GradientAccumulation(model, opt, steps=2)
    for x, y in cases.make_batches(5):
        with acc.accumulate():
            acc.backward(cases.loss_fn(model, x, y))
    acc.step()
    resumed = GradientAccumulation(model, opt, steps=2)
    resumed.load_state_dict(acc.state_dict())
    assert (
        resumed.state_dict()
        == acc.state_dict()
        == {
            "micro_steps": 5,
            "optimizer_steps": 3,
            "skipped_steps": 0,
        }
    )
    with pytest.raises(ValueError, match="micro_steps"):
        resumed.load_state_dict({**acc.state_dict(), "micro_steps": -1})


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


def test_exception_in_block_neither_counts_nor_updates():
    model = _RecordingModule(fsdp2=True)
    acc = GradientAccumulation(model, torch.optim.SGD(model.parameters(), lr=0.1), steps=2)
    with pytest.raises(KeyError), acc.accumulate():
        raise KeyError("boom")
    assert (acc.micro_steps, acc.optimizer_steps, acc.pending) == (0, 0, 0)
    assert not acc.sync_gradients
    assert model.calls == [False, True]  # gradient sync switched back on


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
