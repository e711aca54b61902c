"""``stepsize.bench`` stays out of ``import stepsize`` and imports no framework until it runs."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import stepsize.bench

HEAVY = ("numpy", "torch", "tensorflow", "keras", "transformers")


def test_import_stepsize_does_not_load_the_benchmarks():
    code = "import sys, stepsize, stepsize.cli; print('stepsize.bench' in sys.modules)"
    assert subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split() == ["False"]


def test_benchmark_modules_import_no_framework():
    code = (
        "import sys\n"
        "import stepsize.bench.torch_optimizers, stepsize.bench.tf_optimizers\n"
        "import stepsize.bench.torch_precision\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.splitlines() == ["[]"], result.stderr


def test_every_module_declares_its_public_names():
    modules = [info.name for info in pkgutil.iter_modules(stepsize.bench.__path__)]
    assert sorted(modules) == [
        "_harness",
        "_memory",
        "_options",
        "_quality",
        "_workload",
        "tf_optimizers",
        "torch_optimizers",
        "torch_precision",
    ]
    assert stepsize.bench.__all__ == []
    for name in modules:
        module = importlib.import_module(f"stepsize.bench.{name}")
        assert module.__all__ == sorted(module.__all__), name
        assert all(hasattr(module, public) for public in module.__all__), name
