"""``AdamWeightDecay``: SPEC §4's numbers, transformers' decay rule, parity with transformers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cases.tf_optimizers import (
    ADAM_WEIGHT_DECAY,
    ADAM_WEIGHT_DECAY_KNOWN,
    DECAY_RULES,
    TOLERANCE,
    TOLERANCE_FLOAT64,
    VALID,
    VARIABLES,
    invalid,
)

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from stepsize.tf import AdamWeightDecay, WarmUp  # noqa: E402

PATHS = [path for path, _ in VARIABLES]


def ours_schedule(spec):
    decay = keras.optimizers.schedules.PolynomialDecay(
        spec["initial_learning_rate"], spec["decay_steps"], spec["end_learning_rate"], spec["power"]
    )
    return WarmUp(
        spec["initial_learning_rate"], decay, spec["warmup_steps"], power=spec["warmup_power"]
    )


def transformers_schedule(hf, spec):
    import tf_keras

    decay = tf_keras.optimizers.schedules.PolynomialDecay(
        spec["initial_learning_rate"], spec["decay_steps"], spec["end_learning_rate"], spec["power"]
    )
    return hf.WarmUp(
        spec["initial_learning_rate"], decay, spec["warmup_steps"], power=spec["warmup_power"]
    )


def ours(case, **extra):
    kwargs = {**case.kwargs, **extra}
    if case.schedule:
        kwargs["learning_rate"] = ours_schedule(case.schedule)
    return AdamWeightDecay(**kwargs)


def run(optimizer, variables, gradient_sequence, dtype="float32", compiled=False):
    """Applies the gradient sequence; returns the values.

    ``compiled``: False runs eagerly, True in a ``tf.function``, "xla" in one compiled by XLA
    (as Keras does on GPUs).
    """

    def step(gradients):
        optimizer.apply_gradients(zip(gradients, variables, strict=True))

    if compiled:
        step = tf.function(step, jit_compile=compiled == "xla")
    for gradients in gradient_sequence:
        step([tf.constant(g, dtype) for g in gradients])
    return [v.numpy() for v in variables]


def slots(optimizer):
    """Our (m, v) per variable, in variable order."""
    return [
        (m.numpy(), v.numpy())
        for m, v in zip(optimizer._momentums, optimizer._velocities, strict=True)
    ]


def test_known_values(keras_variable):
    known = ADAM_WEIGHT_DECAY_KNOWN
    optimizer = AdamWeightDecay(**known["kwargs"])
    for path, expected in (known["decayed"], known["excluded"]):
        variable = keras_variable(path, known["start"])
        optimizer = AdamWeightDecay(**known["kwargs"])
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


@pytest.mark.parametrize("case", ADAM_WEIGHT_DECAY, ids=str)
def test_matches_transformers(
    case, hf, initial_values, gradient_sequence, make_keras_variables, make_tf_variables
):
    optimizer = ours(case)
    variables = make_keras_variables(initial_values)
    actual = run(optimizer, variables, gradient_sequence, compiled=True)

    kwargs = dict(case.kwargs)
    if case.schedule:
        kwargs["learning_rate"] = transformers_schedule(hf, case.schedule)
    reference = hf.AdamWeightDecay(**kwargs)
    reference_variables = make_tf_variables(initial_values)
    expected = run(reference, reference_variables, gradient_sequence)

    assert optimizer._decayed == [
        reference._do_use_weight_decay(v.name) for v in reference_variables
    ]
    assert any(optimizer._decayed) == (case.kwargs.get("weight_decay_rate", 0) > 0)
    for path, a, e in zip(PATHS, actual, expected, strict=True):
        np.testing.assert_allclose(a, e, **TOLERANCE, err_msg=path)
    for path, (m, v), variable in zip(PATHS, slots(optimizer), reference_variables, strict=True):
        for mine, slot in ((m, "m"), (v, "v")):
            theirs = reference.get_slot(variable, slot).numpy()
            np.testing.assert_allclose(mine, theirs, **TOLERANCE, err_msg=f"{path} {slot}")
    assert int(optimizer.iterations) == int(reference.iterations) == len(gradient_sequence)


@pytest.mark.parametrize("case", ADAM_WEIGHT_DECAY, ids=str)
def test_fast_path_equals_reference_loop(
    case, initial_values, gradient_sequence, make_keras_variables
):
    """float64, SPEC §5.1: fused kernels vs plain TF ops (float32 parity is tested above)."""
    results = []
    for fused in (True, False):
        optimizer = ours(case)
        optimizer._fused = fused
        variables = make_keras_variables(initial_values, "float64")
        values = run(optimizer, variables, gradient_sequence, "float64")
        results.append((values, slots(optimizer)))
    (fused_values, fused_slots), (loop_values, loop_slots) = results
    for a, e in zip(fused_values, loop_values, strict=True):
        np.testing.assert_allclose(a, e, **TOLERANCE_FLOAT64)
    for (m, v), (m_ref, v_ref) in zip(fused_slots, loop_slots, strict=True):
        np.testing.assert_allclose(m, m_ref, **TOLERANCE_FLOAT64)
        np.testing.assert_allclose(v, v_ref, **TOLERANCE_FLOAT64)


@pytest.mark.parametrize("case_id", ["warmup-schedule", "warmup-schedule-amsgrad"])
def test_eager_graph_and_xla_agree(
    case_id, initial_values, gradient_sequence, make_keras_variables
):
    # Grappler and XLA may fold the scalar coefficients differently: last-bit differences only.
    case = next(c for c in ADAM_WEIGHT_DECAY if c.id == case_id)
    eager = run(ours(case), make_keras_variables(initial_values), gradient_sequence)
    for compiled in (True, "xla"):
        values = run(
            ours(case), make_keras_variables(initial_values), gradient_sequence, compiled=compiled
        )
        for a, e in zip(values, eager, strict=True):
            np.testing.assert_allclose(a, e, rtol=1e-6, atol=1e-7)


def test_sparse_gradients_equal_dense(keras_variable):
    """An embedding's IndexedSlices gradient (repeated rows included) steps like its dense sum."""
    table = np.arange(12.0).reshape(6, 2) / 10
    results = []
    for sparse in (True, False):
        variable = keras_variable("embeddings/weight", table)
        optimizer = AdamWeightDecay(1e-2, weight_decay_rate=0.1)
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
    initial_values, gradient_sequence, make_keras_variables
):
    case = next(c for c in ADAM_WEIGHT_DECAY if c.id == "decay")
    accumulated = make_keras_variables(initial_values)
    run(ours(case, gradient_accumulation_steps=2), accumulated, gradient_sequence[:8])
    averaged = [
        [(a + b) / 2 for a, b in zip(first, second, strict=True)]
        for first, second in zip(gradient_sequence[0:8:2], gradient_sequence[1:8:2], strict=True)
    ]
    expected = run(ours(case), make_keras_variables(initial_values), averaged)
    for a, e in zip(accumulated, expected, strict=True):
        np.testing.assert_allclose(a.numpy(), e, **TOLERANCE)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_variables_follow_float32(
    dtype, initial_values, gradient_sequence, make_keras_variables
):
    case = next(c for c in ADAM_WEIGHT_DECAY if c.id == "betas-epsilon")  # ε large for fp16
    low = run(ours(case), make_keras_variables(initial_values, dtype), gradient_sequence[:5], dtype)
    full = run(ours(case), make_keras_variables(initial_values), gradient_sequence[:5])
    for a, e in zip(low, full, strict=True):
        assert a.dtype == np.dtype(keras.backend.standardize_dtype(dtype))
        np.testing.assert_allclose(a.astype(np.float32), e, atol=0.05, rtol=0.02)


