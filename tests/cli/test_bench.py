"""``stepsize bench``: runs the packaged benchmarks, passes options on, names missing frameworks."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from stepsize.bench import tf_optimizers, torch_optimizers
from stepsize.cli import _bench, main

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture
def ran(monkeypatch):
    """Records the parsed options each benchmark's ``run`` gets (instead of running it)."""
    calls: list[tuple[str, object]] = []
    for name, module in (("torch", torch_optimizers), ("tf", tf_optimizers)):
        monkeypatch.setattr(module, "run", lambda args, name=name: calls.append((name, args)) or 0)
    return calls


def test_passes_options_to_the_chosen_benchmark(ran, capsys):
    assert main(["bench", "tf", "--steps", "3", "--only", "x", "y"]) == 0
    [(name, args)] = ran
    assert name == "tf" and args.steps == 3 and args.only == ["x", "y"]
    assert "== tf: stepsize bench tf --steps 3 --only x y" in capsys.readouterr().out


def test_double_dash_separates_the_benchmark_options(ran):
    assert main(["bench", "torch", "--", "--quick"]) == 0
    [(name, args)] = ran
    assert name == "torch" and args.quick and args.steps == 3


def test_without_a_framework_runs_both_with_their_defaults(ran, monkeypatch):
    monkeypatch.setattr(_bench, "_missing", lambda modules: [])
    assert main(["bench"]) == 0
    assert [name for name, _ in ran] == ["torch", "tf"]
    assert [args.steps for _, args in ran] == [torch_optimizers.STEPS, tf_optimizers.STEPS]
    assert all(args.workload.parameters == 52_188_672 for _, args in ran)


def test_status_of_the_benchmark_is_returned(monkeypatch):
    monkeypatch.setattr(torch_optimizers, "run", lambda args: 3)
    assert main(["bench", "torch"]) == 3


def test_bad_benchmark_option_is_a_usage_error(ran, capsys):
    assert main(["bench", "torch", "--bogus"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: stepsize bench torch")
    assert "unrecognized arguments: --bogus" in err
    assert main(["bench", "tf", "--steps", "0"]) == 2
    assert "--steps and --hidden must be >= 1" in capsys.readouterr().err
    assert ran == []


def test_options_need_a_framework(capsys):
    assert main(["bench", "--", "--steps", "3"]) == 2
    assert "need a framework first" in capsys.readouterr().err


def test_unknown_framework(capsys):
    assert main(["bench", "jax"]) == 2
    assert "unknown framework 'jax'; choose torch, tf or precision" in capsys.readouterr().err


def test_missing_framework_names_the_extra(ran, capsys, monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "tensorflow" else find_spec(name, *a),
    )
    assert main(["bench", "tf"]) == 2
    assert "pip install 'stepsize[tf]'" in capsys.readouterr().err
    # Without a framework, the missing one is skipped with a note.
    assert main(["bench"]) == 0
    assert [name for name, _ in ran] == ["torch"]
    assert "skipping tf" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["bench"], ["bench", "torch"], ["bench", "tf"]])
def test_help_needs_no_checkout_and_no_framework(argv, tmp_path):
    # Run away from the checkout; the help must not import torch or TensorFlow.
    code = (
        "import sys\nfrom stepsize.cli import main\n"
        f"status = main({[*argv, '--help']!r})\n"
        "print(status, sorted(m for m in sys.modules if m in ('torch', 'tensorflow', 'keras')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"PYTHONPATH": str(SRC)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.splitlines()[-1] == "0 []"
    assert f"usage: stepsize {' '.join(argv)}" in result.stdout
    if len(argv) == 2:
        assert "--quick" in result.stdout and "--json FILE" in result.stdout


def test_real_torch_benchmark_on_the_quick_workload(capsys):
    assert main(["bench", "torch", "--quick", "--only", "stepsize AdamW (fused)"]) == 0
    out = capsys.readouterr().out
    assert "== torch: stepsize bench torch --quick" in out
    assert "2,036,416 float32 parameters" in out
    rows = [line for line in out.splitlines() if line.startswith(("stepsize", "torch AdamW"))]
    assert [row.split("  ")[0].strip() for row in rows] == [
        "stepsize AdamW (fused)",
        "torch AdamW (fused)",
    ]
