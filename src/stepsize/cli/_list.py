"""``stepsize list``: every schedule name with its parameters and their defaults."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from stepsize import schedules
from stepsize.cli._options import schedule_parameters
from stepsize.schedules._base import schedule_class

__all__ = ["add_parser", "format_parameters", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds the ``list`` subcommand."""
    return subparsers.add_parser(
        "list",
        help="list the schedules and their parameters",
        description="List every schedule name with its parameters (defaults after '=').",
    )


def format_parameters(name: str) -> str:
    """``"a, b, c=0.5"``: the parameters of schedule ``name``, required ones first.

    Example:
        >>> format_parameters("cosine")
        'num_warmup_steps, num_training_steps, num_cycles=0.5'
    """
    parts = [
        p if default is dataclasses.MISSING else f"{p}={default!r}"
        for p, default in schedule_parameters(name).items()
    ]
    return ", ".join(parts) or "(no parameters)"


def _summary(name: str) -> str:
    doc = schedule_class(name).__doc__ or ""
    return doc.strip().splitlines()[0].replace("``", "") if doc.strip() else ""


def run(args: argparse.Namespace) -> int:
    """Prints one block per schedule: the name, its summary, and its parameters."""
    for name in schedules.names():
        print(f"{name}")
        summary = _summary(name)
        if summary:
            print(f"    {summary}")
        print(f"    parameters: {format_parameters(name)}")
    return 0