def test_config_keeps_decay_patterns_and_round_trips():
    optimizer = AdamWeightDecay(
        learning_rate=ours_schedule(ADAM_WEIGHT_DECAY[-1].schedule),
        beta_1=0.8,
        epsilon=1e-6,
        amsgrad=True,
        weight_decay_rate=0.05,
        include_in_weight_decay=["LayerNorm/gamma"],
        exclude_from_weight_decay=["LayerNorm", "bias"],
        clipnorm=1.0,
    )
    config = optimizer.get_config()
    assert config["include_in_weight_decay"] == ["LayerNorm/gamma"]
    assert config["exclude_from_weight_decay"] == ["LayerNorm", "bias"]
    serialized = keras.optimizers.serialize(optimizer)
    json.dumps(serialized)
    restored = keras.optimizers.deserialize(json.loads(json.dumps(serialized)))
    assert type(restored) is AdamWeightDecay
    assert restored.get_config() == config
    assert isinstance(restored.learning_rate, tf.Tensor)
    assert float(restored._learning_rate(7)) == float(optimizer._learning_rate(7))


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


@pytest.mark.parametrize("row", invalid("AdamWeightDecay"), ids=str)
def test_invalid_arguments(row):
    with pytest.raises(row.error, match=row.match):
        AdamWeightDecay(**{**VALID[row.target], **row.kwargs})
