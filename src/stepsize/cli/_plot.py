"""``stepsize plot``: draw one or more schedules' learning-rate curves to a PNG file."""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path
from typing import Any

from stepsize import schedules
from stepsize.cli._options import (
    UsageError,
    add_schedule_options,
    build_schedule,
    parse_settings,
    schedule_parameters,
    step_count,
)

__all__ = ["add_parser", "phases", "plot", "run"]

_PHASE_COLORS = {"warmup": "tab:orange", "stable": "tab:green", "decay": "tab:blue"}
# Shown in the title or the legend only when they differ from the defaults.
_SHARED = ("num_warmup_steps", "num_training_steps")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds the ``plot`` subcommand."""
    parser = subparsers.add_parser(
        "plot",
        help="plot schedules to a PNG file",
        description="Plot the learning rate of one or more schedules against the step "
        "(needs matplotlib). --set values go to every schedule that takes them.",
        epilog="example: stepsize plot linear cosine --warmup-steps 100 --training-steps 1000",
    )
    parser.add_argument("names", nargs="+", metavar="NAME", help="schedule names to compare")
    add_schedule_options(parser)
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE.png",
        help="where to write the image (default: NAME[_NAME...].png)",
    )
    return parser


def phases(schedule: schedules.Schedule) -> list[tuple[str, int, int]]:
    """The (label, start, end) step ranges of a schedule's warmup, stable and decay phases.

    Example:
        >>> phases(schedules.get("linear", num_warmup_steps=2, num_training_steps=10))
        [('warmup', 0, 2), ('decay', 2, 10)]
    """
    if isinstance(schedule, schedules.Scale):
        return phases(schedule.schedule)
    warmup = getattr(schedule, "num_warmup_steps", 0)
    total = getattr(schedule, "num_training_steps", None)
    result = [("warmup", 0, warmup)] if warmup > 0 else []
    if isinstance(schedule, schedules.WarmupStableDecay):
        stable_end = warmup + schedule.stable_steps
        result.append(("stable", warmup, stable_end))
        result.append(("decay", stable_end, stable_end + schedule.num_decay_steps))
    elif total is not None:
        result.append(("decay", warmup, total))
    return [phase for phase in result if phase[2] > phase[1]]


def _label(schedule: schedules.Schedule, shared: bool) -> str:
    config = schedule.get_config()
    name = config.pop("name")
    skip = _SHARED if shared else ()
    params = [
        f"{k}={v}" for k, v in config.items() if k not in skip and k != "lr_init" and v is not None
    ]
    return f"{name} ({', '.join(params)})" if params else name


def plot(schedule_list: list[schedules.Schedule], steps: int, lr: float, path: Path) -> None:
    """Draws the schedules' lr = ``lr`` · λ(t) for t < ``steps`` into a PNG at ``path``."""
    try:
        import numpy as np
        from matplotlib.figure import Figure
    except ImportError:
        raise UsageError("plot needs matplotlib and numpy: install stepsize[plot]") from None

    x = np.arange(steps)
    figure = Figure(figsize=(8, 4.5), layout="constrained")
    axes = figure.add_subplot()
    for label, start, end in phases(schedule_list[0]):
        axes.axvspan(start, end, color=_PHASE_COLORS[label], alpha=0.08, linewidth=0)
        axes.text(
            (start + end) / 2,
            1.01,
            label,
            transform=axes.get_xaxis_transform(),
            ha="center",
            va="bottom",
            fontsize=8,
            color=_PHASE_COLORS[label],
        )
    several = len(schedule_list) > 1
    for schedule in schedule_list:
        axes.plot(
            x,
            lr * schedule.values(x),
            marker="." if steps <= 60 else None,
            label=_label(schedule, shared=several),
        )
    first = schedule_list[0].get_config()
    shared = [f"{k}={first[k]}" for k in _SHARED if k in first]
    if several:
        title = ", ".join([*shared, f"lr={lr:g}"])
        axes.legend(fontsize=8)
    else:
        title = f"{_label(schedule_list[0], shared=False)}, lr={lr:g}"
    axes.set_title(textwrap.fill(title, width=90), fontsize=10, pad=14)
    axes.set_xlabel("step")
    axes.set_ylabel("learning rate" if lr != 1.0 else "lr multiplier")
    axes.set_xlim(0, max(steps - 1, 1))
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)


def run(args: argparse.Namespace) -> int:
    """Builds every named schedule, plots them, and prints where the PNG is."""
    settings = parse_settings(args.settings)
    parameters = {name: schedule_parameters(name) for name in args.names}  # names first
    taken: set[str] = set()
    built = []
    for name in args.names:
        own = {k: v for k, v in settings.items() if k in parameters[name] or len(args.names) == 1}
        if "min_lr" in settings and "min_lr_rate" in parameters[name]:
            own["min_lr"] = settings["min_lr"]
        taken.update(own)
        built.append(build_schedule(name, args, settings=own))
    unused = sorted(set(settings) - taken)
    if unused:
        raise UsageError(f"no schedule among {', '.join(args.names)} takes {', '.join(unused)}")
    path = args.output or Path("_".join(args.names) + ".png")
    if path.suffix.lower() != ".png":
        raise UsageError(f"--output must be a .png file, got {str(path)!r}")
    plot(built, step_count(args, built), args.lr, path)
    print(f"wrote {path}")
    return 0
