"""accelerate's training loop with a stepsize schedule that follows the optimizer.

    pip install stepsize[torch] accelerate
    accelerate launch --multi_gpu --num_processes 2 examples/accelerate_train.py

(``--multi_gpu`` with 2 processes runs on gloo where there is no GPU; ``python
examples/accelerate_train.py`` runs one process.) accelerate's prepared scheduler is stepped
once per process for every update, so a schedule sized in updates would run twice as fast on 2
processes; with ``follow_optimizer=True`` it counts the updates the optimizer applied, and each
update uses the schedule at its index, also with gradient accumulation.
"""

import math

import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader, TensorDataset

from stepsize.torch import AdamW, get_linear_schedule_with_warmup, param_groups

EPOCHS = 3
ACCUMULATION_STEPS = 2


def make_data(rows: int = 512) -> TensorDataset:
    """A regression task, y = tanh(x W1) W2; the same data in every process."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(rows, 16, generator=generator)
    w1 = torch.randn(16, 32, generator=generator) / 4
    w2 = torch.randn(32, 4, generator=generator) / 32**0.5
    return TensorDataset(x, torch.tanh(x @ w1) @ w2)


def main() -> None:
    accelerator = Accelerator(
        cpu=not torch.cuda.is_available(), gradient_accumulation_steps=ACCUMULATION_STEPS
    )
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(16, 64), torch.nn.LayerNorm(64), torch.nn.GELU(), torch.nn.Linear(64, 4)
    )
    loader = DataLoader(make_data(), batch_size=16, shuffle=True)
    optimizer = AdamW(param_groups(model, lr=1e-2, weight_decay=0.01))
    # Sized in optimizer updates: each process sees 1/num_processes of the batches.
    per_process = math.ceil(len(loader) / accelerator.num_processes)
    updates = EPOCHS * math.ceil(per_process / ACCUMULATION_STEPS)
    scheduler = get_linear_schedule_with_warmup(
        optimizer, num_warmup_steps=updates // 10, num_training_steps=updates,
        follow_optimizer=True,
    )  # fmt: skip
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)

    for epoch in range(EPOCHS):
        for x, y in loader:
            with accelerator.accumulate(model):
                loss = torch.nn.functional.mse_loss(model(x), y)
                accelerator.backward(loss)
                optimizer.step()
                scheduler.step()  # called once per process: follow_optimizer makes it harmless
                optimizer.zero_grad()
        accelerator.print(
            f"epoch {epoch}: loss {loss.item():.4f}  lr {scheduler.get_last_lr()[0]:.2e}  "
            f"updates {scheduler.scheduler.optimizer_steps} of {updates}"
        )


if __name__ == "__main__":
    main()
