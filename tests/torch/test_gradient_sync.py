"""How GradientAccumulation switches a wrapped model's gradient synchronization (recorded on a
stand-in module; the real DDP and FSDP2 runs are in test_distributed.py)."""

import contextlib

import pytest

torch = pytest.importorskip("torch")

from stepsize.torch import GradientAccumulation  # noqa: E402


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


def test_exception_in_block_switches_sync_back_on():
    model = _RecordingModule(fsdp2=True)
    acc = GradientAccumulation(model, torch.optim.SGD(model.parameters(), lr=0.1), steps=2)
    with pytest.raises(KeyError), acc.accumulate():
        raise KeyError("boom")
    assert (acc.micro_steps, acc.optimizer_steps, acc.pending) == (0, 0, 0)
    assert not acc.sync_gradients
    assert model.calls == [False, True]  # gradient sync switched back on
