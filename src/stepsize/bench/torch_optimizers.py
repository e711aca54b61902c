"""Step time and state memory of torch AdamW / Adafactor implementations.

stepsize's AdamW and Adafactor (each path: default, reference loop, foreach, fused) against
torch's AdamW (for-loop, foreach, fused), transformers' AdamW and Adafactor and
``torch.optim.Adafactor``, on the BERT-like workload (≈52M parameters, random gradients).
Every contestant steps the same parameters (each keeps its own state). Each row reports the
median of ``--steps`` timed steps after ``--warmup`` untimed ones, the median of its
per-round ratio to torch's fused AdamW on float32 parameters (with ``--dtype bfloat16`` the
rows step bfloat16 parameters, the reference still float32 ones), and its optimizer-state
bytes per parameter. A reference that is not installed is listed as skipped.

Usage::

    stepsize bench torch                  # the table
    stepsize bench torch --quick          # a small workload: a check in seconds
    stepsize bench torch --only adamw     # rows whose name contains "adamw"
    stepsize bench torch --sweep          # also time 1M .. 100M parameters
    stepsize bench torch --device cuda --dtype bfloat16 --json table.json
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from stepsize.bench import _harness as harness
from stepsize.bench._options import add_options, resolve_options
from stepsize.bench._workload import Workload

if TYPE_CHECKING:
    import torch

    Factory = Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer]

__all__ = ["BASELINE", "contestants", "main", "make_params", "parse", "run", "state_bytes"]

BASELINE = "torch AdamW (fused)"
# The reference of a bfloat16/float16 run: the fastest float32 AdamW, what bf16 should beat.
BASELINE_FLOAT32 = "torch AdamW (fused, float32)"
LR = 1e-3
WEIGHT_DECAY = 0.01
STEPS = 10
SWEEP_SIZES = (1_000_000, 3_000_000, 10_000_000, 30_000_000, 100_000_000)
SWEEP_ROWS = ("stepsize AdamW (fused)", BASELINE, "stepsize Adafactor")
LOOP, FOREACH, FUSED = {"foreach": False}, {"foreach": True}, {"fused": True}


def _factory(module: str, name: str, **kwargs: Any) -> Factory:
    """Builds ``module.name(params, **kwargs)``, importing it only then (it may be missing)."""

    def build(params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
        optimizer_class = getattr(importlib.import_module(module), name)
        return optimizer_class(params, **kwargs)

    return build


def contestants() -> list[tuple[str, Factory]]:
    """(name, factory) of every row, the baseline included, in table order."""
    adamw = {"lr": LR, "weight_decay": WEIGHT_DECAY}
    hf_adamw = {**adamw, "no_deprecation_warning": True}
    return [
        ("stepsize AdamW (loop)", _factory("stepsize.torch", "AdamW", **adamw, **LOOP)),
        ("stepsize AdamW (foreach)", _factory("stepsize.torch", "AdamW", **adamw, **FOREACH)),
        ("stepsize AdamW (fused)", _factory("stepsize.torch", "AdamW", **adamw, **FUSED)),
        ("torch AdamW (for-loop)", _factory("torch.optim", "AdamW", **adamw, **LOOP)),
        ("torch AdamW (foreach)", _factory("torch.optim", "AdamW", **adamw, **FOREACH)),
        (BASELINE, _factory("torch.optim", "AdamW", **adamw, **FUSED)),
        ("transformers AdamW", _factory("transformers.optimization", "AdamW", **hf_adamw)),
        ("stepsize Adafactor", _factory("stepsize.torch", "Adafactor")),
        ("stepsize Adafactor (loop)", _factory("stepsize.torch", "Adafactor", **LOOP)),
        ("stepsize Adafactor (foreach)", _factory("stepsize.torch", "Adafactor", **FOREACH)),
        ("stepsize Adafactor (fused)", _factory("stepsize.torch", "Adafactor", **FUSED)),
        ("transformers Adafactor", _factory("transformers.optimization", "Adafactor")),
        ("torch Adafactor", _factory("torch.optim", "Adafactor")),
        ("torch Adafactor (foreach)", _factory("torch.optim", "Adafactor", **FOREACH)),
    ]


def make_params(
    workload: Workload, device: str | torch.device = "cpu", dtype: torch.dtype | None = None
) -> list[torch.nn.Parameter]:
    """Parameters of ``workload`` (float32 unless ``dtype``) with random gradients attached.

    Example:
        >>> params = make_params(Workload(layers=0, hidden=8))
        >>> [tuple(p.shape) for p in params[:2]], params[0].grad.dtype
        ([(30522, 8), (512, 8)], torch.float32)
    """
    import torch

    dtype = torch.float32 if dtype is None else dtype
    generator = torch.Generator().manual_seed(0)
    params = []
    for shape in workload.shapes():
        p = torch.nn.Parameter((torch.randn(shape, generator=generator) * 0.02).to(device, dtype))
        p.grad = (torch.randn(shape, generator=generator) * 1e-3).to(device, dtype)
        params.append(p)
    return params


def state_bytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes of every tensor in the optimizer's per-parameter state (shared storage once)."""
    import torch

    seen, total = set(), 0
    for state in optimizer.state.values():
        for value in state.values():
            if isinstance(value, torch.Tensor) and value.untyped_storage().data_ptr() not in seen:
                seen.add(value.untyped_storage().data_ptr())
                total += value.untyped_storage().nbytes()
    return total


