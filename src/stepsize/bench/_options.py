"""The options every benchmark takes: the workload, the timing, threads and ``--json``."""

from __future__ import annotations

import argparse
from pathlib import Path

from stepsize.bench._harness import CLOCKS
from stepsize.bench._workload import QUICK, Workload

__all__ = ["add_options", "resolve_options"]


def add_options(parser: argparse.ArgumentParser, steps: int) -> None:
    """Adds the options every benchmark takes (the workload, timing, threads, --json)."""
    full = Workload()
    parser.add_argument("--steps", type=int, help=f"timed steps per row (default {steps})")
    parser.add_argument("--warmup", type=int, help="untimed steps first (default 2)")
    parser.add_argument(
        "--layers", type=int, help=f"encoder layers of the workload (default {full.layers})"
    )
    parser.add_argument(
        "--hidden", type=int, help=f"width of the workload's encoder (default {full.hidden})"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a check that everything runs, in seconds: {QUICK.layers} layer of width "
        f"{QUICK.hidden} (≈{QUICK.parameters / 1e6:.0f}M parameters), 3 timed steps after 1",
    )
    parser.add_argument("--only", nargs="+", metavar="WORD", help="rows whose name has a WORD")
    parser.add_argument("--threads", type=int, help="intra-op threads of the framework")
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="wall time (default) or the process's CPU time, steadier on a busy machine "
        "(with --threads 1: the one core's time; CPU devices only)",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the table as JSON")


def resolve_options(parser: argparse.ArgumentParser, args: argparse.Namespace, steps: int) -> None:
    """Fills the defaults ``--quick`` changes, checks the values, sets ``args.workload``."""
    base = QUICK if args.quick else Workload()
    defaults = {"steps": 3 if args.quick else steps, "warmup": 1 if args.quick else 2}
    defaults.update(layers=base.layers, hidden=base.hidden)
    for option, value in defaults.items():
        if getattr(args, option) is None:
            setattr(args, option, value)
    if args.steps < 1 or args.warmup < 0 or args.layers < 0 or args.hidden < 1:
        parser.error(
            "--steps and --hidden must be >= 1, --warmup and --layers >= 0, got "
            f"{args.steps}, {args.hidden}, {args.warmup}, {args.layers}"
        )
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    if args.json is not None and not args.json.parent.is_dir():
        parser.error(f"--json: no folder {args.json.parent}")
    args.workload = Workload(args.layers, args.hidden)
