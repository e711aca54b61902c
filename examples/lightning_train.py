"""Lightning with stepsize's AdamW over param_groups and a per-update schedule.

    pip install stepsize[torch] lightning
    python examples/lightning_train.py

``configure_optimizers`` returns the optimizer and the scheduler with ``"interval": "step"``:
Lightning steps it after every optimizer update (once per ``accumulate_grad_batches``
micro-batches), and ``follow_optimizer=True`` ties the schedule to the updates applied.
"""

import math

import lightning
import torch
from torch.utils.data import DataLoader, TensorDataset

from stepsize.torch import AdamW, get_linear_schedule_with_warmup, param_groups

EPOCHS = 3
ACCUMULATION_STEPS = 2


def make_loader(rows: int = 512) -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(rows, 16, generator=generator)
    y = torch.tanh(x @ torch.randn(16, 4, generator=generator))
    return DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True)


class Regression(lightning.LightningModule):
    def __init__(self, updates: int) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(16, 64), torch.nn.LayerNorm(64), torch.nn.GELU(), torch.nn.Linear(64, 4)
        )
        self.updates = updates

    def training_step(self, batch, batch_index):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("loss", loss, prog_bar=True)
        return loss

    def configure_optimizers(self):
        optimizer = AdamW(param_groups(self, lr=1e-2, weight_decay=0.01))
        scheduler = get_linear_schedule_with_warmup(
            optimizer, num_warmup_steps=self.updates // 10, num_training_steps=self.updates,
            follow_optimizer=True,
        )  # fmt: skip
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }


def main() -> None:
    torch.manual_seed(0)
    loader = make_loader()
    updates = EPOCHS * math.ceil(len(loader) / ACCUMULATION_STEPS)
    module = Regression(updates)
    trainer = lightning.Trainer(
        max_epochs=EPOCHS,
        accumulate_grad_batches=ACCUMULATION_STEPS,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
    )
    trainer.fit(module, loader)
    scheduler = trainer.lr_scheduler_configs[0].scheduler
    print(f"updates {trainer.global_step} of {updates}, final lr {scheduler.get_last_lr()[0]:.2e}")


if __name__ == "__main__":
    main()
