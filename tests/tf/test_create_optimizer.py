"""``create_optimizer``: SPEC §4's schedule values, §2.3's fix, parity with transformers, resume."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cases.tf_optimizers import (
    CREATE_OPTIMIZER,
    CREATE_OPTIMIZER_KNOWN,
    EXCLUDE,
    TOLERANCE,
    VALID,
    VARIABLES,
    invalid,
)

tf = pytest.importorskip("tensorflow")
# Keras' own NumPy 2 notice while fitting; not about this code.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
keras = pytest.importorskip("keras")

from stepsize.tf import AdamWeightDecay, WarmUp, create_optimizer  # noqa: E402


def test_known_values():
    kwargs, expected = CREATE_OPTIMIZER_KNOWN
    _, schedule = create_optimizer(**kwargs)
    actual = [float(schedule(t)) for t in range(len(expected))]
    np.testing.assert_allclose(actual, expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize(("train", "warmup"), [(0, 0), (4, 4), (3, 5)])
def test_no_decay_steps_left_holds_the_final_rate(train, warmup, hf):
    _, schedule = create_optimizer(1.0, train, warmup, min_lr_ratio=0.1)
    steps = range(warmup + 5)
    actual = [float(schedule(t)) for t in steps]
    expected = [t / warmup for t in range(warmup)] + [0.1] * 5
    np.testing.assert_allclose(actual, expected, atol=1e-6, rtol=0)
    _, reference_schedule = hf.create_optimizer(1.0, train, warmup, min_lr_ratio=0.1)
    reference = [float(reference_schedule(t)) for t in steps]
    if train == warmup:  # transformers divides 0 by 0 (SPEC §2.3)
        assert math.isnan(reference[warmup])
    else:
        np.testing.assert_allclose(actual, reference, atol=1e-6, rtol=0)


def test_optimizer_type_and_decay_rules():
    optimizer, schedule = create_optimizer(
        1e-3, 10, 2, weight_decay_rate=0.01, include_in_weight_decay=["LayerNorm/gamma"]
    )
    assert isinstance(optimizer, AdamWeightDecay)
    assert isinstance(schedule, WarmUp)
    config = optimizer.get_config()
    assert config["exclude_from_weight_decay"] == EXCLUDE
    assert config["include_in_weight_decay"] == ["LayerNorm/gamma"]
    assert optimizer._learning_rate is schedule
    adam, decay_only = create_optimizer(1e-3, 10, 0, adam_clipnorm=0.5)
    assert type(adam) is keras.optimizers.Adam
    assert isinstance(decay_only, keras.optimizers.schedules.PolynomialDecay)
    assert adam.clipnorm == 0.5


@pytest.mark.parametrize("case", CREATE_OPTIMIZER, ids=str)
def test_matches_transformers(
    case, hf, initial_values, gradient_sequence, make_keras_variables, make_tf_variables
):
    optimizer, schedule = create_optimizer(**case.kwargs)
    reference, reference_schedule = hf.create_optimizer(**case.kwargs)
    steps = range(2 * case.kwargs["num_train_steps"] + 3)
    np.testing.assert_allclose(
        [float(schedule(t)) for t in steps],
        [float(reference_schedule(t)) for t in steps],
        rtol=1e-6,
        atol=1e-12,
    )
    assert isinstance(optimizer, AdamWeightDecay) == isinstance(reference, hf.AdamWeightDecay)

    variables = make_keras_variables(initial_values)
    reference_variables = make_tf_variables(initial_values)

    @tf.function
    def step(gradients):
        optimizer.apply_gradients(zip(gradients, variables, strict=True))

    for gradients in gradient_sequence:
        step([tf.constant(g, tf.float32) for g in gradients])
        reference.apply_gradients(
            zip([tf.constant(g, tf.float32) for g in gradients], reference_variables, strict=True)
        )
    for (path, _), actual, expected in zip(VARIABLES, variables, reference_variables, strict=True):
        np.testing.assert_allclose(actual.numpy(), expected.numpy(), **TOLERANCE, err_msg=path)


def test_fit_reduces_loss_and_resumes_identically(train_save_resume, same_training_state):
    def make():
        return create_optimizer(5e-2, 16, 3, min_lr_ratio=0.1, weight_decay_rate=0.1)[0]

    uninterrupted, resumed, losses = train_save_resume(make)
    assert losses[-1] < 0.5 * losses[0]
    assert isinstance(resumed.optimizer, AdamWeightDecay)
    assert isinstance(resumed.optimizer._learning_rate, WarmUp)
    assert resumed.optimizer._decayed == [True, False, False, False, True, False]
    same_training_state(uninterrupted, resumed)


@pytest.mark.parametrize("row", invalid("create_optimizer"), ids=str)
def test_invalid_arguments(row):
    with pytest.raises(row.error, match=row.match):
        create_optimizer(**{**VALID[row.target], **row.kwargs})
