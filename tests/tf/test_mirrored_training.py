"""tf.distribute: a MirroredStrategy accumulation loop equals the single-device run.

Two replicas (the two logical CPUs that tests/tf/conftest.py configures before TensorFlow
starts) each see half of every micro-batch. Each replica sums its gradients with
``GradientAccumulator``; ``apply_gradients`` all-reduces them; ``create_optimizer`` builds
``AdamWeightDecay`` with a warmup and a decay. The result must equal one device training on
the whole batches (tests/cases/closeness.py's float32 rule). ``model.fit`` under the strategy
is part of the Keras optimizer contract (test_optimizer_contract.py).
"""

from __future__ import annotations

import numpy as np
import pytest

from cases.closeness import assert_close

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
stepsize_tf = pytest.importorskip("stepsize.tf")

REPLICAS = 2
MICRO_BATCH = 8  # global: each replica gets MICRO_BATCH // REPLICAS examples
ACCUMULATION = 2
UPDATES = 30
LR = 1e-2

_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="none")


def _train_loop(strategy, classifier) -> tuple[list[np.ndarray], list[np.ndarray], list]:
    """``UPDATES`` updates of ``ACCUMULATION`` micro-batches; returns weights, optimizer
    variables and, for the first update, the accumulated gradient of each replica."""
    make_model, data = classifier
    x, y = data(UPDATES * ACCUMULATION * MICRO_BATCH)
    with strategy.scope():
        model = make_model()
        optimizer, _ = stepsize_tf.create_optimizer(
            LR, num_train_steps=UPDATES, num_warmup_steps=5, weight_decay_rate=0.1
        )
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


def test_mirrored_accumulation_loop_equals_single_device(mirrored_strategy, classifier):
    mirrored = mirrored_strategy
    assert mirrored.num_replicas_in_sync == REPLICAS
    weights, states, per_replica = _train_loop(mirrored, classifier)
    single_weights, single_states, single = _train_loop(
        tf.distribute.OneDeviceStrategy("/cpu:0"), classifier
    )

    # Each replica accumulated only its own half, unsynchronized; together they make the
    # single device's gradient.
    assert len(per_replica) == REPLICAS
    assert not np.allclose(per_replica[0], per_replica[1])
    assert_close(sum(per_replica), single[0], "float32", what="accumulated gradient")
    # The run moved the weights, and both runs agree on the weights and the Adam state.
    initial = [w.numpy() for w in classifier[0]().weights]
    assert max(np.abs(w - w0).max() for w, w0 in zip(weights, initial, strict=True)) > 1e-2
    assert_close(weights + states, single_weights + single_states, "float32")
