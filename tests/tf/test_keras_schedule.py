"""``KerasSchedule``: every core schedule evaluated on TF tensors equals its own values.

A model compiled with ``AdamWeightDecay(KerasSchedule(...))`` fits, saves, loads and resumes in
the Keras optimizer contract (test_optimizer_contract.py, the AdamWeightDecay row's training).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from cases.schedules import EXAMPLES
from cases.tf_optimizers import ErrorInput
from stepsize import schedules

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from stepsize.tf import AdamWeightDecay, KerasSchedule  # noqa: E402

STEPS = np.arange(40)
LEARNING_RATE = 2.5
VALID = {"schedule": schedules.get("constant"), "learning_rate": 1e-3}
ERROR_INPUTS = [
    ErrorInput({"learning_rate": -1e-3}, ValueError, "learning_rate"),
    ErrorInput({"learning_rate": math.inf}, ValueError, "learning_rate"),
    ErrorInput({"learning_rate": "1e-3"}, TypeError, "learning_rate"),
    ErrorInput({"dtype": "int32"}, ValueError, "dtype"),
    ErrorInput({"dtype": None}, TypeError, "dtype"),
    ErrorInput({"schedule": "linear"}, TypeError, "schedule"),
]


def test_examples_cover_every_registered_schedule():
    assert set(schedules.names()) <= {s.name for s in EXAMPLES}


@pytest.mark.parametrize("schedule", EXAMPLES, ids=repr)
def test_equals_core_values_in_graph_and_xla(schedule):
    expected = LEARNING_RATE * schedule.values(STEPS)
    adapter = KerasSchedule(schedule, LEARNING_RATE, dtype="float64")
    steps = tf.constant(STEPS, tf.int64)
    for jit_compile in (False, True):
        actual = tf.function(adapter, jit_compile=jit_compile)(steps)
        assert actual.dtype == tf.float64
        np.testing.assert_allclose(actual.numpy(), expected, rtol=1e-12, atol=1e-12)
    single = KerasSchedule(schedule, LEARNING_RATE)(tf.constant(7, tf.int64))
    assert single.dtype == tf.float32
    assert float(single) == pytest.approx(expected[7], rel=1e-7, abs=1e-12)


def test_drives_an_optimizer_step_by_step():
    schedule = schedules.get("cosine", num_warmup_steps=3, num_training_steps=10)
    optimizer = AdamWeightDecay(KerasSchedule(schedule, 1e-2))
    variable = keras.Variable([1.0, 2.0])
    seen = []
    for _ in range(12):
        seen.append(float(optimizer.learning_rate))
        optimizer.apply_gradients([(tf.constant([0.1, 0.1]), variable)])
    np.testing.assert_allclose(seen, 1e-2 * schedule.values(range(12)), rtol=1e-7, atol=1e-12)


def test_config_nests_the_core_config_and_round_trips():
    schedule = next(s for s in EXAMPLES if s.name == "with_warmup")
    adapter = KerasSchedule(schedule, 3e-4)
    config = adapter.get_config()
    assert config["schedule"] == schedule.get_config()
    serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(adapter)))
    restored = keras.saving.deserialize_keras_object(serialized)
    assert type(restored) is KerasSchedule
    assert restored.schedule == schedule
    assert restored.get_config() == config


@pytest.mark.parametrize("error_input", ERROR_INPUTS, ids=str)
def test_invalid_arguments(error_input, assert_rejects):
    assert_rejects(KerasSchedule, VALID, error_input)
