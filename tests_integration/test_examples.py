"""The client examples run as documented and end where they say."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from test_accelerate import launch_command

EXAMPLES = Path(__file__).parents[1] / "examples"
TIMEOUT_S = 300


def _run(command: list[str]) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.timeout(TIMEOUT_S + 30)
def test_trainer_example():
    out = _run([sys.executable, str(EXAMPLES / "hf_trainer.py")])
    lrs = [float(lr) for lr in re.findall(r"^step \d+: loss [\d.]+  lr ([\d.e+-]+)$", out, re.M)]
    assert len(lrs) == 4 and lrs == sorted(lrs, reverse=True) and lrs[-1] < 1e-4


@pytest.mark.timeout(TIMEOUT_S + 30)
def test_accelerate_example_on_two_processes():
    out = _run(launch_command(str(EXAMPLES / "accelerate_train.py")))
    assert out.count("epoch ") == 3  # printed by the main process only
    assert "lr 0.00e+00  updates 24 of 24" in out


@pytest.mark.timeout(TIMEOUT_S + 30)
def test_lightning_example():
    out = _run([sys.executable, str(EXAMPLES / "lightning_train.py")])
    assert "updates 48 of 48, final lr 0.00e+00" in out
