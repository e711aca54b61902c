"""TensorFlow set-up shared by the ``stepsize.tf`` tests.

Before TensorFlow initializes its devices, the one physical CPU is split into two logical
devices so that ``tf.distribute.MirroredStrategy`` has two replicas; every other test keeps
running on the default device ``/CPU:0``. Logs are kept quiet.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re

import numpy as np
import pytest

from cases.tf_optimizers import GRADIENT_SCALE, SEED, STEPS, VARIABLES
from stepsize._validation import describe

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

try:
    import tensorflow as tf
except ImportError:  # the tests import-skip themselves
    tf = None
else:
    tf.get_logger().setLevel(logging.ERROR)
    _cpus = tf.config.list_physical_devices("CPU")
    with contextlib.suppress(RuntimeError):  # devices already initialized by another import
        tf.config.set_logical_device_configuration(
            _cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2
        )


@pytest.fixture(scope="session")
def mirrored_strategy():
    """One ``MirroredStrategy`` over the two logical CPUs, shared by every test.

    Each strategy numbers its collective ops from the same start, and TensorFlow keeps them
    per process: a second strategy's all-reduce can meet the first one's instance and fail
    with a shape mismatch. Sharing one strategy avoids that.
    """
    cpus = tf.config.list_logical_devices("CPU")
    assert len(cpus) >= 2, (
        f"MirroredStrategy needs 2 logical CPUs, found {len(cpus)}: this conftest must split "
        "the CPU before TensorFlow initializes its devices"
    )
    return tf.distribute.MirroredStrategy([cpu.name for cpu in cpus[:2]])


@pytest.fixture(scope="session")
def hf():
    """transformers 4.46.3's ``optimization_tf`` (the reference, on tf-keras)."""
    return pytest.importorskip("transformers.optimization_tf")


@pytest.fixture(scope="session")
def initial_values() -> list[np.ndarray]:
    """Starting values of ``VARIABLES`` (float64; cast per test)."""
    rng = np.random.default_rng(SEED)
    return [rng.standard_normal(shape) for _, shape in VARIABLES]


@pytest.fixture(scope="session")
def gradient_sequence() -> list[list[np.ndarray]]:
    """``STEPS`` gradients for each of ``VARIABLES`` (float64; cast per test)."""
    rng = np.random.default_rng(SEED + 1)
    return [
        [rng.standard_normal(shape) * GRADIENT_SCALE for _, shape in VARIABLES]
        for _ in range(STEPS)
    ]


def _keras_variable(path: str, value, dtype: str = "float32"):
    """A ``keras.Variable`` whose ``path`` is ``path`` (name scopes for all but the last part)."""
    import keras

    *scopes, name = path.split("/")
    with contextlib.ExitStack() as stack:
        for scope in scopes:
            stack.enter_context(keras.name_scope(scope))
        return keras.Variable(np.asarray(value, dtype=dtype), name=name)


@pytest.fixture(scope="session")
def keras_variable():
    """Builds one ``keras.Variable`` with a given path: ``keras_variable(path, value, dtype)``."""
    return _keras_variable


@pytest.fixture(scope="session")
def make_keras_variables():
    """Builds Keras 3 variables with the paths of ``VARIABLES``."""

    def make(values, dtype: str = "float32"):
        return [
            _keras_variable(path, v, dtype) for (path, _), v in zip(VARIABLES, values, strict=True)
        ]

    return make


@pytest.fixture(scope="session")
def make_tf_variables():
    """Builds plain ``tf.Variable`` s named like ``VARIABLES`` (``name`` = path + ":0")."""

    def make(values, dtype: str = "float32"):
        return [
            tf.Variable(np.asarray(v, dtype=dtype), name=path)
            for (path, _), v in zip(VARIABLES, values, strict=True)
        ]

    return make


