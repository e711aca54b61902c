"""stepsize in Lightning (the current release): ``configure_optimizers`` with a per-step
schedule, ``accumulate_grad_batches``, ``ckpt_path`` resume, and ``GreedyLR`` with a monitor.

A small regression model trains on the CPU; a callback records every param group's lr right
before each optimizer update, which the tests compare with the schedule at the update's index.
"""

from __future__ import annotations

import lightning
import pytest
import torch

from cases.closeness import assert_close
from stepsize import schedules
from stepsize.torch import AdamW, GreedyLR, get_linear_schedule_with_warmup, param_groups

ROWS, BATCH = 64, 4
WARMUP = 2
LR = 1e-2


def _loader() -> torch.utils.data.DataLoader:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(ROWS, 8, generator=generator)
    y = x @ torch.randn(8, 2, generator=generator)
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=BATCH)


class Regression(lightning.LightningModule):
    """An MLP with a LayerNorm (two param groups); the schedule sized in optimizer updates."""

    def __init__(self, updates: int, follow: bool = True, greedy: bool = False) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(8, 16), torch.nn.LayerNorm(16), torch.nn.Tanh(), torch.nn.Linear(16, 2)
        )
        self.updates, self.follow, self.greedy = updates, follow, greedy
        self.epoch_losses: list[float] = []

    def training_step(self, batch, batch_index):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def on_train_epoch_end(self) -> None:
        self.epoch_losses.append(float(self.trainer.callback_metrics["train_loss"]))

    def configure_optimizers(self):
        optimizer = AdamW(param_groups(self, lr=LR, weight_decay=0.01))
        if self.greedy:
            scheduler = GreedyLR(optimizer, factor=0.5, patience=0, min_lr=1e-4)
            return {
                "optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "monitor": "train_loss"},
            }
        scheduler = get_linear_schedule_with_warmup(
            optimizer, WARMUP, self.updates, follow_optimizer=self.follow
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }


class _RecordLrs(lightning.Callback):
    def __init__(self) -> None:
        self.lrs: list[list[float]] = []

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        self.lrs.append([group["lr"] for group in optimizer.param_groups])


def _fit(module, tmp_path, *, ckpt_path=None, callbacks=(), **trainer_args):
    record = _RecordLrs()
    trainer = lightning.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
        callbacks=[record, *callbacks],
        **{"enable_checkpointing": False, **trainer_args},
    )
    trainer.fit(module, _loader(), ckpt_path=ckpt_path)
    return trainer, record.lrs


def _expected(updates: int, base_lrs: list[float]) -> list[list[float]]:
    schedule = schedules.get("linear", num_warmup_steps=WARMUP, num_training_steps=updates)
    return [pytest.approx([base * schedule(k) for base in base_lrs]) for k in range(updates)]


@pytest.mark.parametrize("accumulation", [1, 2])
@pytest.mark.parametrize("follow", [False, True])
def test_each_update_uses_the_schedule_at_its_index(tmp_path, accumulation, follow):
    updates = 2 * ROWS // BATCH // accumulation  # two epochs
    module = Regression(updates, follow)
    trainer, lrs = _fit(module, tmp_path, max_epochs=2, accumulate_grad_batches=accumulation)
    scheduler = trainer.lr_scheduler_configs[0].scheduler
    assert lrs == _expected(updates, [LR, LR])
    assert scheduler.last_epoch == trainer.global_step == updates


def test_ckpt_path_resume_equals_the_uninterrupted_run(tmp_path):
    updates = 2 * ROWS // BATCH

    def checkpoints(folder: str) -> dict:
        saving = lightning.pytorch.callbacks.ModelCheckpoint(
            dirpath=tmp_path / folder, every_n_train_steps=updates // 2, save_top_k=-1
        )
        return {"callbacks": [saving], "enable_checkpointing": True}

    module = Regression(updates)
    _, full = _fit(module, tmp_path, max_epochs=2, **checkpoints("checkpoints"))
    uninterrupted = {name: p.detach().clone() for name, p in module.named_parameters()}

    resumed_module = Regression(updates)
    with torch.no_grad():  # other weights: the checkpoint must restore them
        for p in resumed_module.parameters():
            p.add_(1.0)
    middle = tmp_path / "checkpoints" / f"epoch=0-step={updates // 2}.ckpt"
    trainer, resumed = _fit(
        resumed_module, tmp_path, max_epochs=2, ckpt_path=str(middle), **checkpoints("resumed")
    )
    assert resumed == full[updates // 2 :]
    assert trainer.lr_scheduler_configs[0].scheduler.last_epoch == updates
    for name, p in resumed_module.named_parameters():
        assert_close(p, uninterrupted[name], torch.float32, what=name)


def test_greedy_lr_with_a_monitored_metric(tmp_path):
    module = Regression(updates=0, greedy=True)
    _, lrs = _fit(module, tmp_path, max_epochs=4)
    # Lightning steps GreedyLR with the monitored epoch loss: replay the losses it saw.
    replay = GreedyLR(
        torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=LR),
        factor=0.5,
        patience=0,
        min_lr=1e-4,
    )
    per_epoch = [LR]
    for loss in module.epoch_losses[:-1]:
        replay.step(loss)
        per_epoch.append(replay.get_last_lr()[0])
    steps_per_epoch = ROWS // BATCH
    assert [group_lrs[0] for group_lrs in lrs] == pytest.approx(
        [lr for lr in per_epoch for _ in range(steps_per_epoch)]
    )
    assert len(set(per_epoch)) > 1  # the lr did change
