"""The accelerate cases: a standard accelerate training loop, run in 2 CPU processes.

Launched by ``test_accelerate.py`` as

    accelerate launch --multi_gpu --num_processes 2 tests_integration/accelerate_run.py OUT

(``Accelerator(cpu=True)`` then runs on gloo). Each case trains the same small model with
stepsize's AdamW over ``param_groups`` and a linear warmup/decay schedule prepared by
accelerate with its defaults (``step_scheduler_with_optimizer=True``, ``split_batches=False``:
each process loads its own batch, the update sees both). Rank 0 writes OUT/results.pt: per
case the lrs each update used, the rows of each update's window, the final parameters and the
scheduler's counters. The test compares them with a 1-process run on the same windows.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch

from stepsize.torch import AdamW, get_linear_schedule_with_warmup, param_groups

ROWS = 96  # dataset rows
MICRO_BATCH = 4  # rows per process per micro-batch
WARMUP = 2
LR = 5e-2

# name -> (gradient_accumulation_steps, follow_optimizer)
CASES = {
    "follow": (1, True),
    "follow_accumulation": (2, True),
    "steps_per_call": (1, False),
}


def updates(world: int, accumulation: int) -> int:
    """Optimizer updates of one epoch: every process loads MICRO_BATCH rows per micro-batch."""
    return ROWS // (MICRO_BATCH * world * accumulation)


def make_model() -> torch.nn.Module:
    """The same initial weights in every process (a LayerNorm gives param_groups 2 groups)."""
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(8, 16), torch.nn.LayerNorm(16), torch.nn.Tanh(), torch.nn.Linear(16, 3)
    )


def make_data() -> torch.utils.data.TensorDataset:
    """(row index, x, y): the index tells which rows each update saw."""
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(ROWS, 8, generator=generator)
    y = torch.randn(ROWS, 3, generator=generator)
    return torch.utils.data.TensorDataset(torch.arange(ROWS), x, y)


def make_optimizer(model: torch.nn.Module, total: int, follow: bool) -> tuple[Any, Any]:
    optimizer = AdamW(param_groups(model, lr=LR, weight_decay=0.01))
    scheduler = get_linear_schedule_with_warmup(
        optimizer, num_warmup_steps=WARMUP, num_training_steps=total, follow_optimizer=follow
    )
    return optimizer, scheduler


def loss_fn(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.mse_loss(model(x), y)


def train_reference(windows: list[list[int]], total: int) -> dict[str, torch.Tensor]:
    """One process, one update per window of rows, the loss averaged over the window."""
    _, x, y = make_data().tensors
    model = make_model()
    optimizer, scheduler = make_optimizer(model, total, follow=False)
    for rows in windows:
        loss_fn(model, x[rows], y[rows]).backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def run_case(accumulation: int, follow: bool) -> dict[str, Any]:
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=True, gradient_accumulation_steps=accumulation)
    model = make_model()
    total = updates(accelerator.num_processes, accumulation)
    optimizer, scheduler = make_optimizer(model, total, follow)
    loader = torch.utils.data.DataLoader(make_data(), batch_size=MICRO_BATCH)
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
    lrs, windows, window = [], [], []
    for index, x, y in loader:
        with accelerator.accumulate(model):
            accelerator.backward(loss_fn(model, x, y))
            window += accelerator.gather(index).tolist()
            if accelerator.sync_gradients:  # this micro-batch's optimizer.step() updates
                lrs.append([group["lr"] for group in optimizer.param_groups])
                windows.append(sorted(window))
                window = []
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
    unwrapped = accelerator.unwrap_model(model)
    inner = scheduler.scheduler
    return {
        "lrs": lrs,
        "windows": windows,
        "params": {name: p.detach().clone() for name, p in unwrapped.named_parameters()},
        "base_lrs": list(inner.base_lrs),
        "last_epoch": inner.last_epoch,
        "total": total,
    }


def main(out: Path) -> None:
    results = {name: run_case(*case) for name, case in CASES.items()}
    import torch.distributed as dist

    if dist.get_rank() == 0:
        torch.save(results, out / "results.pt")
    dist.barrier()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
