"""The TensorFlow benchmark: every contestant runs, the JSON table, a missing reference."""

from __future__ import annotations

import json
import sys

import pytest

from stepsize.bench._workload import Workload
from stepsize.bench.tf_optimizers import CONTESTANTS, REFERENCES, main, make_variables, state_bytes

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

TINY = ["--quick", "--layers", "0", "--hidden", "8"]


def _run(tmp_path, *argv):
    assert main([*argv, "--json", str(tmp_path / "table.json")]) == 0
    return json.loads((tmp_path / "table.json").read_text())


def test_quick_run_measures_every_contestant(tmp_path):
    document = _run(tmp_path, "--quick", "--layers", "0")
    rows = {row["name"]: row for row in document["contestants"]}
    assert list(rows) == list(CONTESTANTS)
    assert document["references"] == list(REFERENCES)
    assert document["workload"]["parameters"] == Workload(0, 64).parameters
    assert document["versions"]["tensorflow"] == tf.__version__
    for name, row in rows.items():
        assert row["skipped"] is None and row["median_ms"] > 0, name
        assert set(row["ratios"]) == set(REFERENCES)
        # Adam's two moments per parameter, plus a few scalars (step, learning rate)
        assert 8.0 <= row["state_bytes_per_param"] < 8.01, name
    assert rows["Keras 3 AdamW"]["ratios"]["Keras 3 AdamW"] == 1.0


def test_missing_transformers_is_listed_and_the_rest_runs(tmp_path, monkeypatch, capsys):
    for module in ("transformers", "transformers.optimization_tf"):
        monkeypatch.setitem(sys.modules, module, None)
    document = _run(tmp_path, *TINY, "--only", "Keras 3 Adam")
    rows = {row["name"]: row for row in document["contestants"]}
    assert list(rows) == [
        "transformers AdamWeightDecay (tf-keras)",
        "Keras 3 AdamW",
        "Keras 3 Adam",
    ]
    assert rows["transformers AdamWeightDecay (tf-keras)"]["skipped"] == (
        "not installed: transformers"
    )
    assert rows["Keras 3 Adam"]["ratios"]["transformers AdamWeightDecay (tf-keras)"] is None
    assert rows["Keras 3 Adam"]["ratios"]["Keras 3 AdamW"] > 0
    assert "skipped (not installed: transformers)" in capsys.readouterr().out


def test_variables_are_named_after_the_workload():
    workload = Workload(layers=1, hidden=8)
    values = [tf.zeros(shape) for shape in workload.shapes()]
    name, shape = workload.tensors()[6]
    assert name == "bert.encoder.layer.0.attention.self.query.bias"
    keras_variable = make_variables(workload, values, keras_paths=True)[6]
    assert keras_variable.path == "bert/encoder/layer/0/attention/self/query/bias"
    assert tuple(keras_variable.shape) == shape
    tf_variable = make_variables(workload, values, keras_paths=False)[6]
    assert tf_variable.name == "bert/encoder/layer/0/attention/self/query/bias:0"


def test_state_bytes_counts_the_optimizer_variables():
    variable = keras.Variable(tf.zeros((4, 5)), name="kernel")
    optimizer = keras.optimizers.Adam()
    optimizer.build([variable])
    # m and v (20 float32 each), the iteration count (int64) and the learning rate (float32)
    assert state_bytes(optimizer) == 2 * 20 * 4 + 8 + 4
