"""``WarmUp``: transformers' numbers, graph mode, serialization, argument checks."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from cases.tf_optimizers import ErrorInput

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from stepsize.tf import WarmUp  # noqa: E402

DECAY_STEPS = 10
WARMUPS = [
    {"initial_learning_rate": 1e-3, "warmup_steps": 4, "power": 1.0},
    {"initial_learning_rate": 0.5, "warmup_steps": 7, "power": 2.0},
    {"initial_learning_rate": 2.0, "warmup_steps": 3, "power": 0.5},
    {"initial_learning_rate": 1.0, "warmup_steps": 1, "power": 1.0},
]
VALID = {"initial_learning_rate": 1.0, "decay_schedule_fn": abs, "warmup_steps": 2}
ERROR_INPUTS = [
    ErrorInput({"initial_learning_rate": -1.0}, ValueError, "initial_learning_rate"),
    ErrorInput({"initial_learning_rate": None}, TypeError, "initial_learning_rate"),
    ErrorInput({"warmup_steps": -1}, ValueError, "warmup_steps"),
    ErrorInput({"warmup_steps": 1.5}, TypeError, "warmup_steps"),
    ErrorInput({"power": 0}, ValueError, "power"),
    ErrorInput({"power": math.inf}, ValueError, "power"),
    ErrorInput({"decay_schedule_fn": 3}, TypeError, "decay_schedule_fn"),
    ErrorInput({"name": 3}, TypeError, "name"),
]


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


@pytest.mark.parametrize("error_input", ERROR_INPUTS, ids=str)
def test_invalid_arguments(error_input, assert_rejects):
    assert_rejects(WarmUp, VALID, error_input)
