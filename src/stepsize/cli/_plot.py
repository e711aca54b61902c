"""``stepsize plot``: draw one or more schedules' learning-rate curves to a PNG file.

The output path is checked before anything is computed (a folder, a path under a file, a
folder that cannot be created or written: one-line errors), and the image is written to a
temporary file beside it and renamed into place, so a failure leaves no partial file. Each
curve is drawn through at most ``MAX_POINTS`` steps, evenly spaced with the first, the last and
both sides of every phase boundary, computed vectorized: a schedule of 10**12 steps plots as
fast as one of 1000.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from stepsize import schedules
from stepsize._validation import describe
from stepsize.cli._options import (
    UsageError,
    add_schedule_options,
    build_schedule,
    check_lr,
    parse_settings,
    schedule_parameters,
    step_count,
)
from stepsize.cli._sampling import boundaries, sample_steps

__all__ = ["MAX_POINTS", "add_parser", "phases", "plot", "run", "written"]

MAX_POINTS = 2000

_PHASE_COLORS = {"warmup": "tab:orange", "stable": "tab:green", "decay": "tab:blue"}
_LABEL_LENGTH = 200  # characters of a curve's label (a long composition's config is cut)
# Shown in the title or the legend only when they differ from the defaults.
_SHARED = ("num_warmup_steps", "num_training_steps")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds the ``plot`` subcommand."""
    parser = subparsers.add_parser(
        "plot",
        help="plot schedules to a PNG file",
        description="Plot the learning rate of one or more schedules against the step "
        "(needs matplotlib). --set values go to every schedule that takes them. Each curve is "
        f"drawn through at most {MAX_POINTS} evenly spaced steps, with the first, the last and "
        "both sides of every phase boundary.",
        epilog="example: stepsize plot linear cosine --warmup-steps 100 --training-steps 1000",
    )
    parser.add_argument("names", nargs="+", metavar="NAME", help="schedule names to compare")
    add_schedule_options(parser)
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE.png",
        help="where to write the image (default: NAME[_NAME...].png); missing folders are created",
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
    label = f"{name} ({', '.join(params)})" if params else name
    return textwrap.shorten(label, width=_LABEL_LENGTH, placeholder=" ...")


@contextlib.contextmanager
def written(path: Path) -> Iterator[IO[bytes]]:
    """A file to write ``path``'s content to: a temporary file beside it (missing folders are
    created), renamed to ``path`` when the block ends, removed if it raises.

    Entering the block checks that ``path`` can be written, before anything is computed.

    Raises:
        UsageError: on entering, if ``path`` is not a ``.png`` file name, is a folder, or
            cannot be written: its folder is a file, cannot be created, or is read-only.
    """
    shown = describe(str(path))
    if path.suffix.lower() != ".png":
        raise UsageError(f"--output must be a .png file, got {shown}")
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if path.is_dir():
            raise UsageError(f"--output must be a file, got the folder {shown}")
        existing = next((parent for parent in path.parents if parent.exists()), None)
        if existing is not None and not existing.is_dir():
            raise UsageError(f"cannot write --output {shown}: {describe(str(existing))} is a file")
        path.parent.mkdir(parents=True, exist_ok=True)
        # 0o666 less the umask, as for any new file (a temporary file's 0o600 would stick).
        handle = os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666), "wb")
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"cannot write --output {shown}: {reason}") from None
    try:
        with handle:
            yield handle
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def plot(schedule_list: list[schedules.Schedule], steps: int, lr: float, path: Path) -> int:
    """Draws the schedules' lr = ``lr`` · λ(t) for t < ``steps`` into a PNG at ``path``.

    Returns:
        The number of steps each curve is drawn through (at most ``MAX_POINTS``).

    Raises:
        UsageError: if matplotlib or NumPy is missing, ``lr`` is too large for a schedule,
            or ``path`` cannot be written (checked before anything is computed).
    """
    try:
        import numpy as np
        from matplotlib.figure import Figure
    except ImportError:
        raise UsageError("plot needs matplotlib and numpy: install stepsize[plot]") from None

    for schedule in schedule_list:
        check_lr(schedule, lr)
    with written(path) as output:
        return _draw(Figure, np, schedule_list, steps, lr, output)


def _draw(
    Figure: Any,
    np: Any,
    schedule_list: list[schedules.Schedule],
    steps: int,
    lr: float,
    output: IO[bytes],
) -> int:
    phase_ends = sorted({b for s in schedule_list for b in boundaries(s)})
    x = np.array(sample_steps(steps, MAX_POINTS, phase_ends), dtype=np.uint64)
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
            x.astype(np.float64),
            lr * schedule.values(x),
            marker="." if len(x) <= 60 else None,
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
    with warnings.catch_warnings():  # layout advice from matplotlib is not for the user
        warnings.simplefilter("ignore", UserWarning)
        figure.savefig(output, format="png", dpi=100)
    return len(x)


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
    plot(built, step_count(args, built), args.lr, path)
    print(f"wrote {path}")
    return 0
