"""The scripts in examples/ run as documented and train: each in a fresh process, as a user runs it.

The client examples (Trainer, accelerate, Lightning) run in the integration environment.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]


def run(command: list[str], tmp_path: Path) -> str:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", OMP_NUM_THREADS="1")
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def epoch_losses(output: str) -> list[float]:
    return [float(loss) for loss in re.findall(r"^epoch \d+: loss ([\d.]+)", output, re.M)]


@pytest.mark.parametrize(
    ("launcher", "script"),
    [
        ([sys.executable], "torch_single.py"),
        (TORCHRUN, "torch_ddp.py"),
        (TORCHRUN, "torch_fsdp.py"),
        ([sys.executable], "tf_mirrored.py"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_example_trains(launcher, script, tmp_path):
    pytest.importorskip("torch" if script.startswith("torch") else "tensorflow")
    losses = epoch_losses(run([*launcher, str(EXAMPLES / script)], tmp_path))
    assert len(losses) >= 3
    assert losses[-1] < 0.5 * losses[0], losses


def test_fsdp_example_saves_and_reloads_a_sharded_checkpoint(tmp_path):
    pytest.importorskip("torch")
    output = run([*TORCHRUN, str(EXAMPLES / "torch_fsdp.py"), "--checkpoint", "ckpt"], tmp_path)
    assert "saved and reloaded the sharded checkpoint in ckpt" in output
    assert any((tmp_path / "ckpt").iterdir())


def test_keras_example_resumes_to_the_uninterrupted_weights(tmp_path):
    pytest.importorskip("tensorflow")
    output = run([sys.executable, str(EXAMPLES / "keras_fit.py")], tmp_path)
    assert "resumed == uninterrupted" in output  # the script asserts the weights equal
    accuracy = float(re.search(r"training accuracy ([\d.]+)", output).group(1))
    assert accuracy > 0.9
    assert "final lr 0.00e+00 after 252 updates" in output
