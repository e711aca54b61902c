"""``stepsize show``: a schedule's values as a table, CSV or JSON."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import Any

from stepsize.cli._options import add_schedule_options, build_schedule, step_count

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds the ``show`` subcommand."""
    parser = subparsers.add_parser(
        "show",
        help="print a schedule's values",
        description="Print a schedule's multiplier and learning rate at each step.",
        epilog="example: stepsize show cosine --warmup-steps 2 --training-steps 10 --lr 1e-3",
    )
    parser.add_argument("name", help="schedule name (see `stepsize list`)")
    add_schedule_options(parser)
    parser.add_argument(
        "--format",
        choices=("table", "csv", "json"),
        default="table",
        help="output format (default: table)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Prints the values of ``args.name`` at steps 0 .. N-1."""
    schedule = build_schedule(args.name, args)
    steps = list(range(step_count(args, [schedule])))
    multipliers = [schedule(t) for t in steps]
    lrs = [args.lr * m for m in multipliers]
    if args.format == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["step", "multiplier", "lr"])
        writer.writerows(zip(steps, map(repr, multipliers), map(repr, lrs), strict=True))
    elif args.format == "json":
        document = {
            "schedule": schedule.get_config(),
            "base_lr": args.lr,
            "step": steps,
            "multiplier": multipliers,
            "lr": lrs,
        }
        print(json.dumps(document, indent=2))
    else:
        print(f"# {schedule!r}, lr={args.lr!r}")
        print(f"{'step':>8}  {'multiplier':>14}  {'lr':>14}")
        for t, m, lr in zip(steps, multipliers, lrs, strict=True):
            print(f"{t:>8}  {m:>14.8g}  {lr:>14.8g}")
    return 0
