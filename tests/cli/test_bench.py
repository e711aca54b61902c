"""``stepsize bench``: finds benchmarks/, runs the scripts' ``main(argv)``, passes options on."""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

import pytest

from stepsize.cli import _bench, main

REPO_BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"

STUB = """
import sys
def main(argv=None):
    print("{name} ran with", list(argv))
    return {result}
"""


def _stub_folder(tmp_path: Path, torch_result: str = "0", tf_result: str = "{'x': 1.0}") -> Path:
    folder = tmp_path / "benchmarks"
    folder.mkdir()
    for script, name, result in (
        ("optimizers.py", "torch-script", torch_result),
        ("tf_optimizers.py", "tf-script", tf_result),
    ):
        (folder / script).write_text(textwrap.dedent(STUB.format(name=name, result=result)))
    return folder


def test_passes_options_to_the_chosen_script(tmp_path, capsys):
    folder = _stub_folder(tmp_path)
    assert main(["bench", "--benchmarks", str(folder), "tf", "--steps", "3", "--only", "x"]) == 0
    out = capsys.readouterr().out
    assert "tf-script ran with ['--steps', '3', '--only', 'x']" in out
    assert "torch-script" not in out


def test_double_dash_separates_the_script_options(tmp_path, capsys):
    folder = _stub_folder(tmp_path)
    assert main(["bench", "--benchmarks", str(folder), "torch", "--", "--help"]) == 0
    assert "torch-script ran with ['--help']" in capsys.readouterr().out


def test_without_a_framework_runs_both(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(_bench, "_missing", lambda modules: [])
    folder = _stub_folder(tmp_path)
    assert main(["bench", "--benchmarks", str(folder)]) == 0
    out = capsys.readouterr().out
    assert out.index("torch-script ran with []") < out.index("tf-script ran with []")


def test_status_of_the_script_is_returned(tmp_path):
    folder = _stub_folder(tmp_path, torch_result="3")
    assert main(["bench", "--benchmarks", str(folder), "torch"]) == 3


def test_script_usage_error_exits_with_its_status(tmp_path):
    folder = tmp_path / "benchmarks"
    folder.mkdir()
    (folder / "optimizers.py").write_text(
        "import argparse\ndef main(argv=None):\n    argparse.ArgumentParser().parse_args(argv)\n"
    )
    assert main(["bench", "--benchmarks", str(folder), "torch", "--bogus"]) == 2


def test_missing_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["bench", "--benchmarks", str(tmp_path), "torch"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "no benchmark scripts in" in err and "source checkout" in err


def test_script_without_main_is_a_clear_error(tmp_path, capsys):
    folder = tmp_path / "benchmarks"
    folder.mkdir()
    (folder / "optimizers.py").write_text("x = 1\n")
    assert main(["bench", "--benchmarks", str(folder), "torch"]) == 2
    assert "has no main(argv)" in capsys.readouterr().err


def test_options_need_a_framework(capsys):
    assert main(["bench", "--", "--steps", "3"]) == 2
    assert "need a framework first" in capsys.readouterr().err


def test_missing_framework_names_the_extra(tmp_path, capsys, monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "tensorflow" else find_spec(name, *a),
    )
    folder = _stub_folder(tmp_path)
    assert main(["bench", "--benchmarks", str(folder), "tf"]) == 2
    assert "pip install 'stepsize[tf]'" in capsys.readouterr().err
    # Without a framework, the missing one is skipped with a note.
    monkeypatch.setattr(_bench, "_missing", lambda m: ["tensorflow"] if "keras" in m else [])
    assert main(["bench", "--benchmarks", str(folder)]) == 0
    captured = capsys.readouterr()
    assert "torch-script ran" in captured.out and "tf-script" not in captured.out
    assert "skipping tf" in captured.err


def test_default_folder_is_the_checkouts():
    assert _bench.find_benchmarks() == REPO_BENCHMARKS


def test_real_torch_benchmark_on_a_small_workload(capsys):
    pytest.importorskip("torch")
    argv = ["bench", "torch", "--layers", "0", "--steps", "1", "--warmup", "0"]
    assert main([*argv, "--only", "stepsize AdamW (fused)"]) == 0
    out = capsys.readouterr().out
    assert "== torch:" in out and "optimizers.py" in out
    rows = [line for line in out.splitlines() if line.startswith(("stepsize", "torch AdamW"))]
    assert [row.split("  ")[0].strip() for row in rows] == [
        "stepsize AdamW (fused)",
        "torch AdamW (fused)",
    ]
