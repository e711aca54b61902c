"""Step time and state memory of torch AdamW / Adafactor implementations (SPEC §5).

The workload is SPEC §5's BERT-like set of ≈52M float32 parameters with random gradients.
Every contestant steps the same parameters and gradients (each keeps its own state), and they
take turns step by step, so load from other processes spreads over all of them. Each row
reports the median of ``--steps`` timed steps after ``--warmup`` untimed ones, the median of
its per-round ratio to torch's fused AdamW, and its optimizer-state bytes per parameter.

Usage::

    python benchmarks/optimizers.py                  # the table
    python benchmarks/optimizers.py --only adamw     # rows whose name contains "adamw"
    python benchmarks/optimizers.py --sweep          # also time 1M .. 100M parameters
    python benchmarks/optimizers.py --device cuda --steps 20

``main(argv)`` runs it from Python (``stepsize bench``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

try:
    from ._workload import bert_shapes, count, make_params, scaled_shapes
except ImportError:  # run as a script, or loaded by path
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _workload import bert_shapes, count, make_params, scaled_shapes

BASELINE = "torch AdamW (fused)"
LR = 1e-3
WEIGHT_DECAY = 0.01
SWEEP_SIZES = (1_000_000, 3_000_000, 10_000_000, 30_000_000, 100_000_000)
SWEEP_ROWS = ("stepsize AdamW (fused)", BASELINE, "stepsize Adafactor")

CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}

Factory = Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer]


def contestants() -> list[tuple[str, Factory]]:
    """(name, factory) of every optimizer that can be built here, the baseline included."""
    rows: list[tuple[str, Factory]] = []
    adamw = {"lr": LR, "weight_decay": WEIGHT_DECAY}
    with contextlib.suppress(ImportError):
        from stepsize.torch import AdamW

        for path, switches in (("loop", {"foreach": False}), ("foreach", {"foreach": True})):
            rows.append((f"stepsize AdamW ({path})", _bind(AdamW, **adamw, **switches)))
        rows.append(("stepsize AdamW (fused)", _bind(AdamW, **adamw, fused=True)))
    for path, switches in (
        ("for-loop", {"foreach": False}),
        ("foreach", {"foreach": True}),
        ("fused", {"fused": True}),
    ):
        rows.append((f"torch AdamW ({path})", _bind(torch.optim.AdamW, **adamw, **switches)))
    with contextlib.suppress(ImportError):
        from transformers.optimization import AdamW as HFAdamW

        rows.append(("transformers AdamW", _bind(HFAdamW, **adamw, no_deprecation_warning=True)))
    with contextlib.suppress(ImportError):
        try:
            from stepsize.torch import Adafactor
        except ImportError:  # not exported yet
            from stepsize.torch._adafactor import Adafactor

        rows.append(("stepsize Adafactor", _bind(Adafactor)))
        for path, switches in (
            ("loop", {"foreach": False}),
            ("foreach", {"foreach": True}),
            ("fused", {"fused": True}),
        ):
            rows.append((f"stepsize Adafactor ({path})", _bind(Adafactor, **switches)))
    with contextlib.suppress(ImportError):
        from transformers.optimization import Adafactor as HFAdafactor

        rows.append(("transformers Adafactor", _bind(HFAdafactor)))
    if hasattr(torch.optim, "Adafactor"):
        rows.append(("torch Adafactor", _bind(torch.optim.Adafactor)))
        rows.append(("torch Adafactor (foreach)", _bind(torch.optim.Adafactor, foreach=True)))
    return rows


def _bind(cls: type, **kwargs: object) -> Factory:
    return lambda params: cls(params, **kwargs)


class Row:
    """One contestant: its optimizer, its timed steps (s), or why it was skipped."""

    def __init__(
        self, name: str, optimizer: torch.optim.Optimizer | None = None, error: str | None = None
    ) -> None:
        self.name, self.optimizer, self.error = name, optimizer, error
        self.times: list[float] = []


def state_bytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes of every tensor in the optimizer's per-parameter state (shared storage once)."""
    seen, total = set(), 0
    for state in optimizer.state.values():
        for value in state.values():
            if isinstance(value, torch.Tensor) and value.untyped_storage().data_ptr() not in seen:
                seen.add(value.untyped_storage().data_ptr())
                total += value.untyped_storage().nbytes()
    return total


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(
    factories: Sequence[tuple[str, Factory]],
    params: list[torch.nn.Parameter],
    steps: int,
    warmup: int,
    clock: Callable[[], float] = time.perf_counter,
) -> list[Row]:
    """Step every optimizer in turn, ``warmup + steps`` rounds; time the last ``steps``."""
    device = params[0].device
    rows = []
    for name, factory in factories:
        try:
            rows.append(Row(name, factory(params)))
        except (TypeError, ValueError, RuntimeError) as error:
            rows.append(Row(name, error=f"{type(error).__name__}: {error}"))
    for round_index in range(warmup + steps):
        for row in rows:
            if row.error is not None:
                continue
            try:
                _sync(device)
                start = clock()
                row.optimizer.step()
                _sync(device)
            except (TypeError, ValueError, RuntimeError) as error:
                row.error, row.optimizer = f"{type(error).__name__}: {error}", None
                continue
            if round_index >= warmup:
                row.times.append(clock() - start)
    return rows


