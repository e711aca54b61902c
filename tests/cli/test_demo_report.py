"""The demo's records and reports: Run, the table, the JSON and the PNG plots."""

from __future__ import annotations

import json
import math

import pytest

from stepsize.cli._demo_report import FILES, Run, table, write_json, write_outputs


def _run(name: str = "a", losses=(2.0, 1.0, 0.5, 0.25), baseline: bool = False) -> Run:
    run = Run(name, f"label {name}", steps=len(losses), progress=False, baseline=baseline)
    for i, loss in enumerate(losses):
        run.update(lr=0.1 * (i + 1), loss=loss)
        if i == 1:
            run.end_epoch(accuracy=0.5, test_loss=1.2)
    run.end_epoch(accuracy=0.75, test_loss=0.8)
    return run.close()


def test_run_records_updates_and_epochs():
    run = _run()
    assert run.lrs == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert run.losses == [2.0, 1.0, 0.5, 0.25]
    assert [e["train_loss"] for e in run.epochs] == [1.5, 0.375]
    assert [e["steps"] for e in run.epochs] == [2, 4]
    assert run.final_accuracy == 0.75 and run.final_loss == 0.375
    # Two intervals between updates inside an epoch: 0->1 and 2->3 (evaluation excluded).
    assert len(run.step_seconds) == 2 and run.ms_per_step >= 0
    assert run.wall_s >= 0


def test_run_before_any_epoch_is_nan():
    run = Run("a", "A", steps=1, progress=False).close()
    assert math.isnan(run.final_accuracy) and math.isnan(run.final_loss)
    assert math.isnan(run.ms_per_step)


def test_progress_bar_goes_to_stderr(capsys):
    pytest.importorskip("tqdm")
    run = Run("a", "bar label", steps=2, progress=True)
    run.update(lr=0.1, loss=1.0)
    run.update(lr=0.1, loss=1.0)
    run.close()
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "bar label" in captured.err and "2/2" in captured.err


def test_table_has_one_row_per_run():
    lines = table([_run("a"), _run("b")]).splitlines()
    assert lines[0].split()[:3] == ["optimizer", "held-out", "acc"]
    assert len(lines) == 3
    assert lines[1].startswith("label a") and "75.0 %" in lines[1] and "0.3750" in lines[1]


def test_json_round_trips_and_writes_nan_as_null(tmp_path):
    empty = Run("empty", "E", steps=0, progress=False).close()
    path = tmp_path / "m.json"
    write_json(path, {"framework": "x"}, [_run(baseline=True), empty])
    document = json.loads(path.read_text())  # strict JSON: no NaN literals
    assert "NaN" not in path.read_text()
    assert document["framework"] == "x"
    first, second = document["runs"]
    assert first["baseline"] is True and first["loss"] == [2.0, 1.0, 0.5, 0.25]
    assert first["final_accuracy"] == 0.75 and len(first["epochs"]) == 2
    assert second["final_accuracy"] is None and second["ms_per_step"] is None


def test_write_outputs_writes_every_file(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "new" / "folder"
    paths = write_outputs(out, {"framework": "x"}, [_run("a"), _run("b", baseline=True)], "T")
    assert sorted(p.name for p in paths) == sorted(FILES.values())
    for path in paths:
        assert path.stat().st_size > 0
    assert (out / FILES["lr"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / FILES["loss"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
