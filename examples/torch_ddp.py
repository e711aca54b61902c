"""Data-parallel training with DistributedDataParallel: Adafactor, warmup schedule, accumulation.

    torchrun --nproc-per-node 2 examples/torch_ddp.py

NCCL on GPUs (one per process), gloo on CPUs. Every process trains on its own part of each
batch; DDP averages the gradients, and GradientAccumulation skips that all-reduce on the
micro-batches that do not update (``model.no_sync()``).
"""

import gc
import math
import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from stepsize.torch import Adafactor, GradientAccumulation, get_linear_schedule_with_warmup

EPOCHS = 4
ACCUMULATION_STEPS = 4


def make_data(rows: int = 1000) -> TensorDataset:
    """A regression task, y = tanh(x W1) W2 + noise; the same data in every process."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(rows, 32, generator=generator)
    w1 = torch.randn(32, 64, generator=generator) / 32**0.5
    w2 = torch.randn(64, 8, generator=generator) / 64**0.5
    y = torch.tanh(x @ w1) @ w2 + 0.01 * torch.randn(rows, 8, generator=generator)
    return TensorDataset(x, y)


def train(cuda: bool) -> None:
    rank = dist.get_rank()
    device = torch.device("cuda", int(os.environ["LOCAL_RANK"])) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)

    dataset = make_data()
    sampler = DistributedSampler(dataset, shuffle=True, seed=0)
    loader = DataLoader(dataset, batch_size=8, sampler=sampler)  # 8 rows per process and step
    torch.manual_seed(0)  # the same initial weights everywhere (DDP also broadcasts rank 0's)
    model = torch.nn.Sequential(
        torch.nn.Linear(32, 128), torch.nn.GELU(), torch.nn.Linear(128, 8)
    ).to(device)
    model = DistributedDataParallel(model, device_ids=[device.index] if cuda else None)

    optimizer = Adafactor(model.parameters(), lr=1e-2, relative_step=False, scale_parameter=False)
    updates = EPOCHS * math.ceil(len(loader) / ACCUMULATION_STEPS)
    scheduler = get_linear_schedule_with_warmup(
        optimizer, num_warmup_steps=updates // 10, num_training_steps=updates
    )
    acc = GradientAccumulation(
        model, optimizer, scheduler, steps=ACCUMULATION_STEPS, max_grad_norm=1.0
    )

    for epoch in range(EPOCHS):
        sampler.set_epoch(epoch)
        total = torch.zeros(2, device=device)  # loss sum, batches
        for x, y in acc.iterate(loader):
            x, y = x.to(device), y.to(device)
            with acc.accumulate():
                loss = torch.nn.functional.mse_loss(model(x), y)
                acc.backward(loss)
            total += torch.stack([loss.detach(), torch.ones((), device=device)])
        dist.all_reduce(total)
        if rank == 0:
            print(
                f"epoch {epoch}: loss {(total[0] / total[1]).item():.4f}  "
                f"lr {scheduler.get_last_lr()[0]:.2e}  updates {acc.optimizer_steps}"
            )


def main() -> None:
    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    try:
        train(cuda)
    finally:
        # Everything train() made (the model, DDP's reducer, the tensors collectives used) is
        # gone before the group is destroyed: the last reference to a gloo process group held
        # by a model, not by torch.distributed, can deadlock or abort the process at exit.
        gc.collect()
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
