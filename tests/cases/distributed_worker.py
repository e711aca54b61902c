"""The 2-process worker of the distributed tests: the cases' training under DDP and FSDP2.

Run once per rank (CPU, gloo; ``tests`` on the import path):

    python -m cases.distributed_worker RANK WORLD_SIZE RENDEZVOUS_FILE OUT_DIR

Rank 0 writes OUT_DIR/results.pt: one entry per case with the full parameters and optimizer
state after training, or the error that case raised.
"""

from __future__ import annotations

import datetime
import sys
import traceback
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.algorithms.ddp_comm_hooks import default_hooks
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_optimizer_state_dict,
    get_state_dict,
    set_state_dict,
)
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard
from torch.distributed.tensor import DTensor
from torch.nn.parallel import DistributedDataParallel

from cases.distributed import (
    CHECKPOINTS,
    DTYPES,
    MAX_GRAD_NORM,
    OPTIMIZERS,
    STEPS,
    loss_fn,
    make_batches,
    make_model,
    make_schedule,
    make_uneven_batches,
    plain_state,
    snapshot,
    summed_loss,
)
from cases.distributed_failures import run_micro_batch
from stepsize.torch import GradientAccumulation

__all__ = ["CASES", "main"]


def _full_params(model: torch.nn.Module) -> dict:
    return {
        name: (p.full_tensor() if isinstance(p, DTensor) else p).detach().clone()
        for name, p in model.named_parameters()
    }


def _full_optimizer_state(model: torch.nn.Module, opt: torch.optim.Optimizer) -> dict:
    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    state = get_optimizer_state_dict(model, opt, options=options)["state"]
    return {name: plain_state(s) for name, s in state.items()}


