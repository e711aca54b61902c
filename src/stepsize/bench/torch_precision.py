"""Training quality with bfloat16 weights: how much of the float32 run each update keeps.

Two problems, each trained with float32 weights and with bfloat16 weights (no float32 master
copy; the forward and backward passes in bfloat16 too) by transformers' optimizer (rounding
to nearest in its own way) and stepsize's with ``kahan_sum=False`` (transformers' update
computed in float32, rounded to nearest once), Kahan summation (the default for bfloat16)
and stochastic rounding:

* ``regression``: least squares with a small learning rate (lr 1e-4, 300 full-batch steps),
  where most updates are smaller than half a bfloat16 unit of the weights they change;
* ``demo``: the model of ``stepsize demo`` on the digits, with its schedule, AdamW runs only
  (needs scikit-learn; ``--problems regression memory`` skips it).

Per run: the share of the float32 run's movement it keeps (its change of the weights,
projected on the float32 run's change), its final loss and the gap to the float32 run's, and
(demo) the held-out accuracy. ``memory`` adds the bytes per parameter of each setup, weights
included, counted from the optimizer's state (``_memory``). ``--json FILE`` also writes the
tables.

Usage::

    stepsize bench precision                       # every problem, AdamW and Adafactor
    stepsize bench precision --quick               # shorter runs: a check in seconds
    python benchmarks/precision.py --json precision.json
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

from stepsize.bench import _harness as harness
from stepsize.bench._memory import SETUPS, measure, memory_table
from stepsize.bench._quality import Regression, Row, movement_kept, table
from stepsize.bench._workload import Workload

__all__ = [
    "PROBLEMS",
    "RUNS",
    "add_quality_options",
    "demo_rows",
    "main",
    "parse",
    "regression_rows",
    "run",
]

PROBLEMS = ("regression", "demo", "memory")

# name -> (optimizer family, weights' dtype, constructor module and class, options).
RUNS: dict[str, tuple[str, str, str, dict[str, Any]]] = {
    "stepsize AdamW, float32": ("AdamW", "float32", "stepsize.torch.AdamW", {}),
    "transformers AdamW, bf16": (
        "AdamW",
        "bfloat16",
        "transformers.optimization.AdamW",
        {"no_deprecation_warning": True},
    ),
    "stepsize AdamW, bf16, kahan_sum=False": (
        "AdamW",
        "bfloat16",
        "stepsize.torch.AdamW",
        {"kahan_sum": False},
    ),
    "stepsize AdamW, bf16, Kahan": ("AdamW", "bfloat16", "stepsize.torch.AdamW", {}),
    "stepsize AdamW, bf16, stochastic": (
        "AdamW",
        "bfloat16",
        "stepsize.torch.AdamW",
        {"stochastic_round": True, "seed": 0},
    ),
    "stepsize Adafactor, float32": ("Adafactor", "float32", "stepsize.torch.Adafactor", {}),
    "transformers Adafactor, bf16": (
        "Adafactor",
        "bfloat16",
        "transformers.optimization.Adafactor",
        {},
    ),
    "stepsize Adafactor, bf16, kahan_sum=False": (
        "Adafactor",
        "bfloat16",
        "stepsize.torch.Adafactor",
        {"kahan_sum": False},
    ),
    "stepsize Adafactor, bf16, Kahan": ("Adafactor", "bfloat16", "stepsize.torch.Adafactor", {}),
    "stepsize Adafactor, bf16, stochastic": (
        "Adafactor",
        "bfloat16",
        "stepsize.torch.Adafactor",
        {"stochastic_round": True, "seed": 0},
    ),
}
# Adafactor with an external lr, as for fine-tuning (its relative step would ignore lr).
_FAMILY_OPTIONS = {
    "AdamW": {},
    "Adafactor": {"relative_step": False, "scale_parameter": False, "warmup_init": False},
}


def _constructor(name: str) -> Callable[..., Any]:
    """``params, lr -> optimizer`` for the run ``name`` (importing its class only then)."""
    family, _, path, options = RUNS[name]
    module, cls = path.rsplit(".", 1)

    def make(params: Any, lr: float) -> Any:
        optimizer_class = getattr(importlib.import_module(module), cls)
        return optimizer_class(params, lr=lr, **_FAMILY_OPTIONS[family], **options)

    return make


def regression_rows(problem: Regression, names: Sequence[str]) -> list[Row]:
    """Trains the regression with each run of ``names`` (a float32 run of each family first
    in ``names`` is its reference); returns the rows, skipped ones included."""
    import torch

    rows: list[Row] = []
    references: dict[str, tuple[Any, float]] = {}
    for name in names:
        family, dtype, _, _ = RUNS[name]
        try:
            weights, loss = problem.train(_constructor(name), getattr(torch, dtype))
        except Exception as error:  # a reference that is not installed, say
            rows.append(Row("regression", name, dtype, skipped=harness.reason(error)))
            continue
        reference = references.setdefault(family, (weights, loss))
        kept = movement_kept(problem.initial(), weights, reference[0])
        rows.append(
            Row("regression", name, dtype, kept=kept, loss=loss, gap=loss / reference[1] - 1)
        )
    return rows


def demo_rows(epochs: int, names: Sequence[str]) -> list[Row]:
    """Trains the demo model with the AdamW runs of ``names``; returns the rows."""
    import torch

    from stepsize.cli import _demo_data, _demo_torch

    data = _demo_data.load(seed=0)
    lr = _demo_torch.HYPERPARAMETERS["lr"]
    rows: list[Row] = []
    reference: tuple[list[Any], float] | None = None
    with _demo_torch.one_thread():
        for name in names:
            family, dtype, _, _ = RUNS[name]
            if family != "AdamW":
                continue
            make = _constructor(name)

            def make_optimizer(groups: list[dict[str, Any]], make: Any = make) -> Any:
                return make(groups, lr)

            try:
                result = _demo_torch.train(
                    "stepsize-adamw",
                    data,
                    epochs=epochs,
                    seed=0,
                    progress=False,
                    dtype=getattr(torch, dtype),
                    make_optimizer=make_optimizer,
                )
            except Exception as error:
                rows.append(Row("demo", name, dtype, skipped=harness.reason(error)))
                continue
            final = [p.double() for p in result.artifacts["final"]]
            reference = reference or (final, result.final_loss)
            initial = [p.double() for p in result.artifacts["initial"]]
            kept = movement_kept(initial, final, reference[0])
            gap = result.final_loss / reference[1] - 1
            accuracy = result.final_accuracy
            rows.append(Row("demo", name, dtype, kept, result.final_loss, gap, accuracy))
    return rows


def parse(argv: Sequence[str] | None = None, prog: str | None = None) -> argparse.Namespace:
    """The options (``--help`` lists them); needs no torch, so help works anywhere."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    add_quality_options(parser)
    return parser.parse_args(argv)


