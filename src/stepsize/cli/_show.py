"""``stepsize show``: a schedule's values as a table, CSV or JSON.

At most ``--points`` rows (default 1000, at most ``MAX_ROWS``): every step if the schedule has
no more, else evenly spaced steps with the first, the last and both sides of every phase
boundary; or every K-th step with ``--every K``. Whenever rows skip steps, one note on stderr
says how many of how many are shown. So any schedule, even one of 10**12 steps, is shown in
bounded time and memory. The values are the schedule's own, ``s(t)`` at each printed step.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import Any

from stepsize import schedules
from stepsize._validation import check_int
from stepsize.cli._options import (
    UsageError,
    add_schedule_options,
    build_schedule,
    check_lr,
    integer,
    step_count,
)
from stepsize.cli._sampling import boundaries, every_steps, sample_steps

__all__ = ["DEFAULT_ROWS", "MAX_ROWS", "add_parser", "rows", "run"]

DEFAULT_ROWS = 1000
MAX_ROWS = 100_000


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds the ``show`` subcommand."""
    parser = subparsers.add_parser(
        "show",
        help="print a schedule's values",
        description="Print a schedule's multiplier and learning rate at each step, or at "
        f"most --points of them (default {DEFAULT_ROWS}): evenly spaced, with the first, the "
        "last and both sides of every phase boundary. A note on stderr says when rows skip "
        "steps.",
        epilog="example: stepsize show cosine --warmup-steps 2 --training-steps 10 --lr 1e-3",
    )
    parser.add_argument("name", help="schedule name (see `stepsize list`)")
    add_schedule_options(parser)
    spacing = parser.add_mutually_exclusive_group()
    spacing.add_argument(
        "--points",
        type=integer,
        metavar="N",
        help=f"print at most N rows (default: {DEFAULT_ROWS}; 2 to {MAX_ROWS})",
    )
    spacing.add_argument(
        "--every",
        type=integer,
        metavar="K",
        help=f"print steps 0, K, 2K, ... and the last step (at most {MAX_ROWS} rows)",
    )
    parser.add_argument(
        "--format",
        choices=("table", "csv", "json"),
        default="table",
        help="output format (default: table)",
    )
    return parser


def rows(args: argparse.Namespace, count: int, schedule: schedules.Schedule) -> list[int]:
    """The steps to print among 0 .. ``count`` − 1, as ``--points`` / ``--every`` ask.

    Raises:
        UsageError: for a bad ``--points`` or ``--every``, or an ``--every`` that gives more
            than ``MAX_ROWS`` rows.
    """
    try:
        if args.every is not None:
            every = check_int("--every", args.every, low=1)
            if (count - 1) // every + 2 > MAX_ROWS:
                raise UsageError(
                    f"--every {every} gives more than {MAX_ROWS} rows of {count} steps; "
                    "choose a larger K, or --points N"
                )
            return every_steps(count, every)
        points = DEFAULT_ROWS if args.points is None else args.points
        points = check_int("--points", points, low=2, high=MAX_ROWS)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return sample_steps(count, points, boundaries(schedule))


def run(args: argparse.Namespace) -> int:
    """Prints the values of ``args.name`` at (at most ``--points`` of) steps 0 .. N-1."""
    schedule = build_schedule(args.name, args)
    lr = check_lr(schedule, args.lr)
    count = step_count(args, [schedule])
    steps = rows(args, count, schedule)
    if len(steps) < count:
        print(
            f"stepsize show: note: showing {len(steps)} of {count} steps "
            "(choose with --points N or --every K)",
            file=sys.stderr,
        )
    multipliers = [schedule(t) for t in steps]
    lrs = [lr * m for m in multipliers]
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
        # Every value is finite (schedules are, and --lr times the bound is checked): a NaN
        # or inf here would be a bug, and must not become JSON's invalid `Infinity`.
        print(json.dumps(document, indent=2, allow_nan=False))
    else:
        print(f"# {schedule!r}, lr={args.lr!r}")
        print(f"{'step':>8}  {'multiplier':>14}  {'lr':>14}")
        for t, m, lr in zip(steps, multipliers, lrs, strict=True):
            print(f"{t:>8}  {m:>14.8g}  {lr:>14.8g}")
    return 0
