"""``KerasSchedule``: every core schedule evaluated on TF tensors equals its own values."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cases.schedules import EXAMPLES
from cases.tf_optimizers import EXCLUDE, VALID, invalid
from stepsize import schedules

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

from stepsize.tf import AdamWeightDecay, KerasSchedule  # noqa: E402

STEPS = np.arange(40)
LEARNING_RATE = 2.5


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
    schedule = next(s for s in EXAMPLES if s.name == "warmup")
    adapter = KerasSchedule(schedule, 3e-4)
    config = adapter.get_config()
    assert config["schedule"] == schedule.get_config()
    serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(adapter)))
    restored = keras.saving.deserialize_keras_object(serialized)
    assert type(restored) is KerasSchedule
    assert restored.schedule == schedule
    assert restored.get_config() == config


def test_model_with_it_resumes_identically(train_save_resume, same_training_state):
    schedule = schedules.get("linear", num_warmup_steps=2, num_training_steps=16)

    def make():
        return AdamWeightDecay(
            KerasSchedule(schedule, 5e-2),
            amsgrad=True,
            weight_decay_rate=0.05,
            exclude_from_weight_decay=EXCLUDE,
        )

    uninterrupted, resumed, losses = train_save_resume(make)
    assert losses[-1] < losses[0]
    assert resumed.optimizer._learning_rate.schedule == schedule
    same_training_state(uninterrupted, resumed)


@pytest.mark.parametrize("row", invalid("KerasSchedule"), ids=str)
def test_invalid_arguments(row):
    with pytest.raises(row.error, match=row.match):
        KerasSchedule(**{**VALID[row.target], **row.kwargs})
