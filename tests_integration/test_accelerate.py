"""stepsize in accelerate's training loop, 2 CPU processes, accelerate's default settings.

With ``follow_optimizer=True`` each update's lr is the schedule at the update's index, with
and without gradient accumulation, and the final weights equal one process trained on the
full batches; without it accelerate's wrapper steps the schedule once per process, twice per
update, and the run ends elsewhere: the option is what makes the loop right.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import accelerate_run as run
from cases.closeness import assert_close, relative_distance
from stepsize import schedules

WORLD = 2
TIMEOUT_S = 300


def _free_port() -> int:
    with socket.socket() as probe:  # other test runs on this machine may hold the default
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def launch_command(script: str, *args: str) -> list[str]:
    """``accelerate launch`` of ``script`` in WORLD CPU processes (gloo), on a free port."""
    launcher = Path(sys.executable).with_name("accelerate")
    return [
        str(launcher), "launch", "--multi_gpu", "--num_processes", str(WORLD),
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(_free_port()), script, *args,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("accelerate")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        launch_command(run.__file__, str(out)),
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return torch.load(out / "results.pt", weights_only=True)


def _schedule(total: int) -> schedules.Schedule:
    return schedules.get("linear", num_warmup_steps=run.WARMUP, num_training_steps=total)


@pytest.mark.timeout(TIMEOUT_S + 60)
@pytest.mark.parametrize("case", ["follow", "follow_accumulation"])
def test_each_update_uses_the_schedule_at_its_index(results, case):
    result = results[case]
    accumulation, _ = run.CASES[case]
    total = run.updates(WORLD, accumulation)
    schedule = _schedule(total)
    assert result["total"] == total == len(result["lrs"])
    for k, lrs in enumerate(result["lrs"]):
        assert lrs == pytest.approx([base * schedule(k) for base in result["base_lrs"]]), k
    assert result["last_epoch"] == total  # one step per applied update, however often called
    # Each update saw WORLD · accumulation micro-batches: the full batch of a 1-process run.
    rows = run.MICRO_BATCH * WORLD * accumulation
    assert [len(window) for window in result["windows"]] == [rows] * total


@pytest.mark.timeout(TIMEOUT_S + 60)
@pytest.mark.parametrize("case", ["follow", "follow_accumulation"])
def test_final_weights_equal_one_process_on_the_full_batch(results, case):
    result = results[case]
    expected = run.train_reference(result["windows"], result["total"])
    for name, value in expected.items():
        assert_close(result["params"][name], value, torch.float32, what=name)


@pytest.mark.timeout(TIMEOUT_S + 60)
def test_without_follow_optimizer_the_schedule_runs_twice_as_fast(results):
    result = results["steps_per_call"]
    total = result["total"]
    schedule = _schedule(total)
    # accelerate steps the scheduler once per process per update: update k sees step 2k.
    for k, lrs in enumerate(result["lrs"]):
        assert lrs == pytest.approx([base * schedule(2 * k) for base in result["base_lrs"]]), k
    assert result["lrs"][total // 2][0] == 0.0  # the lr is 0 halfway through
    assert result["last_epoch"] == WORLD * total
    expected = run.train_reference(result["windows"], total)
    distance = relative_distance(list(result["params"].values()), list(expected.values()))
    assert distance > 1e-2, distance
