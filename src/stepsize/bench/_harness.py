"""What every benchmark shares: the turn-taking timer, the table and its JSON.

Contestants take turns step by step (round after round), so load from other processes
spreads over all of them; a row's ratio to a reference is the median over the rounds of
(row time / reference time) in the same round, so the ratios are steadier than the times.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import stepsize

__all__ = [
    "CLOCKS",
    "Contestant",
    "environment",
    "measure",
    "prepare",
    "reason",
    "report",
    "save",
    "selected",
    "start",
]

CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}

Step = Callable[[], object]


@dataclass
class Contestant:
    """One row: how to take a step, how much state it keeps, its timed steps (s).

    ``step`` is None for a contestant that could not run; ``skipped`` says why.
    """

    name: str
    dtype: str
    step: Step | None = None
    state_bytes: Callable[[], int] | None = None
    skipped: str | None = None
    times: list[float] = field(default_factory=list)


def reason(error: Exception) -> str:
    """Why a row could not run, in a few words (a missing package, or the error)."""
    if isinstance(error, ModuleNotFoundError) and error.name:
        return f"not installed: {error.name.split('.')[0]}"
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"[:100]


def prepare(
    name: str, dtype: str, build: Callable[[], tuple[Step, Callable[[], int]]]
) -> Contestant:
    """A contestant built by ``build() -> (step, state_bytes)``; if that fails, a skipped row.

    A missing package (a reference that is not installed) or an option the implementation
    rejects skips the row with the reason; the other rows still run.
    """
    try:
        step, state_bytes = build()
    except Exception as error:  # reported in the table instead of stopping the benchmark
        return Contestant(name, dtype, skipped=reason(error))
    return Contestant(name, dtype, step, state_bytes)


def measure(
    contestants: Sequence[Contestant],
    steps: int,
    warmup: int,
    clock: Callable[[], float] = time.perf_counter,
    sync: Callable[[], object] = lambda: None,
) -> None:
    """Steps every contestant in turn, ``warmup + steps`` rounds; times the last ``steps``.

    ``sync`` waits for queued device work (a CUDA synchronize), before and after each step.
    A contestant whose step fails is skipped from then on, with the error as the reason.
    """
    for round_index in range(warmup + steps):
        for contestant in contestants:
            if contestant.step is None:
                continue
            try:
                sync()
                start = clock()
                contestant.step()
                sync()
            except Exception as error:  # reported in the table; the others keep running
                contestant.step, contestant.skipped = None, reason(error)
                contestant.times.clear()
                continue
            if round_index >= warmup:
                contestant.times.append(clock() - start)


def selected(name: str, only: Sequence[str] | None, references: Iterable[str]) -> bool:
    """Whether ``--only`` keeps the row ``name``: it contains one of ``only`` (any case).

    The references always run: every ratio needs them.
    """
    if not only or name in references:
        return True
    return any(word.lower() in name.lower() for word in only)


def _row(contestant: Contestant, by_name: dict[str, Contestant], parameters: int) -> dict[str, Any]:
    row: dict[str, Any] = {"name": contestant.name, "dtype": contestant.dtype}
    if contestant.skipped is not None or contestant.state_bytes is None:
        return {**row, "skipped": contestant.skipped}
    ratios: dict[str, float | None] = {}
    for name, reference in by_name.items():
        paired = zip(contestant.times, reference.times, strict=False)
        ratio = [t / r for t, r in paired] if reference.skipped is None else []
        ratios[name] = round(statistics.median(ratio), 4) if ratio else None
    return {
        **row,
        "median_ms": round(statistics.median(contestant.times) * 1e3, 3),
        "min_ms": round(min(contestant.times) * 1e3, 3),
        "ratios": ratios,
        "state_bytes_per_param": round(contestant.state_bytes() / parameters, 4),
        "skipped": None,
    }


def _table(rows: list[dict[str, Any]], labels: dict[str, str]) -> str:
    width = max([30, *(len(row["name"]) for row in rows)])
    show_dtype = len({row["dtype"] for row in rows}) > 1
    dtype = f" {'dtype':9s}" if show_dtype else ""
    widths = [max(8, len(label)) for label in labels.values()]
    ratios = "".join(f" {label:>{w}s}" for label, w in zip(labels.values(), widths, strict=True))
    lines = [
        f"{'optimizer':{width}s}{dtype} {'median ms':>10s} {'min ms':>9s}{ratios} state B/param"
    ]
    for row in rows:
        dtype = f" {row['dtype']:9s}" if show_dtype else ""
        if row["skipped"] is not None:
            lines.append(f"{row['name']:{width}s}{dtype} skipped ({row['skipped']})")
            continue
        cells = [
            "n/a" if row["ratios"][name] is None else f"{row['ratios'][name]:.2f}"
            for name in labels
        ]
        lines.append(
            f"{row['name']:{width}s}{dtype} {row['median_ms']:10.1f} {row['min_ms']:9.1f}"
            + "".join(f" {cell:>{w}s}" for cell, w in zip(cells, widths, strict=True))
            + f" {row['state_bytes_per_param']:13.2f}"
        )
    lines += [
        f"{label}: median over rounds of (row time / {name} time) in the same round"
        for name, label in labels.items()
    ]
    return "\n".join(lines)


def _version(package: str) -> str | None:
    """The version of an imported module ``package``, else of the installed distribution."""
    version = getattr(sys.modules.get(package.replace("-", "_")), "__version__", None)
    if isinstance(version, str):  # e.g. tensorflow, installed as tensorflow-cpu
        return version
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        return importlib.metadata.version(package)
    return None


def environment(device: str, threads: int, packages: Sequence[str]) -> dict[str, Any]:
    """The machine, the device, the threads and the versions of ``packages`` (None: absent)."""
    versions: dict[str, str | None] = {
        "python": platform.python_version(),
        "stepsize": stepsize.__version__,
    }
    versions.update((package, _version(package)) for package in packages)
    return {
        "platform": platform.platform(terse=True),
        "cpus": os.cpu_count(),
        "threads": threads,
        "device": device,
        "versions": versions,
    }


def start(
    args: argparse.Namespace, machine: dict[str, Any], dtype: str, setup: str
) -> dict[str, Any]:
    """Prints what is measured where (``setup``: the hyper-parameters); returns it as JSON data.

    Args:
        args: the parsed options (with ``args.workload``).
        machine: the ``environment()``.
        dtype: the parameters' dtype.
        setup: a few words on the optimizers' settings.
    """
    workload = args.workload.describe()
    workload.update(dtype=dtype, steps=args.steps, warmup=args.warmup, clock=args.clock)
    versions = [f"{name} {version}" for name, version in machine["versions"].items() if version]
    print(
        " | ".join(
            [
                machine["platform"],
                *versions,
                f"{machine['cpus']} CPUs, {machine['threads']} threads",
                machine["device"],
            ]
        )
    )
    print(
        f"workload: {workload['tensors']} tensors, {workload['parameters']:,d} {dtype} "
        f"parameters; {setup}; {args.steps} timed steps after {args.warmup}, {args.clock} clock",
        flush=True,
    )
    return {**machine, "workload": workload}


def report(
    benchmark: str,
    contestants: Sequence[Contestant],
    labels: dict[str, str],
    settings: dict[str, Any],
) -> dict[str, Any]:
    """Prints the table; returns it as a JSON-able document (for ``save``).

    Args:
        benchmark: the benchmark's name (``"torch"``, ``"tf"``).
        contestants: the measured rows, in table order.
        labels: reference name -> the heading of its ratio column.
        settings: the environment and the workload (``start()``'s).
    """
    by_name = {c.name: c for c in contestants if c.name in labels}
    parameters = settings["workload"]["parameters"]
    rows = [_row(contestant, by_name, parameters) for contestant in contestants]
    print(_table(rows, labels), flush=True)
    return {"benchmark": benchmark, **settings, "references": list(labels), "contestants": rows}


def save(document: dict[str, Any], path: Path | None) -> None:
    """Writes ``document`` as JSON to ``path`` (nothing for None)."""
    if path is not None:
        path.write_text(json.dumps(document, indent=2) + "\n")
        print(f"wrote {path}")
