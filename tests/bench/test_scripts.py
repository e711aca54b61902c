"""benchmarks/*.py: thin entry points that run the packaged benchmarks with the checkout's code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _script(name, *argv, cwd):
    # No PYTHONPATH: the script itself puts the checkout's src/ first.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / name), *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )


def test_torch_script_runs_and_writes_json(tmp_path):
    result = _script(
        "optimizers.py", "--quick", "--only", "stepsize Adafactor", "--json", "t.json", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    document = json.loads((tmp_path / "t.json").read_text())
    assert document["benchmark"] == "torch"
    names = [row["name"] for row in document["contestants"]]
    assert names[0] == "torch AdamW (fused)" and "stepsize Adafactor (fused)" in names
    assert "stepsize Adafactor (fused)" in result.stdout


def test_tf_script_takes_the_benchmark_options(tmp_path):
    result = _script("tf_optimizers.py", "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "--quick" in result.stdout and "--json FILE" in result.stdout
    assert _script("tf_optimizers.py", "--steps", "0", cwd=tmp_path).returncode == 2