def _race(
    factories: Sequence[tuple[str, Factory]],
    workload: Workload,
    args: argparse.Namespace,
) -> tuple[list[harness.Contestant], str]:
    """Measures every factory's optimizer on ``workload``; returns the rows and the reference.

    The reference is torch's fused AdamW on float32 parameters, whatever ``args.dtype``.
    """
    import torch

    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    params = make_params(workload, device, dtype)
    float32 = params if dtype == torch.float32 else make_params(workload, device)
    reference = BASELINE if dtype == torch.float32 else BASELINE_FLOAT32

    def entry(name: str, factory: Factory, on: list[torch.nn.Parameter]) -> harness.Contestant:
        def build() -> tuple[Callable[[], object], Callable[[], int]]:
            optimizer = factory(on)
            return optimizer.step, lambda: state_bytes(optimizer)

        return harness.prepare(name, str(on[0].dtype).removeprefix("torch."), build)

    rows = []
    for name, factory in factories:
        if name != reference:  # in a float32 run the baseline row is the reference
            rows.append(entry(name, factory, params))
        if name == BASELINE:
            rows.append(entry(reference, factory, float32))
    sync = torch.cuda.synchronize if device.type == "cuda" else lambda: None
    harness.measure(rows, args.steps, args.warmup, harness.CLOCKS[args.clock], sync)
    return rows, reference


def _sweep(
    factories: Sequence[tuple[str, Factory]], args: argparse.Namespace
) -> list[dict[str, Any]]:
    """Median step time (ms) of a few rows as the parameter count grows."""
    chosen = factories if args.only else [(n, f) for n, f in factories if n in SWEEP_ROWS]
    results: list[dict[str, Any]] = []
    for target in args.sizes:
        workload = Workload.scaled(target)
        rows, _ = _race(chosen, workload, args)
        medians = {r.name: statistics.median(r.times) * 1e3 if r.times else None for r in rows}
        results.append({"parameters": workload.parameters, "median_ms": medians})
    header = " ".join(f"{result['parameters'] / 1e6:>8.1f}M" for result in results)
    print(f"\n{'median ms per step':30s} {header}")
    for name in results[0]["median_ms"]:
        cells = [result["median_ms"][name] for result in results]
        print(f"{name:30s} " + " ".join("-".rjust(9) if c is None else f"{c:9.1f}" for c in cells))
    return results


def parse(argv: Sequence[str] | None = None, prog: str | None = None) -> argparse.Namespace:
    """The options (``--help`` lists them); needs no torch, so help works anywhere."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument(
        "--dtype",
        default="float32",
        choices=["float32", "bfloat16", "float16"],
        help="dtype of the parameters (the reference, torch fused AdamW, stays float32)",
    )
    parser.add_argument("--sweep", action="store_true", help="also time 1M .. 100M parameters")
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=list(SWEEP_SIZES), help="sweep sizes"
    )
    add_options(parser, STEPS)
    args = parser.parse_args(argv)
    resolve_options(parser, args, STEPS)
    return args


def run(args: argparse.Namespace) -> int:
    """Prints the table (and the sweep with ``--sweep``); returns the exit status."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("CUDA is not available here", file=sys.stderr)
        return 2
    if device.type != "cpu" and args.clock != "wall":
        print("--clock cpu measures CPU devices only", file=sys.stderr)
        return 2
    name = str(device)
    if device.type == "cuda":
        name = f"{device} ({torch.cuda.get_device_name(device)})"
    machine = harness.environment(name, torch.get_num_threads(), ("torch", "transformers"))
    setup = f"lr {LR}, weight decay {WEIGHT_DECAY} (AdamW), Adafactor defaults"
    settings = harness.start(args, machine, args.dtype, setup)
    factories = [
        (row, factory)
        for row, factory in contestants()
        if harness.selected(row, args.only, [BASELINE])
    ]
    rows, reference = _race(factories, args.workload, args)
    document = harness.report("torch", rows, {reference: "× fused"}, settings)
    if args.sweep:
        document["sweep"] = _sweep(factories, args)
    harness.save(document, args.json)
    return 0


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Runs the benchmark with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    return run(parse(argv, prog))
