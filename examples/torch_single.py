"""Train on one device: AdamW, linear warmup + cosine decay, gradient accumulation, AMP.

    python examples/torch_single.py

Runs on a GPU when there is one (float16 autocast with a GradScaler), else on the CPU.
"""

import math

import torch
from torch.utils.data import DataLoader, TensorDataset

from stepsize.torch import AdamW, GradientAccumulation, get_cosine_schedule_with_warmup

EPOCHS = 4
ACCUMULATION_STEPS = 4  # micro-batches per optimizer update


def make_data(rows: int = 1000) -> TensorDataset:
    """A regression task, y = tanh(x W1) W2 + noise; the same data in every process."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(rows, 32, generator=generator)
    w1 = torch.randn(32, 64, generator=generator) / 32**0.5
    w2 = torch.randn(64, 8, generator=generator) / 64**0.5
    y = torch.tanh(x @ w1) @ w2 + 0.01 * torch.randn(rows, 8, generator=generator)
    return TensorDataset(x, y)


def main() -> None:
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    amp = device.type == "cuda"
    loader = DataLoader(make_data(), batch_size=16, shuffle=True)
    model = torch.nn.Sequential(
        torch.nn.Linear(32, 128), torch.nn.GELU(), torch.nn.Linear(128, 8)
    ).to(device)

    optimizer = AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    # The schedule counts optimizer updates: the last window of an epoch may be shorter.
    updates = EPOCHS * math.ceil(len(loader) / ACCUMULATION_STEPS)
    scheduler = get_cosine_schedule_with_warmup(
        optimizer, num_warmup_steps=updates // 10, num_training_steps=updates
    )
    acc = GradientAccumulation(
        model,
        optimizer,
        scheduler,
        steps=ACCUMULATION_STEPS,
        scaler=torch.amp.GradScaler(device.type, enabled=amp),
        max_grad_norm=1.0,
    )

    for epoch in range(EPOCHS):
        total, count = 0.0, 0
        for x, y in acc.iterate(loader):  # ends the epoch's last window with its last batch
            x, y = x.to(device), y.to(device)
            with acc.accumulate():
                with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
                    loss = torch.nn.functional.mse_loss(model(x), y)
                acc.backward(loss)
            total, count = total + loss.item(), count + 1
        print(
            f"epoch {epoch}: loss {total / count:.4f}  lr {scheduler.get_last_lr()[0]:.2e}  "
            f"updates {acc.optimizer_steps}  micro-batches {acc.micro_steps}"
        )


if __name__ == "__main__":
    main()
