"""``AdamWeightDecay``: hand-computed numbers, transformers' decay rule, what Keras adds.

Parity with transformers, the fused path against the reference update, eager/graph/XLA, config
round trips, resume and argument errors are the Keras optimizer contract
(test_optimizer_contract.py).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pytest

from cases.closeness import assert_close
from cases.tf_optimizers import DECAY, EXCLUDE

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from stepsize.tf import AdamWeightDecay  # noqa: E402

# Hand-computed: kernel [1, −2], g [.1, −.2], lr .1, wd .1, one step (the class's example).
KNOWN = {
    "start": (1.0, -2.0),
    "gradient": (0.1, -0.2),
    "kwargs": {
        "learning_rate": 0.1,
        "weight_decay_rate": 0.1,
        "exclude_from_weight_decay": ["bias"],
    },
    "decayed": ("dense/kernel", (0.8900031, -1.8800015)),
    "excluded": ("dense/bias", (0.9000031, -1.9000015)),
}


class DecayRule(NamedTuple):
    path: str
    include: list[str] | None
    exclude: list[str] | None
    decayed: bool


DECAY_RULES = [
    DecayRule("dense/kernel", None, None, True),
    DecayRule("dense/bias", None, EXCLUDE, False),
    DecayRule("encoder/LayerNorm/gamma", None, EXCLUDE, False),
    DecayRule("encoder/layer_normalization/beta", None, EXCLUDE, False),
    DecayRule("encoder/dense/kernel", None, EXCLUDE, True),
    DecayRule("encoder/LayerNorm/gamma", ["LayerNorm/gamma"], EXCLUDE, True),
    DecayRule("encoder/LayerNorm/beta", ["LayerNorm/gamma"], EXCLUDE, False),
    DecayRule("dense/kernel", ["bias"], None, True),  # include never restricts
    DecayRule("head/kernel", None, [r"^head/"], False),
    DecayRule("body/head/kernel", None, [r"^head/"], True),
]


@pytest.mark.parametrize("fused", [True, False])
def test_known_values(fused, keras_variable):
    known = KNOWN
    for path, expected in (known["decayed"], known["excluded"]):
        variable = keras_variable(path, known["start"])
        optimizer = AdamWeightDecay(**known["kwargs"], fused=fused)
        optimizer.apply_gradients([(tf.constant(known["gradient"]), variable)])
        np.testing.assert_allclose(variable.numpy(), expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("rule", DECAY_RULES, ids=lambda r: f"{r.path}-{r.include}-{r.exclude}")
def test_decay_rule_matches_transformers(rule, hf, keras_variable):
    kwargs = {
        "weight_decay_rate": 0.1,
        "include_in_weight_decay": rule.include,
        "exclude_from_weight_decay": rule.exclude,
    }
    optimizer = AdamWeightDecay(**kwargs)
    assert optimizer._do_use_weight_decay(rule.path) is rule.decayed
    reference = hf.AdamWeightDecay(**kwargs)
    assert reference._do_use_weight_decay(rule.path + ":0") is rule.decayed
    optimizer.build([keras_variable(rule.path, [1.0])])  # decided on the variable's path
    assert optimizer._decayed == [rule.decayed]


def test_zero_rate_decays_nothing(keras_variable):
    optimizer = AdamWeightDecay(weight_decay_rate=0.0, include_in_weight_decay=["kernel"])
    optimizer.build([keras_variable("dense/kernel", [1.0])])
    assert optimizer._decayed == [False]


@pytest.mark.parametrize("fused", [True, False])
def test_sparse_gradients_equal_dense(fused, keras_variable):
    """An embedding's IndexedSlices gradient (repeated rows included) steps like its dense sum."""
    table = np.arange(12.0).reshape(6, 2) / 10
    results = []
    for sparse in (True, False):
        variable = keras_variable("embeddings/weight", table)
        optimizer = AdamWeightDecay(1e-2, weight_decay_rate=0.1, fused=fused)
        for _ in range(3):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(tf.gather(variable.value, [1, 4, 1]) ** 2)
            gradient = tape.gradient(loss, variable.value)
            assert isinstance(gradient, tf.IndexedSlices)
            if not sparse:
                gradient = tf.convert_to_tensor(gradient)
            optimizer.apply_gradients([(gradient, variable)])
        results.append(variable.numpy())
    np.testing.assert_array_equal(results[0], results[1])
    assert not np.array_equal(results[0], table)


def test_gradient_accumulation_steps_average_micro_batches(
    initial_values, gradient_sequence, make_keras_variables, run_steps
):
    accumulated = make_keras_variables(initial_values)
    optimizer = AdamWeightDecay(**DECAY, gradient_accumulation_steps=2)
    run_steps(optimizer, accumulated, gradient_sequence[:8])
    averaged = [
        [(a + b) / 2 for a, b in zip(first, second, strict=True)]
        for first, second in zip(gradient_sequence[0:8:2], gradient_sequence[1:8:2], strict=True)
    ]
    expected = run_steps(AdamWeightDecay(**DECAY), make_keras_variables(initial_values), averaged)
    assert_close(accumulated, expected, "float32")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_variables_follow_float32(
    dtype, initial_values, gradient_sequence, make_keras_variables, run_steps
):
    # transformers' AdamWeightDecay fails on float16/bfloat16 variables, so the float32 run is
    # the reference; ε is large for float16.
    kwargs = {**DECAY, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-3}
    low = run_steps(
        AdamWeightDecay(**kwargs),
        make_keras_variables(initial_values, dtype),
        gradient_sequence[:5],
        dtype,
    )
    full = run_steps(
        AdamWeightDecay(**kwargs), make_keras_variables(initial_values), gradient_sequence[:5]
    )
    for a, e in zip(low, full, strict=True):
        assert a.dtype == np.dtype(keras.backend.standardize_dtype(dtype))
        np.testing.assert_allclose(a.astype(np.float32), e, atol=0.05, rtol=0.02)


def test_config_keeps_decay_patterns_and_path():
    optimizer = AdamWeightDecay(
        weight_decay_rate=0.05,
        include_in_weight_decay=("LayerNorm/gamma",),
        exclude_from_weight_decay=["LayerNorm", "bias"],
        fused=False,
    )
    config = optimizer.get_config()
    assert config["include_in_weight_decay"] == ["LayerNorm/gamma"]
    assert config["exclude_from_weight_decay"] == ["LayerNorm", "bias"]
    assert config["fused"] is False
    assert AdamWeightDecay.from_config(config).fused is False
    assert AdamWeightDecay().get_config()["fused"] is True


def test_keras_exclude_from_weight_decay_method(keras_variable):
    kernel = keras_variable("dense/kernel", [1.0])
    head = keras_variable("head/kernel", [1.0])
    bias = keras_variable("dense/bias", [1.0])
    optimizer = AdamWeightDecay(weight_decay_rate=0.1)
    optimizer.exclude_from_weight_decay(var_list=[head], var_names=["bias"])
    optimizer.build([kernel, head, bias])
    assert optimizer._decayed == [True, False, False]
    with pytest.raises(ValueError, match="before build"):
        optimizer.exclude_from_weight_decay(var_names=["kernel"])
    with pytest.raises(TypeError, match="var_names must be a list or tuple, got 'bias'"):
        AdamWeightDecay(weight_decay_rate=0.1).exclude_from_weight_decay(var_names="bias")
