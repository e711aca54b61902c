"""``WarmUp``: transformers' numbers, graph mode, serialization, argument checks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cases.tf_optimizers import VALID, WARMUPS, invalid

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from stepsize.tf import WarmUp  # noqa: E402

DECAY_STEPS = 10


def make(params):
    lr = params["initial_learning_rate"]
    decay = keras.optimizers.schedules.PolynomialDecay(lr, DECAY_STEPS, lr / 10)
    return WarmUp(decay_schedule_fn=decay, **params)


@pytest.mark.parametrize("params", WARMUPS, ids=str)
def test_matches_transformers_and_formula(params, hf):
    import tf_keras

    lr, warmup, power = params["initial_learning_rate"], params["warmup_steps"], params["power"]
    decay = tf_keras.optimizers.schedules.PolynomialDecay(lr, DECAY_STEPS, lr / 10)
    reference = hf.WarmUp(decay_schedule_fn=decay, **params)
    schedule = make(params)
    steps = range(warmup + DECAY_STEPS + 3)
    actual = [float(schedule(t)) for t in steps]
    np.testing.assert_allclose(actual, [float(reference(t)) for t in steps], rtol=1e-6, atol=1e-12)
    ramp = [lr * (t / warmup) ** power for t in range(warmup)]
    np.testing.assert_allclose(actual[:warmup], ramp, rtol=1e-7, atol=0)
    assert schedule(0).dtype == tf.float32


def test_in_graph_with_the_optimizer_step_variable():
    schedule = make(WARMUPS[1])
    step = tf.Variable(0, dtype=tf.int64)
    evaluate = tf.function(lambda: schedule(step))
    values = []
    for t in range(12):
        step.assign(t)
        values.append(float(evaluate()))
    assert values == [float(schedule(t)) for t in range(12)]
    assert evaluate.experimental_get_tracing_count() == 1


def test_zero_warmup_steps_is_the_decay():
    decay = keras.optimizers.schedules.PolynomialDecay(1.0, DECAY_STEPS, 0.1)
    schedule = WarmUp(1.0, decay, warmup_steps=0)
    assert [float(schedule(t)) for t in range(12)] == [float(decay(t)) for t in range(12)]


def test_serializes_the_inner_schedule():
    schedule = make(WARMUPS[2])
    config = schedule.get_config()
    assert config["decay_schedule_fn"]["class_name"] == "PolynomialDecay"
    serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(schedule)))
    restored = keras.saving.deserialize_keras_object(serialized)
    assert type(restored) is WarmUp
    assert restored.get_config() == config
    assert [float(restored(t)) for t in range(15)] == [float(schedule(t)) for t in range(15)]


@pytest.mark.parametrize("row", invalid("WarmUp"), ids=str)
def test_invalid_arguments(row):
    with pytest.raises(row.error, match=row.match):
        WarmUp(**{**VALID[row.target], **row.kwargs})
