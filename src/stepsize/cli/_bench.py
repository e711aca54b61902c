"""``stepsize bench``: run the speed benchmarks of a source checkout and print their tables.

The scripts live in the repository's ``benchmarks/`` folder, outside the package: they
compare stepsize with the reference implementations (transformers, torch, Keras), which an
installed wheel does not ship. Options after the framework go to the script unchanged.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from stepsize.cli._options import UsageError

__all__ = ["SCRIPTS", "add_parser", "find_benchmarks", "load_script", "run"]

# framework -> (script in benchmarks/, the modules it needs, the extra that installs them)
SCRIPTS = {
    "torch": ("optimizers.py", ("torch",), "torch"),
    "tf": ("tf_optimizers.py", ("tensorflow", "keras"), "tf"),
}


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds the ``bench`` subcommand."""
    parser = subparsers.add_parser(
        "bench",
        help="run the optimizer speed benchmarks (source checkout)",
        description="Run benchmarks/optimizers.py (torch) and/or benchmarks/tf_optimizers.py "
        "(tf) of a source checkout and print their tables. Without a framework, both run "
        "with their defaults; options after the framework are passed to its script "
        "(see e.g. stepsize bench torch --help).",
        epilog="example: stepsize bench torch --only adamw --steps 20",
    )
    parser.add_argument(
        "--benchmarks",
        type=Path,
        metavar="DIR",
        help="the benchmarks folder (default: the one of the checkout stepsize runs from)",
    )
    parser.add_argument(
        "framework",
        nargs="?",
        metavar="{torch,tf}",
        help="run only this framework's script (default: both, with their defaults)",
    )
    parser.add_argument(
        "script_args", nargs=argparse.REMAINDER, metavar="...", help="options for the script"
    )
    return parser


def find_benchmarks(folder: Path | None = None) -> Path:
    """The benchmarks folder: ``folder``, else the checkout's (``src/stepsize/../../``).

    Raises:
        UsageError: if the folder does not hold the benchmark scripts.
    """
    if folder is not None:
        candidates = [folder]
    else:
        checkout = Path(__file__).resolve().parents[3]
        candidates = [checkout / "benchmarks", Path.cwd() / "benchmarks"]
    for candidate in candidates:
        if any((candidate / script).is_file() for script, _, _ in SCRIPTS.values()):
            return candidate
    looked = ", ".join(str(c) for c in dict.fromkeys(candidates))
    raise UsageError(
        f"no benchmark scripts in {looked}: `stepsize bench` runs the benchmarks/ folder of a "
        "source checkout (it is not part of an installed package); run it from a clone of "
        "the repository or pass --benchmarks DIR"
    )


def load_script(path: Path) -> ModuleType:
    """Imports a benchmark script by path (under a private module name) and returns it.

    Raises:
        UsageError: if the file is missing or has no ``main(argv)``.
    """
    if not path.is_file():
        raise UsageError(f"benchmark script not found: {path}")
    name = f"_stepsize_bench_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot load benchmark script {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    if not callable(getattr(module, "main", None)):
        raise UsageError(f"benchmark script {path} has no main(argv)")
    return module


def _missing(modules: tuple[str, ...]) -> list[str]:
    return [m for m in modules if importlib.util.find_spec(m) is None]


def _run_script(path: Path, argv: list[str]) -> int:
    module = load_script(path)
    try:
        result = module.main(argv)
    except SystemExit as exit_:  # the script's argparse: --help, or a bad option
        code = exit_.code
        return 0 if code is None else code if isinstance(code, int) else 1
    # main() returns an exit status or its measurements; only an int is a status.
    return result if isinstance(result, int) and not isinstance(result, bool) else 0


def run(args: argparse.Namespace) -> int:
    """Runs the chosen benchmark scripts in turn; returns the first non-zero status, else 0."""
    script_args = list(args.script_args)
    if script_args[:1] == ["--"]:
        script_args = script_args[1:]
    framework = args.framework
    if framework is not None and framework.startswith("-"):
        script_args, framework = [framework, *script_args], None
    if framework is None and script_args:
        raise UsageError(
            "options for a benchmark script need a framework first: "
            f"stepsize bench torch|tf {' '.join(script_args)}"
        )
    if framework is not None and framework not in SCRIPTS:
        raise UsageError(f"unknown framework {framework!r}; choose torch or tf")
    folder = find_benchmarks(args.benchmarks)
    chosen = [framework] if framework else list(SCRIPTS)
    status = 0
    ran = 0
    for name in chosen:
        script, modules, extra = SCRIPTS[name]
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
        print(f"== {name}: {folder / script} {' '.join(script_args)}".rstrip(), flush=True)
        code = _run_script(folder / script, script_args)
        sys.stdout.flush()
        ran += 1
        status = status or code
    if not ran:
        raise UsageError("no framework to benchmark: install torch or tensorflow")
    return status
