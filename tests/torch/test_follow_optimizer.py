"""``follow_optimizer=True``: the schedule counts the updates the optimizer applied.

However often ``step()`` is called per update (0, 1, or one per process as accelerate does),
each update uses the schedule at its index; updates a GradScaler skipped do not count; the
count is saved and restored; every ``get_*`` function and ``get_scheduler`` take the option.
"""

import gc
import io
import re

import pytest

torch = pytest.importorskip("torch")

import stepsize.torch as st  # noqa: E402
from cases.torch_schedulers import VALID_CALLS  # noqa: E402
from stepsize import schedules  # noqa: E402

SCHEDULE = schedules.get("linear", num_warmup_steps=2, num_training_steps=8)


def _setup(optimizer_cls=st.AdamW, follow=True, last_epoch=-1):
    torch.manual_seed(0)
    weight = torch.nn.Parameter(torch.randn(3))
    optimizer = optimizer_cls([weight], lr=2.0)
    return (
        weight,
        optimizer,
        st.ScheduledLR(optimizer, SCHEDULE, last_epoch, follow_optimizer=follow),
    )


def _update(weight, optimizer, grad=1.0):
    weight.grad = torch.full_like(weight, grad)
    optimizer.step()


@pytest.mark.parametrize("calls", [0, 1, 2, 3])
def test_each_update_uses_the_schedule_at_its_index_however_often_step_is_called(calls):
    weight, optimizer, scheduler = _setup()
    used = []
    for _ in range(6):
        used.append(optimizer.param_groups[0]["lr"])
        _update(weight, optimizer)
        for _ in range(calls):
            scheduler.step()
    assert used == pytest.approx([2.0 * SCHEDULE(k) for k in range(6)])
    assert scheduler.optimizer_steps == 6
    if calls:
        assert scheduler.last_epoch == 6
        assert scheduler.get_last_lr() == [optimizer.param_groups[0]["lr"]]


def test_without_it_every_step_call_counts():
    weight, optimizer, scheduler = _setup(follow=False)
    for _ in range(2):
        _update(weight, optimizer)
        scheduler.step()
        scheduler.step()
    assert scheduler.last_epoch == 4
    assert optimizer.param_groups[0]["lr"] == pytest.approx(2.0 * SCHEDULE(4))


def test_get_last_lr_reports_the_lr_the_last_update_used_until_step():
    # transformers 5's Trainer reads it between optimizer.step() and scheduler.step().
    weight, optimizer, scheduler = _setup()
    for k in range(3):
        _update(weight, optimizer)
        assert scheduler.get_last_lr() == pytest.approx([2.0 * SCHEDULE(k)])
        scheduler.step()


@pytest.mark.parametrize("optimizer_cls", [st.AdamW, torch.optim.SGD], ids=["amp_aware", "plain"])
def test_updates_a_grad_scaler_skips_do_not_count(optimizer_cls):
    # stepsize's AdamW is called with found_inf set; SGD is not called at all on a skip.
    weight, optimizer, scheduler = _setup(optimizer_cls)
    scaler = torch.amp.GradScaler("cpu", init_scale=4.0)
    used = []
    for grad in (1.0, float("inf"), 2.0, float("nan"), 3.0):
        before = weight.detach().clone()
        lr = optimizer.param_groups[0]["lr"]
        scaler.scale((weight * grad).sum()).backward()
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        optimizer.zero_grad()
        if grad == grad and grad != float("inf"):
            used.append(lr)
        else:
            assert torch.equal(weight, before)
    assert scheduler.optimizer_steps == scheduler.last_epoch == 3
    assert used == pytest.approx([2.0 * SCHEDULE(k) for k in range(3)])


