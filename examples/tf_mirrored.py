"""Data-parallel Keras training with ``tf.distribute.MirroredStrategy``.

    python examples/tf_mirrored.py

Each replica computes gradients on its share of a micro-batch and sums them over several
micro-batches with ``GradientAccumulator`` (per replica, no communication); one
``apply_gradients`` per window all-reduces them and steps ``AdamWeightDecay`` from
``create_optimizer``. On a machine with one CPU and no GPU, the CPU is split into two logical
devices so the example still runs two replicas.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

from stepsize.tf import GradientAccumulator, create_optimizer

EPOCHS = 4
MICRO_BATCH = 32  # global: split across the replicas
ACCUMULATION_STEPS = 4  # micro-batches per optimizer update


def devices() -> list[str]:
    """The GPUs if there are several, else two logical CPUs (set up before TF starts)."""
    gpus = tf.config.list_physical_devices("GPU")
    if len(gpus) > 1:
        return [f"/gpu:{i}" for i in range(len(gpus))]
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    return [device.name for device in tf.config.list_logical_devices("CPU")]


def make_data(rows: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """A 4-class problem: which quadrant the first two of 16 features fall in."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, 16)).astype("float32")
    y = (x[:, 0] > 0).astype("int64") * 2 + (x[:, 1] > 0).astype("int64")
    return x, y


def main() -> None:
    strategy = tf.distribute.MirroredStrategy(devices())
    print(f"replicas: {strategy.num_replicas_in_sync}")
    x, y = make_data()
    updates_per_epoch = len(x) // (MICRO_BATCH * ACCUMULATION_STEPS)
    dataset = (
        tf.data.Dataset.from_tensor_slices((x, y))
        .shuffle(len(x), seed=0)
        .batch(MICRO_BATCH, drop_remainder=True)
    )
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="none")

    # --8<-- [start:training]
    with strategy.scope():  # variables created here are mirrored on every replica
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [keras.Input((16,)), keras.layers.Dense(64, activation="gelu"), keras.layers.Dense(4)]
        )
        optimizer, lr_schedule = create_optimizer(
            init_lr=1e-2,
            num_train_steps=EPOCHS * updates_per_epoch,
            num_warmup_steps=updates_per_epoch,
            weight_decay_rate=0.01,
        )
        accumulator = GradientAccumulator()
        optimizer.build(model.trainable_variables)

    @tf.function
    def accumulate(batch):
        def step(features, labels):
            with tf.GradientTape() as tape:
                # The mean over the global micro-batch, so the replicas' sums add up to it.
                per_example = loss_fn(labels, model(features, training=True))
                loss = tf.nn.compute_average_loss(per_example, global_batch_size=MICRO_BATCH)
            accumulator(tape.gradient(loss, model.trainable_variables))
            return loss

        per_replica = strategy.run(step, args=batch)
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    @tf.function
    def apply():
        def step():
            gradients = [g / ACCUMULATION_STEPS for g in accumulator.gradients]
            optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
            accumulator.reset()

        strategy.run(step)

    for epoch in range(EPOCHS):
        total, count = 0.0, 0
        for i, batch in enumerate(strategy.experimental_distribute_dataset(dataset)):
            total, count = total + float(accumulate(batch)), count + 1
            if (i + 1) % ACCUMULATION_STEPS == 0:
                apply()
        updates = int(optimizer.iterations.numpy())
        lr = float(lr_schedule(updates))
        print(f"epoch {epoch}: loss {total / count:.4f}  lr {lr:.2e}  updates {updates}")
    # --8<-- [end:training]

    logits = model(x, training=False)
    print(f"training accuracy {np.mean(np.argmax(logits, axis=1) == y):.3f}")


if __name__ == "__main__":
    main()
