"""GradientAccumulation's window bookkeeping: the update (scheduler, GradScaler, clipping),
where the data ends, and the saved counters."""

import math

import pytest

torch = pytest.importorskip("torch")

from cases import distributed as cases  # noqa: E402
from stepsize.torch import GradientAccumulation  # noqa: E402


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
    expected, expected_lrs = cases.train_windows("adamw", batches + batches, [4, 4, 2] * 2, True)
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


def _accumulation(micro_batches=5, steps=2):
    model = cases.make_model()
    acc = GradientAccumulation(model, torch.optim.SGD(model.parameters(), lr=0.1), steps=steps)
    for x, y in cases.make_batches(micro_batches):
        with acc.accumulate():
            acc.backward(cases.loss_fn(model, x, y))
    return model, acc


def test_state_dict_round_trip():
    _, acc = _accumulation()
    acc.step()
    resumed = _accumulation(micro_batches=0)[1]
    resumed.load_state_dict(acc.state_dict())
    assert resumed.state_dict() == acc.state_dict() == {
        "micro_steps": 5, "optimizer_steps": 3, "skipped_steps": 0,
    }  # fmt: skip


VALID = {"micro_steps": 5, "optimizer_steps": 3, "skipped_steps": 1}
BAD_STATES = [
    ({**VALID, "micro_steps": -1}, ValueError,
     "state_dict['micro_steps'] must be an integer >= 0, got -1"),
    ({**VALID, "optimizer_steps": "3"}, TypeError,
     "state_dict['optimizer_steps'] must be an integer, got '3' (str)"),
    ({**VALID, "skipped_steps": True}, TypeError,
     "state_dict['skipped_steps'] must be an integer, got True (bool)"),
    ({**VALID, "skipped_steps": 1.0}, TypeError, "state_dict['skipped_steps'] must be an integer"),
    ({**VALID, "micro_steps": math.nan}, TypeError, "state_dict['micro_steps'] must be an integer"),
    ({**VALID, "micro_steps": 2**64}, ValueError,
     "state_dict['micro_steps'] must be an integer <= 9223372036854775808"),
    ({**VALID, "micro_steps": None}, TypeError, "state_dict['micro_steps'] must be an integer"),
    ({"micro_steps": 5, "optimizer_steps": 3}, ValueError,
     "state_dict must hold 'skipped_steps', got the keys ['micro_steps', 'optimizer_steps']"),
    ({**VALID, "pending": 1}, ValueError,
     "state_dict must hold only the keys micro_steps, optimizer_steps, skipped_steps, "
     "got ['pending']"),
    ({**VALID, "optimizer_steps": 5}, ValueError,
     "state_dict['optimizer_steps'] + state_dict['skipped_steps'] must be <= "
     "state_dict['micro_steps'], got 6 > 5"),
    ([5, 3, 1], TypeError, "state_dict must be a dict, got [5, 3, 1] (list)"),
]  # fmt: skip


@pytest.mark.parametrize(("state", "error", "message"), BAD_STATES)
def test_rejected_load_changes_nothing(state, error, message):
    model, acc = _accumulation(micro_batches=3)  # one update, one micro-batch pending
    before = (acc.state_dict(), acc.pending, [p.grad.clone() for p in model.parameters()])
    with pytest.raises(Exception) as info:
        acc.load_state_dict(state)
    assert type(info.value) is error
    assert str(info.value) == message or str(info.value).startswith(message)
    after = (acc.state_dict(), acc.pending, [p.grad for p in model.parameters()])
    assert after[:2] == before[:2]
    assert all(torch.equal(a, b) for a, b in zip(after[2], before[2], strict=True))


def test_load_drops_the_open_window():
    model, acc = _accumulation(micro_batches=3)
    acc.load_state_dict(VALID)
    assert (acc.state_dict(), acc.pending) == (VALID, 0)
    assert all(p.grad is None for p in model.parameters())
    with acc.accumulate(), pytest.raises(RuntimeError, match="inside accumulate"):
        acc.load_state_dict(VALID)