@pytest.fixture(scope="session")
def run_steps():
    """``run_steps(optimizer, variables, gradient_sequence, dtype, mode)``: the values after.

    Applies each step's gradients; ``mode`` is "eager", "graph" (in a ``tf.function``) or
    "xla" (in one compiled by XLA, as `model.fit` compiles its step by default).
    """

    def run(optimizer, variables, gradient_sequence, dtype="float32", mode="eager"):
        def step(gradients):
            optimizer.apply_gradients(zip(gradients, variables, strict=True))

        if mode != "eager":
            step = tf.function(step, jit_compile=mode == "xla")
        for gradients in gradient_sequence:
            step([tf.constant(g, dtype) for g in gradients])
        return [v.numpy() for v in variables]

    return run


@pytest.fixture(scope="session")
def assert_rejects():
    """``assert_rejects(call, valid, error_input)``: ``call(**valid, **error_input.kwargs)``
    raises ``error_input.error`` with a message naming the argument, then each bad value."""

    def check(call, valid, error_input) -> None:
        with pytest.raises(error_input.error) as raised:
            call(**{**valid, **error_input.kwargs})
        for value in error_input.shows or error_input.kwargs.values():
            pattern = f"{re.escape(error_input.argument)}.*{re.escape(describe(value))}"
            assert re.search(pattern, str(raised.value)), str(raised.value)

    return check


def _classifier(optimizer=None):
    """A 5-6-3 classifier with fixed initial weights (the same under any strategy), compiled
    with ``optimizer`` if one is given."""
    import keras

    rng = np.random.default_rng(1)
    inputs = keras.Input((5,))
    hidden = keras.layers.Dense(6, activation="tanh", name="dense")(inputs)
    hidden = keras.layers.LayerNormalization(name="layer_norm")(hidden)
    model = keras.Model(inputs, keras.layers.Dense(3, name="head")(hidden))
    model.set_weights([rng.standard_normal(w.shape).astype(np.float32) for w in model.weights])
    if optimizer is not None:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        model.compile(optimizer=optimizer, loss=loss)
    return model


def _classification_data(examples: int) -> tuple[np.ndarray, np.ndarray]:
    """``examples`` inputs and their classes (a linear rule the model can learn)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((examples, 5)).astype(np.float32)
    return x, np.argmax(x @ rng.standard_normal((5, 3)), axis=1).astype(np.int64)


@pytest.fixture(scope="session")
def classifier():
    """``(model(optimizer=None), data(examples))``: a small classifier and its data."""
    return _classifier, _classification_data


@pytest.fixture(scope="session")
def train_save_resume(tmp_path_factory):
    """Fits a small model, saves it to ``.keras`` halfway, loads it and fits on.

    ``check(optimizer)`` returns ``(uninterrupted, resumed, losses)``: the model
    fit for 2 + 2 epochs and saved after the first 2, the saved one loaded with
    ``keras.models.load_model`` (no custom objects) and fit for the last 2, and the
    uninterrupted run's per-epoch losses.
    """
    import keras

    x, y = _classification_data(64)
    fit = {"batch_size": 16, "epochs": 2, "shuffle": False, "verbose": 0}

    def check(optimizer):
        uninterrupted = _classifier(optimizer)
        losses = uninterrupted.fit(x, y, **fit).history["loss"]
        path = tmp_path_factory.mktemp("model") / "model.keras"
        uninterrupted.save(path)
        losses += uninterrupted.fit(x, y, **fit).history["loss"]
        resumed = keras.models.load_model(path)
        resumed.fit(x, y, **fit)
        return uninterrupted, resumed, losses

    return check


def assert_same_training_state(uninterrupted, resumed) -> None:
    """Model weights and optimizer variables are bit-identical."""
    assert type(resumed.optimizer) is type(uninterrupted.optimizer)
    assert resumed.optimizer.get_config() == uninterrupted.optimizer.get_config()
    pairs = list(zip(uninterrupted.weights, resumed.weights, strict=True))
    pairs += list(zip(uninterrupted.optimizer.variables, resumed.optimizer.variables, strict=True))
    for expected, actual in pairs:
        np.testing.assert_array_equal(actual.numpy(), expected.numpy(), err_msg=expected.path)


@pytest.fixture(scope="session")
def same_training_state():
    """``same_training_state(uninterrupted, resumed)`` asserts bit-identical weights and state."""
    return assert_same_training_state
