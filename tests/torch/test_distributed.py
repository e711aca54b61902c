"""stepsize optimizers under DDP and FSDP2 (2 CPU processes, gloo) equal the 1-process run.

Every row of the optimizer table (``cases.torch_optimizers``), in each of its distributed
configurations and on each path, runs every case; FSDP2's parameters are DTensors.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")
if not dist.is_available() or not dist.is_gloo_available():
    pytest.skip("torch.distributed with gloo is not available", allow_module_level=True)

from cases import distributed as cases  # noqa: E402

WORLD = 2
TIMEOUT_S = 240


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Run every case once in 2 worker processes; rank 0's results by case name."""
    out = tmp_path_factory.mktemp("distributed")
    tests = str(Path(cases.__file__).parents[1])
    path = os.pathsep.join(filter(None, [tests, os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path}
    command = [sys.executable, "-m", "cases.distributed_worker"]
    procs = [
        subprocess.Popen(
            [*command, str(rank), str(WORLD), str(out / "rendezvous"), str(out)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in range(WORLD)
    ]
    deadline = time.monotonic() + TIMEOUT_S
    logs = []
    try:
        for proc in procs:
            logs.append(proc.communicate(timeout=max(1.0, deadline - time.monotonic()))[0])
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    failed = [proc.returncode for proc in procs if proc.returncode != 0]
    assert not failed, "workers failed:\n" + "\n".join(logs)
    return torch.load(Path(out) / "results.pt", weights_only=True)


def _result(results, case):
    result = results[case]
    assert "error" not in result, f"{case} raised in the workers:\n{result.get('error')}"
    return result


@pytest.mark.timeout(TIMEOUT_S + 60)
@pytest.mark.parametrize("name", sorted(cases.OPTIMIZERS))
def test_ddp_equals_single_process(results, name):
    result = _result(results, f"ddp_{name}")
    expected = cases.train_reference(name, cases.make_batches(cases.STEPS))
    cases.assert_like_single_process(result, expected, name)


@pytest.mark.timeout(TIMEOUT_S + 60)
def test_ddp_accumulation_skips_sync_and_equals_single_process(results):
    result = _result(results, "ddp_accumulation_adamw")
    sizes = cases.windows(10, 4)  # 4, 4, 2 per epoch
    # DDP all-reduced only on the micro-batch that ends each window.
    ends = {sum(sizes[: i + 1]) - 1 for i in range(len(sizes))}
    assert result["synced"] == [i % 10 in ends for i in range(20)]
    assert result["counters"] == [20, 6, 6]

    model = cases.make_model()
    opt = cases.OPTIMIZERS["adamw"](model.parameters())
    scheduler = cases.make_schedule(opt)
    lrs = []
    for _ in range(2):
        for x, y in cases.concatenate(cases.make_batches(10), sizes):
            cases.loss_fn(model, x, y).backward()
            opt.step()
            opt.zero_grad()
            scheduler.step()
            lrs.append(scheduler.get_last_lr()[0])
    expected = cases.snapshot(model, opt)
    cases.assert_close(result["params"], expected["params"], "params")
    cases.assert_close(result["state"], expected["state"], "state")
    # The schedule moved once per update, never per micro-batch.
    assert [result["lrs"][i] for i in range(20) if result["synced"][i]] == lrs


@pytest.mark.timeout(TIMEOUT_S + 60)
@pytest.mark.parametrize("name", sorted(cases.OPTIMIZERS))
def test_fsdp2_equals_single_process(results, name):
    result = _result(results, f"fsdp_{name}")
    expected = cases.train_reference(name, cases.make_batches(cases.STEPS))
    cases.assert_like_single_process(result, expected, name)


@pytest.mark.timeout(TIMEOUT_S + 60)
def test_fsdp2_accumulation_with_clipping_equals_single_process(results):
    result = _result(results, "fsdp_accumulation_adafactor")
    assert result["reduced"] == [False] * 14  # no reduce-scatter before a window's end
    assert result["counters"] == [20, 6, 6]

    model = cases.make_model()
    opt = cases.OPTIMIZERS["adafactor_beta1"](model.parameters())
    scheduler = cases.make_schedule(opt)
    norms = []
    for _ in range(2):
        for x, y in cases.concatenate(cases.make_batches(10), cases.windows(10, 4)):
            cases.loss_fn(model, x, y).backward()
            norms.append(torch.nn.utils.clip_grad_norm_(model.parameters(), cases.MAX_GRAD_NORM))
            opt.step()
            opt.zero_grad()
            scheduler.step()
    assert max(norms) > cases.MAX_GRAD_NORM  # clipping was active
    cases.assert_close({"norms": torch.tensor(result["norms"])}, {"norms": torch.stack(norms)})
    expected = cases.snapshot(model, opt)
    cases.assert_close(result["params"], expected["params"], "params")
    cases.assert_close(result["state"], expected["state"], "state")


@pytest.mark.timeout(TIMEOUT_S + 60)
@pytest.mark.parametrize(
    ("case", "kept", "counters", "discarded"),  # counters: micro, updates, pending, schedule
    [
        # DDP: 1 and 7 (no sync) are isolated; 4 (sync, raised before its backward) leaves its
        # window open; 10 (sync, raised after its backward) discards its window (6, 8, 9)
        ("ddp_accumulation_failures", [0, 2, 3, 5, 11, 12, 13, 14], [11, 2, 0, 2], [3]),
        # FSDP2: 1 (inside backward) discards 0, 7 (inside forward) discards 6; 12-14 pending
        ("fsdp_accumulation_failures", [2, 3, 4, 5, 8, 9, 10, 11], [13, 2, 3, 2], [1, 1]),
    ],
)
def test_failed_micro_batches_under_ddp_and_fsdp2(results, case, kept, counters, discarded):
    result = _result(results, case)
    assert result["counters"] == counters
    assert result["warnings"] == [
        f"GradientAccumulation discarded the window's {n} earlier micro-batches with the one "
        "that raised: its gradient was mixed in"
        for n in discarded
    ]
    batches = cases.make_batches(15)
    windows = counters[1] * [4]
    expected, _ = cases.train_windows("adamw", [batches[i] for i in kept], windows, True)
    cases.assert_close(result["params"], expected["params"], "params")
    cases.assert_close(result["state"], expected["state"], "state")


@pytest.mark.timeout(TIMEOUT_S + 60)
@pytest.mark.parametrize("case", ["ddp_token_weighted", "fsdp_token_weighted"])
def test_token_weighting_counts_every_ranks_items(results, case):
    # The ranks hold different item counts (rank 0 none in some micro-batches): the update is
    # one step on each joined window with the loss averaged over all its items.
    result = _result(results, case)
    assert result["counters"] == [10, 3, 3]
    expected, _ = cases.train_windows(
        "adamw", cases.make_uneven_batches(10), [4, 4, 2], True, cases.MAX_GRAD_NORM
    )
    cases.assert_close(result["params"], expected["params"], "params")
    cases.assert_close(result["state"], expected["state"], "state")


@pytest.mark.timeout(TIMEOUT_S + 60)
@pytest.mark.parametrize("name", cases.CHECKPOINTS)
def test_fsdp2_checkpoint_resume_continues_identically(results, name):
    result = _result(results, f"fsdp_checkpoint_{name}")
    for key, uninterrupted in result["uninterrupted"].items():
        assert torch.equal(result["params"][key], uninterrupted), key
    expected = cases.train_reference(name, cases.make_batches(cases.STEPS))
    cases.assert_like_single_process(result, expected, name)
