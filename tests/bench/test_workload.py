"""The benchmark workload: BERT-base's parameter tensors, named as transformers names them."""

from __future__ import annotations

import json
import math

import pytest

from stepsize.bench._workload import QUICK, Workload


def _bert_count(layers: int, hidden: int) -> int:
    # Written out from BERT's layout: embeddings + LayerNorm, then per layer four attention
    # projections, LayerNorm, the 4·hidden feed-forward pair, LayerNorm.
    embeddings = (30522 + 512 + 2) * hidden + 2 * hidden
    attention = 4 * (hidden * hidden + hidden) + 2 * hidden
    feed_forward = (hidden * 4 * hidden + 4 * hidden) + (4 * hidden * hidden + hidden) + 2 * hidden
    return embeddings + layers * (attention + feed_forward)


@pytest.mark.parametrize(("layers", "hidden"), [(4, 768), (0, 768), (1, 64), (2, 8)])
def test_parameter_count_is_berts(layers, hidden):
    workload = Workload(layers, hidden)
    assert workload.parameters == _bert_count(layers, hidden)
    assert len(workload.tensors()) == 5 + 16 * layers


def test_default_is_the_52m_bert_like_set():
    workload = Workload()
    assert (workload.layers, workload.hidden, workload.parameters) == (4, 768, 52_188_672)
    assert workload.shapes()[:3] == [(30522, 768), (512, 768), (2, 768)]
    assert QUICK.parameters == _bert_count(1, 64) < 3_000_000


def test_names_say_which_tensors_are_not_decayed():
    tensors = Workload(layers=2).tensors()
    names = [name for name, _ in tensors]
    assert len(set(names)) == len(names)
    for name, shape in tensors:
        no_decay = "LayerNorm" in name or name.endswith(".bias")
        assert no_decay == (len(shape) == 1), name
    assert "bert.encoder.layer.1.intermediate.dense.weight" in names
    assert dict(tensors)["bert.encoder.layer.0.output.dense.weight"] == (768, 3072)


@pytest.mark.parametrize("target", [250_000, 1_000_000, 10_000_000, 30_000_000, 100_000_000])
def test_scaled_is_near_the_target(target):
    workload = Workload.scaled(target)
    assert abs(workload.parameters - target) <= 0.1 * target
    assert workload.layers >= 1


def test_scaled_grows_with_the_target():
    sizes = [Workload.scaled(10**k).parameters for k in range(5, 10)]
    assert sizes == sorted(sizes)


def test_describe_is_json():
    described = json.loads(json.dumps(Workload(1, 64).describe()))
    assert described == {
        "name": "BERT-like",
        "layers": 1,
        "hidden": 64,
        "tensors": 21,
        "parameters": _bert_count(1, 64),
    }
    assert described["parameters"] == sum(math.prod(s) for s in Workload(1, 64).shapes())


@pytest.mark.parametrize(("layers", "hidden"), [(-1, 768), (4, 0)])
def test_bad_size_is_a_value_error(layers, hidden):
    with pytest.raises(ValueError, match=rf"layers >= 0 and hidden >= 1, got {layers}, {hidden}"):
        Workload(layers, hidden)
