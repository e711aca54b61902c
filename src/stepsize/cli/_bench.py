"""``stepsize bench``: run the speed benchmarks that ship with the package, print their tables.

The benchmarks (``stepsize.bench``) compare stepsize's optimizers with the reference
implementations (torch, transformers, Keras) in the same run; a reference that is not
installed is listed as skipped. Options after the framework go to its benchmark unchanged.
``stepsize bench precision`` runs the training-quality benchmark of bfloat16 weights (Kahan
summation, stochastic rounding) and their memory; only when asked for by name.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from typing import Any

from stepsize.cli._main import _exit_code
from stepsize.cli._options import UsageError

__all__ = ["BENCHMARKS", "DEFAULT", "add_parser", "run"]

# name -> (benchmark module, the modules it needs, the extra that installs them)
BENCHMARKS = {
    "torch": ("stepsize.bench.torch_optimizers", ("torch",), "torch"),
    "tf": ("stepsize.bench.tf_optimizers", ("tensorflow", "keras"), "tf"),
    "precision": ("stepsize.bench.torch_precision", ("torch",), "torch"),
}
# What ``stepsize bench`` runs without a name: the speed benchmarks.
DEFAULT = ("torch", "tf")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds the ``bench`` subcommand."""
    parser = subparsers.add_parser(
        "bench",
        help="run the optimizer speed benchmarks",
        description="Time stepsize's optimizers against the reference implementations on a "
        "BERT-like workload (torch: AdamW and Adafactor; tf: AdamWeightDecay) and print the "
        "tables; precision: training quality and memory with bfloat16 weights (Kahan "
        "summation, stochastic rounding). Without a name, torch and tf run with their "
        "defaults; options after the name go to its benchmark (see stepsize bench torch "
        "--help).",
        epilog="examples: stepsize bench torch --quick; "
        "stepsize bench torch --only adamw --steps 20 --json torch.json; "
        "stepsize bench precision --quick",
    )
    parser.add_argument(
        "framework",
        nargs="?",
        metavar="{torch,tf,precision}",
        help="run only this benchmark (default: torch and tf, with their defaults)",
    )
    parser.add_argument(
        "options", nargs=argparse.REMAINDER, metavar="...", help="options for the benchmark"
    )
    return parser


def _missing(modules: tuple[str, ...]) -> list[str]:
    return [m for m in modules if importlib.util.find_spec(m) is None]


def run(args: argparse.Namespace) -> int:
    """Runs the chosen benchmarks in turn; returns the first non-zero status, else 0."""
    options = list(args.options)
    if options[:1] == ["--"]:
        options = options[1:]
    framework = args.framework
    if framework is not None and framework.startswith("-"):
        options, framework = [framework, *options], None
    if framework is None and options:
        raise UsageError(
            "options for a benchmark need a framework first: "
            f"stepsize bench torch|tf|precision {' '.join(options)}"
        )
    if framework is not None and framework not in BENCHMARKS:
        raise UsageError(f"unknown framework {framework!r}; choose torch, tf or precision")
    status = ran = 0
    for name in [framework] if framework else DEFAULT:
        module_name, modules, extra = BENCHMARKS[name]
        module = importlib.import_module(module_name)  # framework-free until it runs
        try:  # --help and bad options end here, before the framework is needed
            parsed = module.parse(options, prog=f"stepsize bench {name}")
        except SystemExit as exit_:
            return _exit_code(exit_.code)
        missing = _missing(modules)
        if missing:
            message = (
                f"the {name} benchmark needs {', '.join(missing)}: "
                f"install it with pip install 'stepsize[{extra}]'"
            )
            if framework:
                raise UsageError(message)
            print(f"stepsize bench: skipping {name}: {message}", file=sys.stderr)
            continue
        if ran:
            print()
        print(f"== {name}: stepsize bench {name} {' '.join(options)}".rstrip(), flush=True)
        code = module.run(parsed)
        sys.stdout.flush()
        ran += 1
        status = status or code
    if not ran:
        raise UsageError("no framework to benchmark: install torch or tensorflow")
    return status