def _rank_slice(x: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    rows = x.shape[0] // world
    return x[rank * rows : (rank + 1) * rows]


def _train(model, opt, batches, rank, world) -> None:
    for x, y in batches:
        loss_fn(model, _rank_slice(x, rank, world), _rank_slice(y, rank, world)).backward()
        opt.step()
        opt.zero_grad()


def _ddp(name: str, rank: int, world: int, tmp: Path) -> dict:
    ddp = DistributedDataParallel(make_model(DTYPES[name]))
    opt = OPTIMIZERS[name](ddp.parameters())
    _train(ddp, opt, make_batches(STEPS), rank, world)
    return snapshot(ddp.module, opt)


def _ddp_accumulation(name: str, rank: int, world: int, tmp: Path) -> dict:
    """10 micro-batches per epoch, steps=4 (windows 4, 4, 2), 2 epochs, with a schedule."""
    ddp = DistributedDataParallel(make_model())
    reductions = [0]

    def counting_allreduce(state, bucket):
        reductions[0] += 1
        return default_hooks.allreduce_hook(state, bucket)

    ddp.register_comm_hook(None, counting_allreduce)
    opt = OPTIMIZERS[name](ddp.parameters())
    scheduler = make_schedule(opt)
    acc = GradientAccumulation(ddp, opt, scheduler, steps=4)
    synced, lrs = [], []
    for _ in range(2):
        for x, y in acc.iterate(make_batches(10)):
            before = reductions[0]
            with acc.accumulate():
                acc.backward(loss_fn(ddp, _rank_slice(x, rank, world), _rank_slice(y, rank, world)))
            synced.append(reductions[0] > before)
            lrs.append(scheduler.get_last_lr()[0])
    result = snapshot(ddp.module, opt)
    result["synced"] = synced
    result["lrs"] = lrs
    result["counters"] = [acc.micro_steps, acc.optimizer_steps, scheduler.last_epoch]
    return result


def _fsdp_model(mesh, dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    model = make_model(dtype)
    for layer in model:
        if isinstance(layer, torch.nn.Linear):
            fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def _fsdp(name: str, rank: int, world: int, tmp: Path) -> dict:
    model = _fsdp_model(init_device_mesh("cpu", (world,)), DTYPES[name])
    opt = OPTIMIZERS[name](model.parameters())
    _train(model, opt, make_batches(STEPS), rank, world)
    return {"params": _full_params(model), "state": _full_optimizer_state(model, opt)}


def _fsdp_accumulation(name: str, rank: int, world: int, tmp: Path) -> dict:
    """As the DDP accumulation case, on FSDP2 and with gradient clipping."""
    model = _fsdp_model(init_device_mesh("cpu", (world,)))
    opt = OPTIMIZERS[name](model.parameters())
    scheduler = make_schedule(opt)
    acc = GradientAccumulation(model, opt, scheduler, steps=4, max_grad_norm=MAX_GRAD_NORM)
    reduced, norms = [], []
    for _ in range(2):
        for x, y in acc.iterate(make_batches(10)):
            with acc.accumulate():
                loss = loss_fn(model, _rank_slice(x, rank, world), _rank_slice(y, rank, world))
                acc.backward(loss)
                if not acc.sync_gradients:
                    # Without reduce-scatter the sharded parameters get no gradient yet.
                    reduced.append(any(p.grad is not None for p in model.parameters()))
            if acc.pending == 0:
                norms.append(float(acc.grad_norm.full_tensor()))
    return {
        "params": _full_params(model),
        "state": _full_optimizer_state(model, opt),
        "reduced": reduced,
        "norms": norms,
        "counters": [acc.micro_steps, acc.optimizer_steps, scheduler.last_epoch],
    }


# Micro-batches (by index) that raise, and where; see cases.distributed_failures. With steps=4:
# DDP keeps the window when its synchronizing micro-batch fails before its backward (4) and
# discards it when it fails after (10); the others are isolated. FSDP2 discards the window.
DDP_FAILURES = {1: "backward", 4: "forward", 7: "after", 10: "after"}
FSDP_FAILURES = {1: "backward", 7: "forward"}


def _accumulation_with_failures(model, opt, failures, rank, world) -> dict:
    """15 micro-batches, steps=4, with a schedule; the micro-batches in ``failures`` raise."""
    scheduler = make_schedule(opt)
    acc = GradientAccumulation(model, opt, scheduler, steps=4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i, (x, y) in enumerate(make_batches(15)):
            x, y = _rank_slice(x, rank, world), _rank_slice(y, rank, world)
            run_micro_batch(acc, model, x, y, failures.get(i))
    return {
        "counters": [acc.micro_steps, acc.optimizer_steps, acc.pending, scheduler.last_epoch],
        "warnings": [str(w.message) for w in caught if w.category is RuntimeWarning],
    }


def _ddp_failures(name: str, rank: int, world: int, tmp: Path) -> dict:
    ddp = DistributedDataParallel(make_model())
    opt = OPTIMIZERS[name](ddp.parameters())
    result = _accumulation_with_failures(ddp, opt, DDP_FAILURES, rank, world)
    return {**result, **snapshot(ddp.module, opt)}


def _fsdp_failures(name: str, rank: int, world: int, tmp: Path) -> dict:
    model = _fsdp_model(init_device_mesh("cpu", (world,)))
    opt = OPTIMIZERS[name](model.parameters())
    result = _accumulation_with_failures(model, opt, FSDP_FAILURES, rank, world)
    return {**result, "params": _full_params(model), "state": _full_optimizer_state(model, opt)}


def _token_weighted(model, opt, rank: int, world: int) -> list[int]:
    """10 micro-batches of 1 to 8 rows, steps=4 (windows 4, 4, 2), with a schedule and
    clipping; summed losses over unequal shares of each micro-batch's rows: rank 0 holds a
    third (none of 1 or 2 rows), rank 1 the rest. Returns the counters."""
    assert world == 2
    scheduler = make_schedule(opt)
    acc = GradientAccumulation(model, opt, scheduler, steps=4, max_grad_norm=MAX_GRAD_NORM)
    for x, y in acc.iterate(make_uneven_batches(10)):
        split = x.shape[0] // 3
        rows = slice(None, split) if rank == 0 else slice(split, None)
        with acc.accumulate():
            count = torch.tensor(y[rows].numel())
            acc.backward(summed_loss(model, x[rows], y[rows]), num_items=count)
    return [acc.micro_steps, acc.optimizer_steps, scheduler.last_epoch]


def _ddp_token_weighted(name: str, rank: int, world: int, tmp: Path) -> dict:
    ddp = DistributedDataParallel(make_model())
    opt = OPTIMIZERS[name](ddp.parameters())
    counters = _token_weighted(ddp, opt, rank, world)
    return {**snapshot(ddp.module, opt), "counters": counters}


def _fsdp_token_weighted(name: str, rank: int, world: int, tmp: Path) -> dict:
    model = _fsdp_model(init_device_mesh("cpu", (world,)))
    opt = OPTIMIZERS[name](model.parameters())
    counters = _token_weighted(model, opt, rank, world)
    return {
        "params": _full_params(model),
        "state": _full_optimizer_state(model, opt),
        "counters": counters,
    }


def _fsdp_checkpoint(name: str, rank: int, world: int, tmp: Path) -> dict:
    """Train, save with DCP, train on; load into fresh objects and train on again."""
    mesh = init_device_mesh("cpu", (world,))
    batches = make_batches(STEPS)
    half = STEPS // 2
    path = tmp / f"checkpoint_{name}"
    model = _fsdp_model(mesh, DTYPES[name])
    opt = OPTIMIZERS[name](model.parameters())
    _train(model, opt, batches[:half], rank, world)
    model_state, optim_state = get_state_dict(model, opt)
    dcp.save({"model": model_state, "optim": optim_state}, checkpoint_id=path)
    _train(model, opt, batches[half:], rank, world)
    uninterrupted = _full_params(model)

    model = _fsdp_model(mesh, DTYPES[name])
    opt = OPTIMIZERS[name](model.parameters())
    model_state, optim_state = get_state_dict(model, opt)
    loaded = {"model": model_state, "optim": optim_state}
    dcp.load(loaded, checkpoint_id=path)
    set_state_dict(model, opt, model_state_dict=loaded["model"], optim_state_dict=loaded["optim"])
    _train(model, opt, batches[half:], rank, world)
    return {
        "params": _full_params(model),
        "state": _full_optimizer_state(model, opt),
        "uninterrupted": uninterrupted,
    }


CASES = {
    **{f"ddp_{name}": (_ddp, name) for name in OPTIMIZERS},
    "ddp_accumulation_adamw": (_ddp_accumulation, "adamw"),
    **{f"fsdp_{name}": (_fsdp, name) for name in OPTIMIZERS},
    "fsdp_accumulation_adafactor": (_fsdp_accumulation, "adafactor_beta1"),
    "ddp_accumulation_failures": (_ddp_failures, "adamw"),
    "fsdp_accumulation_failures": (_fsdp_failures, "adamw"),
    "ddp_token_weighted": (_ddp_token_weighted, "adamw"),
    "fsdp_token_weighted": (_fsdp_token_weighted, "adamw"),
    **{f"fsdp_checkpoint_{name}": (_fsdp_checkpoint, name) for name in CHECKPOINTS},
}


def main(argv: list[str]) -> None:
    rank, world, rendezvous, out = int(argv[0]), int(argv[1]), argv[2], Path(argv[3])
    dist.init_process_group(
        "gloo",
        init_method=f"file://{rendezvous}",
        rank=rank,
        world_size=world,
        timeout=datetime.timedelta(seconds=60),
    )
    results: dict[str, Any] = {}
    try:
        for case, (run, name) in CASES.items():
            try:
                results[case] = run(name, rank, world, out)
            except Exception:
                results[case] = {"error": traceback.format_exc()}
            dist.barrier()
    finally:
        dist.destroy_process_group()
    if rank == 0:
        torch.save(results, out / "results.pt")


if __name__ == "__main__":
    main(sys.argv[1:])