def add_quality_options(parser: argparse.ArgumentParser) -> None:
    """The options of the quality benchmark."""
    parser.add_argument(
        "--problems",
        nargs="+",
        choices=PROBLEMS,
        default=list(PROBLEMS),
        help="what to measure (default: all)",
    )
    parser.add_argument("--only", nargs="+", metavar="WORD", help="runs whose name has a WORD")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="100 regression steps, 2 demo epochs, memory of a small workload",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the table as JSON")


def run(args: argparse.Namespace) -> int:
    """Prints the table (``--json``: and writes it); returns the exit status."""
    from pathlib import Path

    import torch

    names = [n for n in RUNS if harness.selected(n, args.only, [n for n in RUNS if "float32" in n])]
    problem = Regression(steps=100 if args.quick else 300)
    machine = harness.environment("cpu", torch.get_num_threads(), ("torch", "transformers"))
    rows = regression_rows(problem, names) if "regression" in args.problems else []
    if "demo" in args.problems:
        rows += demo_rows(2 if args.quick else 12, names)
    if rows:
        print(table(rows), flush=True)
    document: dict[str, Any] = {
        "benchmark": "precision",
        **machine,
        "regression": problem.describe(),
        "rows": [row.to_dict() for row in rows],
    }
    if "memory" in args.problems:
        workload = Workload(layers=1, hidden=64) if args.quick else Workload(layers=1)
        memory = [measure(name, workload) for name in SETUPS]
        print(f"\nbytes per parameter kept between steps ({workload.parameters:,} parameters)")
        print(memory_table(memory), flush=True)
        document["memory"] = [row.to_dict() for row in memory]
    harness.save(document, None if args.json is None else Path(args.json))
    return 0


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Runs the benchmark with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    return run(parse(argv, prog))


if __name__ == "__main__":
    sys.exit(main())