def test_state_dict_resumes_the_count(tmp_path):
    weight, optimizer, scheduler = _setup()
    for _ in range(3):
        _update(weight, optimizer)
    scheduler.step()
    path = tmp_path / "checkpoint.pt"
    state = {"weight": weight.detach().clone(), "optimizer": optimizer.state_dict()}
    torch.save({**state, "scheduler": scheduler.state_dict()}, path)
    for _ in range(3):
        _update(weight, optimizer)
    uninterrupted = weight.detach().clone()

    checkpoint = torch.load(path, weights_only=True)
    assert checkpoint["scheduler"]["optimizer_steps"] == 3
    assert "follow_optimizer" not in checkpoint["scheduler"]
    weight, optimizer, scheduler = _setup()
    with torch.no_grad():
        weight.copy_(checkpoint["weight"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler.load_state_dict(checkpoint["scheduler"])
    assert scheduler.optimizer_steps == 3
    for _ in range(3):
        _update(weight, optimizer)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(2.0 * SCHEDULE(6))
    assert torch.equal(weight, uninterrupted)


def test_a_state_saved_without_it_loads_and_keeps_counting():
    weight, optimizer, plain = _setup(follow=False)
    for _ in range(2):
        _update(weight, optimizer)
        plain.step()
    _, optimizer, following = _setup()
    following.load_state_dict(plain.state_dict())
    assert following.optimizer_steps == following.last_epoch == 2
    _, optimizer, plain = _setup(follow=False)
    plain.load_state_dict(following.state_dict())  # and back: the count is not kept
    assert not hasattr(plain, "optimizer_steps")


def test_resuming_at_last_epoch_continues_after_it():
    _, optimizer, _ = _setup(follow=False)  # which records initial_lr
    resumed = st.ScheduledLR(optimizer, SCHEDULE, 3, follow_optimizer=True)
    assert resumed.optimizer_steps == resumed.last_epoch == 4
    assert optimizer.param_groups[0]["lr"] == pytest.approx(2.0 * SCHEDULE(4))


def test_step_takes_no_epoch_and_the_option_is_a_bool():
    _, _, scheduler = _setup()
    with pytest.raises(ValueError, match=r"^epoch must be None with follow_optimizer=True"):
        scheduler.step(3)
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    with pytest.raises(TypeError, match=r"^follow_optimizer must be True or False, got 1 \(int\)"):
        st.ScheduledLR(optimizer, SCHEDULE, follow_optimizer=1)


def test_the_hook_goes_with_the_scheduler():
    weight, optimizer, scheduler = _setup()
    assert len(optimizer._optimizer_step_post_hooks) == 1
    del scheduler
    gc.collect()
    assert not optimizer._optimizer_step_post_hooks
    lr = optimizer.param_groups[0]["lr"]
    _update(weight, optimizer)
    assert optimizer.param_groups[0]["lr"] == lr


@pytest.mark.parametrize("name", sorted(VALID_CALLS))
def test_every_function_takes_it(name):
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=10.0)
    scheduler = getattr(st, name)(optimizer, **VALID_CALLS[name], follow_optimizer=True)
    expected = [10.0 * scheduler.schedules[0](k) for k in range(4)]
    used = []
    for _ in range(4):
        used.append(optimizer.param_groups[0]["lr"])
        optimizer.step()  # no scheduler.step() at all
    assert used == pytest.approx(expected)


def test_get_scheduler_passes_it_on():
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    scheduler = st.get_scheduler("linear", optimizer, 2, 8, follow_optimizer=True)
    assert scheduler.follow_optimizer
    assert not st.get_scheduler("constant", optimizer).follow_optimizer
    with pytest.raises(ValueError, match=re.escape("follow_optimizer must be False for 'greedy'")):
        st.get_scheduler("greedy", optimizer, follow_optimizer=True)
    with pytest.raises(TypeError, match=r"^follow_optimizer must be True or False, got 'yes'"):
        st.get_scheduler("linear", optimizer, 2, 8, follow_optimizer="yes")


def test_state_dict_loads_with_weights_only():
    weight, optimizer, scheduler = _setup()
    _update(weight, optimizer)
    buffer = io.BytesIO()
    torch.save(scheduler.state_dict(), buffer)
    buffer.seek(0)
    assert torch.load(buffer, weights_only=True)["optimizer_steps"] == 1
