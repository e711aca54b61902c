"""Keras ``model.fit`` with ``create_optimizer``: AdamWeightDecay, linear warmup and decay.

    python examples/keras_fit.py

The migration from transformers is the import line: ``create_optimizer`` returns the same
optimizer and schedule, now on Keras 3. The model is saved and loaded back without
``custom_objects``: stepsize's optimizer and schedule are registered Keras serializables.
"""

import math
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

from stepsize.tf import create_optimizer

EPOCHS = 5
BATCH_SIZE = 32


def make_data(rows: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """A 4-class problem: which quadrant the first two of 16 features fall in."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, 16)).astype("float32")
    y = (x[:, 0] > 0).astype("int64") * 2 + (x[:, 1] > 0).astype("int64")
    return x, y


def main() -> None:
    keras.utils.set_random_seed(0)
    x, y = make_data()
    model = keras.Sequential(
        [
            keras.Input((16,)),
            keras.layers.Dense(64, activation="gelu"),
            keras.layers.LayerNormalization(),
            keras.layers.Dense(4),
        ]
    )
    # The schedule counts optimizer updates: batches per epoch times epochs.
    num_train_steps = EPOCHS * math.ceil(len(x) / BATCH_SIZE)
    optimizer, lr_schedule = create_optimizer(
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
    history = model.fit(x, y, batch_size=BATCH_SIZE, epochs=EPOCHS, validation_split=0.2, verbose=2)
    for step in (0, num_train_steps // 20, num_train_steps // 10, num_train_steps):
        print(f"lr at step {step:4d}: {float(lr_schedule(step)):.2e}")
    print(f"validation accuracy {history.history['val_accuracy'][-1]:.3f}")

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        model.save(path)
        restored = keras.models.load_model(path)  # no custom_objects needed
    print(f"reloaded optimizer: {type(restored.optimizer).__name__}")
    np.testing.assert_allclose(restored.predict(x[:8], verbose=0), model.predict(x[:8], verbose=0))


if __name__ == "__main__":
    main()
