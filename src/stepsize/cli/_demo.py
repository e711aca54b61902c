"""``stepsize demo``: train a small model on scikit-learn's digits with stepsize's optimizers.

PyTorch (default): ``stepsize.torch`` AdamW and Adafactor with warmup schedules and gradient
accumulation, against ``torch.optim.AdamW``; with ``--precision bf16``, AdamW in float32
next to bfloat16 weights rounded to nearest, with Kahan summation and with stochastic
rounding. Keras (``--framework tf``): ``model.fit`` with
``stepsize.tf.create_optimizer``, a custom loop with ``AdamWeightDecay`` and
``GradientAccumulator``, against Keras' AdamW. Shows progress bars on stderr, prints a summary
table and writes the LR and loss plots and a metrics JSON into the output folder.

Example (a two-epoch smoke run)::

    stepsize demo --quick --out /tmp/stepsize-demo
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from stepsize.cli._options import UsageError

if TYPE_CHECKING:
    from stepsize.cli._demo_report import Run

__all__ = ["DEFAULT_EPOCHS", "QUICK_EPOCHS", "TASKS", "add_parser", "check_requirements", "run"]

DEFAULT_EPOCHS = {"torch": 12, "tf": 12, "text": 2}
QUICK_EPOCHS = 2
TASKS = ("digits", "text")

# framework -> (modules it needs, the extra that installs them)
_FRAMEWORKS = {"torch": (("torch",), "torch"), "tf": (("tensorflow", "keras"), "tf")}
_DEMO_MODULES = ("numpy", "sklearn", "tqdm", "matplotlib")
_DISTRIBUTIONS = {"sklearn": "scikit-learn"}


class _Trainer(Protocol):
    """What ``run`` needs of a framework's demo module (``_demo_torch``, ``_demo_tf``)."""

    def train_all(self, data: Any, *, epochs: int, seed: int, progress: bool) -> list[Run]: ...


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds the ``demo`` subcommand."""
    parser = subparsers.add_parser(
        "demo",
        help="train a small model on the digits with stepsize's optimizers",
        description="Train a small transformer encoder on scikit-learn's digits (no download) "
        "with stepsize's optimizers, schedules and gradient accumulation, next to the "
        "framework's own AdamW; print a summary table and write plots and metrics.",
        epilog="example: stepsize demo --framework tf --out results",
    )
    parser.add_argument(
        "--framework",
        choices=sorted(_FRAMEWORKS),
        default="torch",
        help="PyTorch (default) or TensorFlow/Keras",
    )
    parser.add_argument(
        "--task",
        choices=TASKS,
        default="digits",
        help="digits (default): classify scikit-learn's digits; text: a character-level "
        "language model on Python's standard library, trained with and without token-weighted "
        "gradient accumulation (PyTorch)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("stepsize-out"),
        metavar="DIR",
        help="output folder for lr.png, loss.png and metrics.json (default: ./stepsize-out)",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        metavar="N",
        help=f"training epochs (default: {DEFAULT_EPOCHS['torch']}; {QUICK_EPOCHS} with --quick)",
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"a short smoke run ({QUICK_EPOCHS} epochs)"
    )
    parser.add_argument(
        "--precision",
        choices=("float32", "bf16"),
        default="float32",
        help="bf16: train AdamW with bfloat16 weights (round to nearest, Kahan summation, "
        "stochastic rounding) next to float32 (PyTorch only)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, weights, order")
    parser.add_argument(
        "--no-progress", action="store_true", help="do not show progress bars (stderr)"
    )
    return parser


def check_requirements(framework: str) -> None:
    """Raises ``UsageError`` naming the extra to install if a needed package is missing.

    Example:
        >>> check_requirements("jax")
        Traceback (most recent call last):
        ...
        stepsize.cli._options.UsageError: unknown framework 'jax'; choose torch or tf
    """
    if framework not in _FRAMEWORKS:
        raise UsageError(f"unknown framework {framework!r}; choose {' or '.join(_FRAMEWORKS)}")
    modules, extra = _FRAMEWORKS[framework]
    for group, extra_name in ((_DEMO_MODULES, "demo"), (modules, extra)):
        missing = [m for m in group if importlib.util.find_spec(m) is None]
        if missing:
            names = ", ".join(_DISTRIBUTIONS.get(m, m) for m in missing)
            raise UsageError(
                f"the demo needs {names}: install it with pip install 'stepsize[{extra_name}]'"
            )


def _versions(framework: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    names = ["stepsize", "numpy", "scikit-learn"]
    names += ["torch"] if framework == "torch" else ["tensorflow", "keras"]
    found = {"python": platform.python_version()}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "unknown"
    return found


def run(args: argparse.Namespace) -> int:
    """Trains every run of the chosen framework, prints the table, writes the outputs."""
    framework, task = args.framework, args.task
    if task == "text" and framework != "torch":
        raise UsageError("--task text runs on PyTorch: leave out --framework tf")
    check_requirements(framework)
    epochs = args.epochs
    if epochs is None:
        quick = 1 if task == "text" else QUICK_EPOCHS
        epochs = quick if args.quick else DEFAULT_EPOCHS["text" if task == "text" else framework]
    if epochs < 1:
        raise UsageError(f"--epochs must be >= 1, got {epochs}")
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out must be a folder, got the file {str(args.out)!r}")
    precision = args.precision
    if precision != "float32" and framework != "torch":
        raise UsageError(f"--precision {precision} needs --framework torch, got {framework}")
    if precision != "float32" and task != "digits":
        raise UsageError(f"--precision {precision} runs the digits task: leave out --task {task}")

    from stepsize.cli import _demo_data, _demo_report

    started = time.perf_counter()  # the framework import counts: users wait for it too
    trainer: _Trainer
    data: Any
    if task == "text":
        from stepsize.cli import _demo_text, _demo_text_data

        trainer, title = _demo_text, "PyTorch, text"
        data = _demo_text_data.load(limit=_demo_text.paragraphs(quick=args.quick))
        what = "a character-level language model on {train} training / {test} held-out"
        what += " paragraphs of Python's standard library"
    elif precision == "bf16":
        from stepsize.cli import _demo_precision

        trainer, title = _demo_precision, "PyTorch, bfloat16 weights"
    elif framework == "torch":
        from stepsize.cli import _demo_torch

        trainer, title = _demo_torch, "PyTorch"
    else:
        from stepsize.cli import _demo_tf

        trainer, title = _demo_tf, "Keras"
    if task == "digits":
        data = _demo_data.load(seed=args.seed)
        what = "a small transformer encoder on {train} training / {test} held-out digits"
    summary = data.summary()
    print(
        f"stepsize demo ({title}): {what.format(**summary)}, {epochs} "
        f"epoch{'s' if epochs != 1 else ''}, seed {args.seed}",
        flush=True,
    )
    runs = trainer.train_all(data, epochs=epochs, seed=args.seed, progress=not args.no_progress)
    meta = {
        "task": task,
        "framework": framework,
        "precision": precision,
        "epochs": epochs,
        "seed": args.seed,
        "quick": bool(args.quick),
        "data": summary,
        "versions": _versions(framework),
        "train_wall_s": time.perf_counter() - started,
    }
    paths = _demo_report.write_outputs(args.out, meta, runs, f"stepsize demo ({title})")
    print(_demo_report.table(runs))
    if task == "text":
        print(_demo_text.comparison(runs))
    print(f"total wall time {time.perf_counter() - started:.1f} s")
    print(f"wrote {', '.join(p.name for p in paths)} to {args.out.resolve()}")
    return 0
