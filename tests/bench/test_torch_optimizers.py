"""The torch benchmark: every contestant runs, the JSON table, bf16 against float32, the sweep."""

from __future__ import annotations

import json
import re
import sys

import pytest
import torch

from stepsize.bench import torch_optimizers
from stepsize.bench._workload import QUICK, Workload
from stepsize.bench.torch_optimizers import (
    BASELINE,
    contestants,
    main,
    make_params,
    parse,
    state_bytes,
)

TINY = ["--quick", "--layers", "0", "--hidden", "8"]


def _run(tmp_path, *argv):
    assert main([*argv, "--json", str(tmp_path / "table.json")]) == 0
    return json.loads((tmp_path / "table.json").read_text())


def _by_name(document):
    return {row["name"]: row for row in document["contestants"]}


def test_quick_run_measures_every_contestant(tmp_path, capsys):
    document = _run(tmp_path, "--quick")
    assert [row["name"] for row in document["contestants"]] == [n for n, _ in contestants()]
    assert document["references"] == [BASELINE]
    assert document["workload"] == {
        **QUICK.describe(),
        "dtype": "float32",
        "steps": 3,
        "warmup": 1,
        "clock": "wall",
    }
    assert document["threads"] == torch.get_num_threads() and document["device"] == "cpu"
    assert document["versions"]["torch"] == torch.__version__
    rows = _by_name(document)
    assert all(row["skipped"] is None and row["median_ms"] > 0 for row in rows.values())
    assert rows[BASELINE]["ratios"] == {BASELINE: 1.0}
    for name, row in rows.items():
        # AdamW keeps two float32 moments per parameter (plus a step count per tensor);
        # Adafactor factored second moments, O(rows + columns) per matrix.
        expected = (8.0, 8.01) if "AdamW" in name else (0.0, 0.1)
        assert expected[0] <= row["state_bytes_per_param"] <= expected[1], name
    assert "stepsize Adafactor (fused)" in capsys.readouterr().out


def test_missing_reference_is_listed_and_the_rest_runs(tmp_path, monkeypatch, capsys):
    for module in ("transformers", "transformers.optimization"):
        monkeypatch.setitem(sys.modules, module, None)
    document = _run(tmp_path, *TINY, "--only", "AdamW (fused)", "transformers AdamW")
    rows = _by_name(document)
    assert list(rows) == ["stepsize AdamW (fused)", BASELINE, "transformers AdamW"]
    assert rows["transformers AdamW"]["skipped"] == "not installed: transformers"
    assert rows["stepsize AdamW (fused)"]["skipped"] is None
    table = capsys.readouterr().out
    assert re.search(r"^transformers AdamW +skipped \(not installed: transformers\)$", table, re.M)


def test_bfloat16_rows_are_compared_with_fused_adamw_on_float32(tmp_path):
    document = _run(tmp_path, *TINY, "--dtype", "bfloat16", "--only", "stepsize AdamW (fused)")
    reference = torch_optimizers.BASELINE_FLOAT32
    assert document["references"] == [reference]
    assert document["workload"]["dtype"] == "bfloat16"
    rows = _by_name(document)
    assert list(rows) == ["stepsize AdamW (fused)", BASELINE, reference]
    assert [rows[n]["dtype"] for n in rows] == ["bfloat16", "bfloat16", "float32"]
    assert rows[reference]["ratios"] == {reference: 1.0}
    assert rows[reference]["state_bytes_per_param"] >= 8.0
    # two bfloat16 moments and the Kahan buffer (the default for bfloat16), 2 bytes each
    assert 6.0 <= rows["stepsize AdamW (fused)"]["state_bytes_per_param"] < 6.1


def test_sweep_times_the_rows_as_the_size_grows(tmp_path, capsys):
    sizes = ["--sweep", "--sizes", "250000", "1000000"]
    document = _run(tmp_path, *TINY, "--only", "stepsize AdamW (fused)", *sizes)
    sweep = document["sweep"]
    assert [s["parameters"] for s in sweep] == [
        Workload.scaled(250_000).parameters,
        Workload.scaled(1_000_000).parameters,
    ]
    for size in sweep:
        assert list(size["median_ms"]) == ["stepsize AdamW (fused)", BASELINE]
        assert all(ms > 0 for ms in size["median_ms"].values())
    assert "median ms per step" in capsys.readouterr().out


def test_make_params_is_reproducible_with_gradients():
    first, again = make_params(QUICK), make_params(QUICK)
    assert [tuple(p.shape) for p in first] == QUICK.shapes()
    for p, q in zip(first, again, strict=True):
        assert torch.equal(p, q) and torch.equal(p.grad, q.grad)
        assert p.grad.dtype == torch.float32 and p.grad.abs().max() > 0
    half = make_params(QUICK, dtype=torch.bfloat16)
    assert {p.dtype for p in half} == {p.grad.dtype for p in half} == {torch.bfloat16}


def test_state_bytes_counts_shared_storage_once():
    p = torch.nn.Parameter(torch.zeros(10))
    p.grad = torch.ones(10)
    optimizer = torch.optim.AdamW([p], foreach=False)
    optimizer.step()
    # exp_avg and exp_avg_sq: 10 float32 each; step: a float32 scalar tensor
    assert state_bytes(optimizer) == 2 * 10 * 4 + 4
    moment = torch.zeros(6, dtype=torch.float64)
    optimizer.state[p] = {"a": moment, "b": moment[2:], "n": 3}
    assert state_bytes(optimizer) == 6 * 8


def test_gpu_check_options_parse():
    args = parse(["--device", "cuda", "--dtype", "bfloat16", "--json", "table.json"])
    assert (args.device, args.dtype, str(args.json)) == ("cuda", "bfloat16", "table.json")


def test_cuda_without_a_gpu_is_reported(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["--device", "cuda", *TINY]) == 2
    assert "CUDA is not available here" in capsys.readouterr().err


def test_cpu_clock_needs_a_cpu_device(capsys):
    assert main(["--device", "meta", "--clock", "cpu", *TINY]) == 2
    assert "--clock cpu measures CPU devices only" in capsys.readouterr().err


@pytest.mark.cuda
def test_cuda_run(tmp_path):
    document = _run(tmp_path, *TINY, "--device", "cuda", "--only", "stepsize AdamW (fused)")
    assert document["device"].startswith("cuda")
    assert all(row["skipped"] is None for row in document["contestants"])
