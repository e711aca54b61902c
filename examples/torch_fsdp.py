"""Sharded training with FSDP2 (``fully_shard``): AdamW, cosine schedule, accumulation, DCP.

    torchrun --nproc-per-node 2 examples/torch_fsdp.py [--checkpoint DIR]

NCCL on GPUs (one per process), gloo on CPUs. Parameters, gradients and optimizer state are
DTensors sharded across the processes; stepsize's optimizers compute on them as on whole
tensors, so the numbers are those of a single-process run. ``--checkpoint DIR`` saves the
sharded model and optimizer with torch.distributed.checkpoint at the end and reloads them.
"""

import argparse
import gc
import math
import os

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from stepsize.torch import AdamW, GradientAccumulation, get_cosine_schedule_with_warmup

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


def make_model(mesh) -> torch.nn.Module:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(32, 128), torch.nn.GELU(), torch.nn.Linear(128, 8)
    ).to(mesh.device_type)
    for layer in model:  # shard each layer, then the root for the rest
        if isinstance(layer, torch.nn.Linear):
            fully_shard(layer, mesh=mesh)
    return fully_shard(model, mesh=mesh)


def train(cuda: bool, checkpoint: str | None) -> None:
    rank = dist.get_rank()
    if cuda:
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    mesh = init_device_mesh("cuda" if cuda else "cpu", (dist.get_world_size(),))
    device = torch.device("cuda", torch.cuda.current_device()) if cuda else torch.device("cpu")

    dataset = make_data()
    sampler = DistributedSampler(dataset, shuffle=True, seed=0)
    loader = DataLoader(dataset, batch_size=8, sampler=sampler)  # 8 rows per process and step
    model = make_model(mesh)
    optimizer = AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    updates = EPOCHS * math.ceil(len(loader) / ACCUMULATION_STEPS)
    scheduler = get_cosine_schedule_with_warmup(
        optimizer, num_warmup_steps=updates // 10, num_training_steps=updates
    )
    # Gradient reduce-scatter waits for each window's last micro-batch.
    acc = GradientAccumulation(
        model, optimizer, scheduler, steps=ACCUMULATION_STEPS, max_grad_norm=1.0
    )

    for epoch in range(EPOCHS):
        sampler.set_epoch(epoch)
        total = torch.zeros(2, device=device)
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

    if checkpoint:
        model_state, optimizer_state = get_state_dict(model, optimizer)
        state = {"model": model_state, "optimizer": optimizer_state}
        dcp.save(state, checkpoint_id=checkpoint)
        # Resuming: fresh objects (any number of processes), then load into their state dicts.
        model = make_model(mesh)
        optimizer = AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
        model_state, optimizer_state = get_state_dict(model, optimizer)
        state = {"model": model_state, "optimizer": optimizer_state}
        dcp.load(state, checkpoint_id=checkpoint)
        set_state_dict(
            model,
            optimizer,
            model_state_dict=state["model"],
            optim_state_dict=state["optimizer"],
        )
        if rank == 0:
            print(f"saved and reloaded the sharded checkpoint in {checkpoint}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoint", help="directory to save and reload a DCP checkpoint")
    args = parser.parse_args()
    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    try:
        train(cuda, args.checkpoint)
    finally:
        # Everything train() made (the model, DDP's reducer, the tensors collectives used) is
        # gone before the group is destroyed: the last reference to a gloo process group held
        # by a model, not by torch.distributed, can deadlock or abort the process at exit.
        gc.collect()
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
