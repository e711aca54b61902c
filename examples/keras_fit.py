"""Keras ``model.fit`` with ``create_optimizer``: train, save, load, resume.

    python examples/keras_fit.py

The migration from transformers is the import line: ``create_optimizer`` returns the same
optimizer and schedule, now on Keras 3. The model is saved halfway with its optimizer state
and loaded back without ``custom_objects`` (stepsize's optimizer and schedule are registered
Keras serializables); the loaded model finishes training with exactly the weights of a run
that never stopped.
"""

import math
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

from stepsize.tf import create_optimizer

EPOCHS = 4
SAVED_AFTER = 2  # epochs
BATCH_SIZE = 32


def make_data(rows: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """A 4-class problem: which quadrant the first two of 16 features fall in."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, 16)).astype("float32")
    y = (x[:, 0] > 0).astype("int64") * 2 + (x[:, 1] > 0).astype("int64")
    return x, y


def make_model(num_train_steps: int) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((16,)),
            keras.layers.Dense(64, activation="gelu"),
            keras.layers.LayerNormalization(),
            keras.layers.Dense(4),
        ]
    )
    optimizer, _ = create_optimizer(
        init_lr=3e-3,
        num_train_steps=num_train_steps,
        num_warmup_steps=num_train_steps // 10,
        weight_decay_rate=0.01,  # AdamWeightDecay; LayerNorm and bias variables excluded
        adam_global_clipnorm=1.0,
    )
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


# --8<-- [start:main]
def main() -> None:
    x, y = make_data()
    # The schedule counts optimizer updates: batches per epoch times epochs.
    num_train_steps = EPOCHS * math.ceil(len(x) / BATCH_SIZE)
    # shuffle=False: the resumed run sees the batches the uninterrupted one sees.
    fit = dict(x=x, y=y, batch_size=BATCH_SIZE, shuffle=False, verbose=0)

    model = make_model(num_train_steps)
    model.fit(**fit, epochs=SAVED_AFTER)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        model.save(path)  # weights, optimizer slots, its step count and the schedule
        restored = keras.models.load_model(path)  # no custom_objects needed
    optimizer = restored.optimizer
    print(f"reloaded {type(optimizer).__name__} at update {int(optimizer.iterations)}")

    history = restored.fit(**fit, epochs=EPOCHS, initial_epoch=SAVED_AFTER)
    model.fit(**fit, epochs=EPOCHS, initial_epoch=SAVED_AFTER)  # the run that never stopped
    for resumed, uninterrupted in zip(restored.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(resumed, uninterrupted)
    lr = optimizer.learning_rate  # the schedule, evaluated at the current update
    print(f"final lr {float(lr):.2e} after {int(optimizer.iterations)} updates")
    print(f"training accuracy {history.history['accuracy'][-1]:.3f}; resumed == uninterrupted")


# --8<-- [end:main]


if __name__ == "__main__":
    main()
