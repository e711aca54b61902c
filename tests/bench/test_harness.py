"""The shared benchmark harness: turn-taking timing, skipped rows, ratios, the table and JSON."""

from __future__ import annotations

import itertools
import json

import pytest

from stepsize.bench import _harness as harness


def _fake_clock(ticks):
    """A clock that returns 0, then advances by the next tick at every call."""
    now = [0.0]
    ticks = iter(ticks)

    def clock():
        value = now[0]
        now[0] += next(ticks, 0.0)
        return value

    return clock


def test_measure_takes_turns_and_times_only_after_the_warmup():
    order = []
    rows = [
        harness.Contestant("a", "float32", lambda: order.append("a")),
        harness.Contestant("b", "float32"),
    ]
    rows[1].step = lambda: order.append("b")
    harness.measure(rows, steps=2, warmup=1, clock=_fake_clock(itertools.repeat(0.5)))
    assert order == ["a", "b"] * 3
    assert [row.times for row in rows] == [[0.5, 0.5], [0.5, 0.5]]


def test_measure_syncs_around_each_step():
    events = []
    row = harness.Contestant("a", "float32", lambda: events.append("step"))
    harness.measure([row], steps=1, warmup=0, sync=lambda: events.append("sync"))
    assert events == ["sync", "step", "sync"]


def test_failing_step_skips_the_row_and_the_rest_runs():
    calls = {"bad": 0, "good": 0}

    def bad():
        calls["bad"] += 1
        if calls["bad"] == 2:
            raise RuntimeError("kernel not available\nmore detail")

    rows = [harness.Contestant("bad", "float32", bad), harness.Contestant("good", "float32")]
    rows[1].step = lambda: calls.__setitem__("good", calls["good"] + 1)
    harness.measure(rows, steps=3, warmup=0)
    assert calls == {"bad": 2, "good": 3}
    assert rows[0].skipped == "RuntimeError: kernel not available"
    assert rows[0].times == [] and rows[0].step is None
    assert len(rows[1].times) == 3


def test_prepare_names_a_missing_package():
    def needs_transformers():
        import transformers.no_such_module  # noqa: F401

        raise AssertionError("unreachable")

    row = harness.prepare("transformers AdamW", "float32", needs_transformers)
    assert row.step is None and row.skipped == "not installed: transformers"
    row = harness.prepare("bad", "bfloat16", lambda: (_ for _ in ()).throw(ValueError("no bf16")))
    assert (row.skipped, row.dtype) == ("ValueError: no bf16", "bfloat16")
    row = harness.prepare("ok", "float32", lambda: (print, lambda: 8))
    assert row.step is print and row.state_bytes() == 8 and row.skipped is None


def _measured(name, times, state=800):
    return harness.Contestant(name, "float32", print, lambda: state, times=times)


SETTINGS = {"device": "cpu", "workload": {"parameters": 100}}


def test_ratio_is_the_median_of_the_per_round_ratios(capsys):
    base = _measured("base", [1.0, 2.0, 4.0])
    row = _measured("row", [3.0, 2.0, 2.0], state=1)
    skipped = harness.Contestant("gone", "float32", skipped="not installed: x")
    document = harness.report("torch", [row, base, skipped], {"base": "× base"}, SETTINGS)
    rows = {r["name"]: r for r in document["contestants"]}
    # per round 3/1, 2/2, 2/4 = 3, 1, 0.5: the median is 1.0
    assert rows["row"]["ratios"] == {"base": 1.0}
    assert rows["row"]["median_ms"] == 2000.0 and rows["row"]["min_ms"] == 2000.0
    assert rows["row"]["state_bytes_per_param"] == 0.01
    assert rows["base"]["ratios"] == {"base": 1.0} and rows["base"]["state_bytes_per_param"] == 8
    assert rows["gone"] == {"name": "gone", "dtype": "float32", "skipped": "not installed: x"}
    assert document["references"] == ["base"] and document["device"] == "cpu"
    table = capsys.readouterr().out
    assert "gone                           skipped (not installed: x)" in table
    assert "× base: median over rounds of (row time / base time) in the same round" in table


def test_paired_ratio_is_not_the_ratio_of_the_medians():
    base = _measured("base", [1.0, 4.0, 5.0])
    row = _measured("row", [3.0, 2.0, 20.0])
    document = harness.report("tf", [base, row], {"base": "× base"}, SETTINGS)
    # per round 3, 0.5, 4: the median is 3.0 (the medians' ratio 3/4 would say 0.75)
    assert document["contestants"][1]["ratios"]["base"] == 3.0


def test_skipped_reference_gives_no_ratio(capsys):
    row = _measured("row", [1.0])
    gone = harness.Contestant("gone", "float32", skipped="not installed: transformers")
    document = harness.report("tf", [row, gone], {"gone": "× gone"}, SETTINGS)
    assert document["contestants"][0]["ratios"] == {"gone": None}
    assert " n/a " in capsys.readouterr().out


def test_dtype_column_only_when_dtypes_differ(capsys):
    harness.report("torch", [_measured("a", [1.0]), _measured("b", [1.0])], {"a": "× a"}, SETTINGS)
    assert "dtype" not in capsys.readouterr().out
    half = harness.Contestant("c", "bfloat16", print, lambda: 400, times=[0.5])
    harness.report("torch", [_measured("a", [1.0]), half], {"a": "× a"}, SETTINGS)
    lines = capsys.readouterr().out.splitlines()
    assert "dtype" in lines[0] and "bfloat16" in lines[2]


def test_save_writes_the_document_as_json(tmp_path, capsys):
    document = harness.report("tf", [_measured("a", [1.0])], {"a": "× a"}, SETTINGS)
    harness.save(document, tmp_path / "table.json")
    assert json.loads((tmp_path / "table.json").read_text()) == document
    harness.save(document, None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.json"]
    assert capsys.readouterr().out.endswith(f"wrote {tmp_path / 'table.json'}\n")


@pytest.mark.parametrize(
    ("name", "kept"),
    [("stepsize AdamW (fused)", True), ("torch Adafactor", False), ("base", True)],
)
def test_only_keeps_matching_rows_and_the_references(name, kept):
    assert harness.selected(name, ["ADAMW"], ["base"]) is kept
    assert harness.selected(name, None, ["base"]) is True


def test_environment_lists_versions_and_marks_absent_packages():
    machine = harness.environment("cpu", 3, ["pytest", "no-such-package-here"])
    assert machine["threads"] == 3 and machine["device"] == "cpu"
    assert machine["versions"]["pytest"] == pytest.__version__
    assert machine["versions"]["no-such-package-here"] is None
    assert {"python", "stepsize"} <= set(machine["versions"])
    json.dumps(machine)
