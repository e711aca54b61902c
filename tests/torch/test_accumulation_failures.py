"""GradientAccumulation when a micro-batch raises: its gradient is discarded, nothing else moves.

A plain model keeps each micro-batch's gradient apart until the block succeeds, so a run with
a failing micro-batch equals, bit for bit, a run that never saw it. (DDP and FSDP2: the
distributed tests.)
"""

import contextlib
import math
import warnings

import pytest

torch = pytest.importorskip("torch")

from cases import distributed as cases  # noqa: E402
from cases.distributed_failures import FAILURES, run_micro_batch  # noqa: E402
from stepsize.torch import GradientAccumulation  # noqa: E402

# Which micro-batch of a 4-micro-batch window fails, as its index in 9 micro-batches: the first
# of the second window, its second, or the fourth of the first (the one that would update).
POSITIONS = {"first": 4, "middle": 5, "last": 3}


def _setup(scaler=False, steps=4, optimizer="adamw"):
    model = cases.make_model()
    opt = cases.OPTIMIZERS[optimizer](model.parameters())
    scheduler = cases.make_schedule(opt)
    grad_scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10) if scaler else None
    acc = GradientAccumulation(model, opt, scheduler, steps=steps, scaler=grad_scaler)
    return model, opt, acc


def _outcome(model, opt, acc):
    scale = acc.scaler.get_scale() if acc.scaler is not None else None
    counters = (acc.micro_steps, acc.optimizer_steps, acc.skipped_steps, acc.pending)
    return cases.snapshot(model, opt), counters, acc.scheduler.get_last_lr(), scale


def _assert_identical(actual, expected):
    (got, *got_rest), (want, *want_rest) = actual, expected
    assert got_rest == want_rest
    for part in ("params", "state"):
        for name, value in want[part].items():
            if isinstance(value, dict):
                for key, tensor in value.items():
                    assert torch.equal(torch.as_tensor(got[part][name][key]),
                                       torch.as_tensor(tensor)), (part, name, key)  # fmt: skip
            else:
                assert torch.equal(got[part][name], value), (part, name)


@pytest.mark.parametrize("scaler", [False, True], ids=["fp32", "grad_scaler"])
@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("position", POSITIONS)
def test_failed_micro_batch_leaves_no_trace(position, failure, scaler):
    batches = cases.make_batches(9)
    index = POSITIONS[position]
    model, opt, acc = _setup(scaler)
    poison = math.inf if scaler else 1e3  # leaked, inf would make the scaler skip the update
    for i, (x, y) in enumerate(batches):
        ran = run_micro_batch(acc, model, x, y, failure if i == index else None, poison)
        assert ran is (i != index)
    reference = _setup(scaler)
    for x, y in batches[:index] + batches[index + 1 :]:
        run_micro_batch(reference[2], reference[0], x, y)
    _assert_identical(_outcome(model, opt, acc), _outcome(*reference))
    assert acc.optimizer_steps == 2


def test_failure_restores_the_window_gradients_themselves():
    model, _, acc = _setup()
    (x, y), (x2, y2) = cases.make_batches(2)
    run_micro_batch(acc, model, x, y)
    held = [p.grad for p in model.parameters()]
    values = [g.clone() for g in held]
    for failure in FAILURES:
        assert not run_micro_batch(acc, model, x2, y2, failure)
        assert all(p.grad is g for p, g in zip(model.parameters(), held, strict=True))
        assert all(torch.equal(g, v) for g, v in zip(held, values, strict=True))
        assert (acc.micro_steps, acc.pending, acc.sync_gradients) == (1, 1, False)
    assert run_micro_batch(acc, model, x2, y2)  # the block can be entered again
    assert acc.pending == 2


def test_last_micro_batch_of_the_data_failing_leaves_its_window_open():
    # 6 micro-batches, steps=4: windows 4 and 2; the sixth fails, step() ends the window of 1
    batches = cases.make_batches(6)
    model, opt, acc = _setup()
    for i, (x, y) in enumerate(acc.iterate(batches)):
        run_micro_batch(acc, model, x, y, "backward" if i == 5 else None)
    assert (acc.pending, acc.optimizer_steps) == (1, 1)
    assert acc.step()
    reference = _setup()
    for x, y in reference[2].iterate(batches[:5]):
        run_micro_batch(reference[2], reference[0], x, y)
    # the window of one was divided by 2, then multiplied by 2: exact in binary floating point
    _assert_identical(_outcome(model, opt, acc), _outcome(*reference))


class _FailingOnce(torch.optim.AdamW):
    """An optimizer whose first step raises (say out of memory for its state)."""

    failed = False

    def step(self, closure=None):
        if not self.failed:
            self.failed = True
            raise MemoryError("in optimizer.step")
        return super().step(closure)


def test_update_that_raises_drops_the_window_and_readies_the_scaler():
    model = cases.make_model()
    opt = _FailingOnce(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    acc = GradientAccumulation(model, opt, steps=2, scaler=scaler)
    batches = cases.make_batches(4)
    run_micro_batch(acc, model, *batches[0])
    with pytest.raises(MemoryError, match=r"optimizer\.step"):
        run_micro_batch(acc, model, *batches[1])
    assert all(p.grad is None for p in model.parameters())
    assert (acc.micro_steps, acc.optimizer_steps, acc.pending) == (2, 0, 0)
    for x, y in batches[2:]:  # the next window: unscale_ works again
        run_micro_batch(acc, model, x, y)
    assert (acc.micro_steps, acc.optimizer_steps, acc.skipped_steps) == (4, 1, 0)
    assert all(p.grad is None for p in model.parameters())


class _Wrapper(torch.nn.Sequential):
    """A model whose wrapper skips synchronization its own way: FSDP2- or no_sync-like."""

    def __init__(self, kind):
        super().__init__(*cases.make_model())
        if kind == "fsdp2":
            self.set_requires_gradient_sync = lambda sync: None
        else:
            self.no_sync = contextlib.nullcontext


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("kind", ["fsdp2", "no_sync"])
def test_wrapped_model_discards_the_window_when_it_cannot_isolate(kind, failure):
    model = _Wrapper(kind)
    acc = GradientAccumulation(model, torch.optim.SGD(model.parameters(), lr=0.1), steps=3)
    batches = cases.make_batches(2)
    run_micro_batch(acc, model, *batches[0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert not run_micro_batch(acc, model, *batches[1], failure)
    # FSDP2 always resets (and so loses the window); a no_sync wrapper only once the failed
    # micro-batch's backward began (before, nothing of it reached the gradients)
    discarded = kind == "fsdp2" or failure != "forward"
    assert acc.pending == (0 if discarded else 1)
    assert all((p.grad is None) is discarded for p in model.parameters())
    messages = [str(w.message) for w in caught if w.category is RuntimeWarning]
    assert messages == (["GradientAccumulation discarded the window's 1 earlier micro-batches "
                         "with the one that raised: its gradient was mixed in"]
                        if discarded else [])  # fmt: skip
    # the warning points at the `with acc.accumulate():` line
    assert all(w.filename.endswith("distributed_failures.py") for w in caught)
    assert acc.micro_steps == 1