def table(rows: list[Row], n_params: int) -> str:
    """The result table: median ms, ratio to the baseline, state bytes per parameter."""
    base = next((r for r in rows if r.name == BASELINE and r.times), None)
    header = f"{'optimizer':30s} {'median ms':>10s} {'min ms':>9s} {'× fused':>8s}"
    lines = [f"{header} {'state B/param':>14s}"]
    for row in rows:
        if row.error is not None:
            lines.append(f"{row.name:30s} skipped ({row.error.splitlines()[0][:70]})")
            continue
        median = statistics.median(row.times) * 1e3
        ratio = "n/a"
        if base is not None:
            paired = [t / b for t, b in zip(row.times, base.times, strict=True)]
            ratio = f"{statistics.median(paired):.2f}"
        per_param = state_bytes(row.optimizer) / n_params
        lines.append(
            f"{row.name:30s} {median:10.1f} {min(row.times) * 1e3:9.1f} {ratio:>8s} "
            f"{per_param:14.2f}"
        )
    lines.append(f"× fused: median over rounds of (row time / {BASELINE} time) in the same round")
    return "\n".join(lines)


def machine(device: torch.device) -> str:
    """One line naming the machine, the device and the library versions."""
    parts = [
        platform.platform(terse=True),
        f"python {platform.python_version()}",
        f"torch {torch.__version__}",
        f"{os.cpu_count()} CPUs, {torch.get_num_threads()} torch threads",
    ]
    with contextlib.suppress(ImportError):
        import transformers

        parts.append(f"transformers {transformers.__version__}")
    if device.type == "cuda":
        parts.append(torch.cuda.get_device_name(device))
    return " | ".join(parts)


def select(
    factories: list[tuple[str, Factory]], only: Sequence[str] | None
) -> list[tuple[str, Factory]]:
    """Rows whose name contains any of ``only`` (case-insensitive); the baseline always."""
    if not only:
        return factories
    words = [word.lower() for word in only]
    return [
        (name, factory)
        for name, factory in factories
        if name == BASELINE or any(word in name.lower() for word in words)
    ]


def sweep(
    factories: list[tuple[str, Factory]],
    device: torch.device,
    dtype: torch.dtype,
    args: argparse.Namespace,
) -> str:
    """Median step time (ms) of a few rows as the parameter count grows."""
    chosen = factories if args.only else [(n, f) for n, f in factories if n in SWEEP_ROWS]
    sizes, cells = [], {name: [] for name, _ in chosen}
    for target in args.sizes:
        shapes = scaled_shapes(target)
        sizes.append(count(shapes))
        params = make_params(shapes, device=device, dtype=dtype)
        for row in measure(chosen, params, args.steps, args.warmup, CLOCKS[args.clock]):
            cell = "-" if row.error else f"{statistics.median(row.times) * 1e3:.1f}"
            cells[row.name].append(cell)
        del params
    header = " ".join(f"{size / 1e6:>8.1f}M" for size in sizes)
    lines = [f"{'median ms per step':30s} {header}"]
    lines += [f"{name:30s} " + " ".join(f"{c:>9s}" for c in row) for name, row in cells.items()]
    return "\n".join(lines)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per row (>= 1)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--only", nargs="+", help="rows whose name contains one of these words")
    parser.add_argument("--threads", type=int, help="torch intra-op threads")
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="wall time (default) or the process's CPU time, steadier on a busy machine "
        "(with --threads 1: the one core's time; CPU devices only)",
    )
    parser.add_argument("--layers", type=int, default=4, help="encoder layers of the workload")
    parser.add_argument("--sweep", action="store_true", help="also time 1M .. 100M parameters")
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=list(SWEEP_SIZES), help="sweep sizes"
    )
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 0:
        parser.error(f"--steps must be >= 1 and --warmup >= 0, got {args.steps}, {args.warmup}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Print the table (and the sweep with ``--sweep``); returns the exit status."""
    args = parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("CUDA is not available here", file=sys.stderr)
        return 2
    if device.type != "cpu" and args.clock != "wall":
        print("--clock cpu measures CPU devices only", file=sys.stderr)
        return 2
    dtype = getattr(torch, args.dtype)
    factories = select(contestants(), args.only)
    shapes = bert_shapes(layers=args.layers)
    print(machine(device))
    print(
        f"workload: {len(shapes)} tensors, {count(shapes):,d} {args.dtype} parameters on "
        f"{device}; lr {LR}, weight decay {WEIGHT_DECAY} (AdamW), Adafactor defaults; "
        f"{args.steps} timed steps after {args.warmup}, {args.clock} clock"
    )
    params = make_params(shapes, device=device, dtype=dtype)
    rows = measure(factories, params, args.steps, args.warmup, CLOCKS[args.clock])
    print(table(rows, count(shapes)))
    del params
    if args.sweep:
        print()
        print(sweep(factories, device, dtype, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
