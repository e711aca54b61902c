"""tf.distribute: a MirroredStrategy training loop equals the single-device run.

Two replicas (the two logical CPUs that tests/tf/conftest.py configures before TensorFlow
starts) each see half of every micro-batch. Each replica sums its gradients with
``GradientAccumulator``; ``apply_gradients`` all-reduces them; ``create_optimizer`` builds
``AdamWeightDecay`` with a warmup and a decay. The result must equal one device training on
the whole batches (SPEC §5.1 float32 tolerance), for ``model.fit`` as well.
"""

from __future__ import annotations

import numpy as np
import pytest

from cases.tf_optimizers import TOLERANCE

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
stepsize_tf = pytest.importorskip("stepsize.tf")

REPLICAS = 2
MICRO_BATCH = 8  # global: each replica gets MICRO_BATCH // REPLICAS examples
ACCUMULATION = 2
UPDATES = 30
LR = 1e-2


def _data(batches: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batches * MICRO_BATCH, 5)).astype(np.float32)
    y = rng.integers(0, 3, batches * MICRO_BATCH).astype(np.int64)
    return x, y


def _model() -> keras.Model:
    # Fixed initial weights, so both runs start from the same point.
    rng = np.random.default_rng(1)
    inputs = keras.Input((5,))
    hidden = keras.layers.Dense(6, activation="tanh")(inputs)
    hidden = keras.layers.LayerNormalization()(hidden)
    model = keras.Model(inputs, keras.layers.Dense(3)(hidden))
    model.set_weights([rng.standard_normal(w.shape).astype(np.float32) for w in model.weights])
    return model


def _create_optimizer():
    optimizer, _ = stepsize_tf.create_optimizer(
        LR, num_train_steps=UPDATES, num_warmup_steps=5, weight_decay_rate=0.1
    )
    return optimizer


_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="none")


def _train_loop(strategy) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """``UPDATES`` updates of ``ACCUMULATION`` micro-batches; returns weights, optimizer
    variables and, for the first update, the accumulated gradient of each replica."""
    x, y = _data(UPDATES * ACCUMULATION)
    with strategy.scope():
        model = _model()
        optimizer = _create_optimizer()
        accumulator = stepsize_tf.GradientAccumulator()
        variables = model.trainable_variables
        optimizer.build(variables)

    def replica_batch(i: int):
        def slice_for(context):
            size = MICRO_BATCH // strategy.num_replicas_in_sync
            start = i * MICRO_BATCH + context.replica_id_in_sync_group * size
            return x[start : start + size], y[start : start + size]

        return strategy.experimental_distribute_values_from_function(slice_for)

    @tf.function
    def accumulate(batch):
        def step(xs, ys):
            with tf.GradientTape() as tape:
                # The mean over the global micro-batch: replicas' gradients add up to it.
                loss = tf.nn.compute_average_loss(_loss(ys, model(xs)), MICRO_BATCH)
            accumulator(tape.gradient(loss, variables))

        strategy.run(step, args=batch)

    @tf.function
    def apply():
        def step():
            gradients = [g / ACCUMULATION for g in accumulator.gradients]
            optimizer.apply_gradients(zip(gradients, variables, strict=True))
            accumulator.reset()

        strategy.run(step)

    first_gradients: list[np.ndarray] = []
    for update in range(UPDATES):
        for micro in range(ACCUMULATION):
            accumulate(replica_batch(update * ACCUMULATION + micro))
        if update == 0:
            steps = strategy.experimental_local_results(strategy.run(lambda: accumulator.step))
            assert [int(s) for s in steps] == [ACCUMULATION] * strategy.num_replicas_in_sync
            per_replica = strategy.run(lambda: accumulator.gradients[0])
            first_gradients = [
                np.asarray(g) for g in strategy.experimental_local_results(per_replica)
            ]
        apply()
    assert int(optimizer.iterations.numpy()) == UPDATES
    return (
        [w.numpy() for w in model.weights],
        [v.numpy() for v in optimizer.variables],
        first_gradients,
    )


def test_mirrored_accumulation_loop_equals_single_device(mirrored_strategy):
    mirrored = mirrored_strategy
    assert mirrored.num_replicas_in_sync == REPLICAS
    weights, states, per_replica = _train_loop(mirrored)
    single_weights, single_states, single = _train_loop(tf.distribute.OneDeviceStrategy("/cpu:0"))

    # Each replica accumulated only its own half, unsynchronized; together they make the
    # single device's gradient.
    assert len(per_replica) == REPLICAS
    assert not np.allclose(per_replica[0], per_replica[1])
    np.testing.assert_allclose(sum(per_replica), single[0], **TOLERANCE)
    # The run moved the weights, and both runs agree on the weights and the Adam state.
    initial = [w.numpy() for w in _model().weights]
    assert max(np.abs(w - w0).max() for w, w0 in zip(weights, initial, strict=True)) > 1e-2
    pairs = zip(weights + states, single_weights + single_states, strict=True)
    for got, expected in pairs:
        np.testing.assert_allclose(got, expected, **TOLERANCE)


def _fit(strategy) -> list[np.ndarray]:
    x, y = _data(UPDATES)
    with strategy.scope():
        model = _model()
        model.compile(optimizer=_create_optimizer(), loss=_loss_mean())
    model.fit(x, y, batch_size=MICRO_BATCH, epochs=1, shuffle=False, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == UPDATES
    return [w.numpy() for w in model.weights + model.optimizer.variables]


def _loss_mean():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def test_mirrored_fit_equals_single_device(mirrored_strategy):
    mirrored = _fit(mirrored_strategy)
    single = _fit(tf.distribute.OneDeviceStrategy("/cpu:0"))
    for got, expected in zip(mirrored, single, strict=True):
        np.testing.assert_allclose(got, expected, **TOLERANCE)
