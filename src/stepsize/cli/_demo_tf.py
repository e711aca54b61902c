"""The Keras demo: the demo's small transformer encoder, trained three ways on the digits.

1. ``stepsize.tf.create_optimizer`` (AdamWeightDecay + WarmUp, linear decay) with
   ``model.fit``,
2. ``stepsize.tf.AdamWeightDecay`` with a cosine warmup schedule (``stepsize.schedules``
   through ``stepsize.tf.KerasSchedule``) in a custom ``tf.function`` loop that sums two
   micro-batches per update with ``stepsize.tf.GradientAccumulator``,
3. Keras' ``AdamW`` with the schedule of 1. and ``model.fit``, as the baseline,

each from the same initial weights, with global-norm clipping at 1 and no weight decay on
biases and normalization parameters.
"""

from __future__ import annotations

import math
import os
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

from stepsize.cli._demo_data import Digits, Hyperparameters, batches
from stepsize.cli._demo_report import Run

__all__ = ["HYPERPARAMETERS", "RUNS", "build_model", "train", "train_all"]


class _Hyperparameters(Hyperparameters):
    global_clipnorm: float  # the optimizers' ``global_clipnorm``


HYPERPARAMETERS: _Hyperparameters = {
    "micro_batch": 32,
    "accumulation_steps": 2,
    "lr": 5e-3,
    "weight_decay": 0.01,
    "warmup_fraction": 0.1,
    "global_clipnorm": 1.0,
    "d_model": 32,
    "heads": 4,
    "layers": 2,
}

# name -> (label, optimizer, schedule (the stepsize.schedules name it equals), training)
RUNS = {
    "create-optimizer-fit": (
        "create_optimizer + model.fit",
        "stepsize.tf.create_optimizer: AdamWeightDecay, WarmUp + PolynomialDecay(power=1)",
        "linear",
        "model.fit, batch 64",
    ),
    "adamweightdecay-accumulator": (
        "AdamWeightDecay + GradientAccumulator",
        "stepsize.tf.AdamWeightDecay, stepsize.tf.KerasSchedule(cosine)",
        "cosine",
        "custom loop, 2 x 32 summed by stepsize.tf.GradientAccumulator",
    ),
    "keras-adamw-fit": (
        "keras AdamW + model.fit",
        "keras.optimizers.AdamW, the WarmUp schedule of create_optimizer",
        "linear",
        "model.fit, batch 64",
    ),
}


class _AddPosition(keras.layers.Layer):
    """Adds a learned embedding of the token position."""

    def build(self, input_shape: Any) -> None:
        self.position = self.add_weight(
            shape=tuple(input_shape[1:]), initializer="zeros", name="position"
        )

    def call(self, inputs: Any) -> Any:
        return inputs + self.position


def build_model(d_model: int = 32, heads: int = 4, layers: int = 2) -> keras.Model:
    """The Keras twin of the PyTorch demo's encoder: pre-norm blocks over 8 row tokens.

    Example:
        >>> build_model()(np.zeros((5, 8, 8), "float32")).shape
        TensorShape([5, 10])
    """
    inputs = keras.Input((8, 8))
    x = _AddPosition(name="position_embedding")(keras.layers.Dense(d_model)(inputs))
    for _ in range(layers):
        h = keras.layers.LayerNormalization(epsilon=1e-5)(x)
        h = keras.layers.MultiHeadAttention(heads, d_model // heads)(h, h)
        x = keras.layers.Add()([x, h])
        h = keras.layers.LayerNormalization(epsilon=1e-5)(x)
        h = keras.layers.Dense(2 * d_model, activation="relu")(h)
        x = keras.layers.Add()([x, keras.layers.Dense(d_model)(h)])
    x = keras.layers.GlobalAveragePooling1D()(x)
    x = keras.layers.LayerNormalization(epsilon=1e-5)(x)
    return keras.Model(inputs, keras.layers.Dense(10)(x))


def _optimizer(name: str, updates: int, warmup: int) -> Any:
    from stepsize import schedules
    from stepsize.tf import AdamWeightDecay, KerasSchedule, create_optimizer

    hp = HYPERPARAMETERS
    optimizer, schedule = create_optimizer(
        hp["lr"],
        num_train_steps=updates,
        num_warmup_steps=warmup,
        weight_decay_rate=hp["weight_decay"],
        adam_global_clipnorm=hp["global_clipnorm"],
    )
    if name == "adamweightdecay-accumulator":
        cosine = schedules.get("cosine", num_warmup_steps=warmup, num_training_steps=updates)
        return AdamWeightDecay(
            learning_rate=KerasSchedule(cosine, hp["lr"]),
            epsilon=1e-8,
            weight_decay_rate=hp["weight_decay"],
            exclude_from_weight_decay=["LayerNorm", "layer_norm", "bias"],
            global_clipnorm=hp["global_clipnorm"],
        )
    if name == "keras-adamw-fit":
        optimizer = keras.optimizers.AdamW(
            learning_rate=schedule,
            weight_decay=hp["weight_decay"],
            epsilon=1e-8,
            global_clipnorm=hp["global_clipnorm"],
        )
        # Keras matches these against the variable's name: biases, LayerNorm gamma/beta.
        optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return optimizer


_LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _evaluate(model: keras.Model, data: Digits) -> tuple[float, float]:
    logits = model(data.x_test, training=False)
    accuracy = np.mean(np.argmax(logits, axis=1) == data.y_test)
    return float(accuracy), float(_LOSS(data.y_test, logits))


class _FitRecorder(keras.callbacks.Callback):
    """Feeds ``model.fit``'s per-batch logs and a held-out evaluation per epoch into a ``Run``."""

    def __init__(self, run: Run, data: Digits, batch_size: int) -> None:
        super().__init__()
        self.run, self.data, self.batch_size = run, data, batch_size
        self.n = len(data.y_train)
        self._lr = math.nan
        self._total = 0.0

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self._total = 0.0

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        self._lr = float(self.model.optimizer.learning_rate)  # schedule(iterations)

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        # Keras logs the epoch's running mean weighted by batch size: recover this batch's loss.
        seen = min(self.n, (batch + 1) * self.batch_size)
        size = seen - batch * self.batch_size
        total = float(logs["loss"]) * seen
        self.run.update(lr=self._lr, loss=(total - self._total) / size)
        self._total = total

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.run.end_epoch(*_evaluate(self.model, self.data))


def _fit(model: keras.Model, optimizer: Any, data: Digits, epochs: int, run: Run) -> None:
    batch_size = HYPERPARAMETERS["micro_batch"] * HYPERPARAMETERS["accumulation_steps"]
    # No compiled metrics or validation: the callback evaluates every run the same way.
    model.compile(optimizer=optimizer, loss=_LOSS)
    model.fit(
        data.x_train,
        data.y_train,
        batch_size=batch_size,
        epochs=epochs,
        callbacks=[_FitRecorder(run, data, batch_size)],
        verbose=0,
    )


def _accumulate(
    model: keras.Model, optimizer: Any, data: Digits, epochs: int, seed: int, run: Run
) -> None:
    from stepsize.tf import GradientAccumulator

    hp = HYPERPARAMETERS
    accumulator = GradientAccumulator()
    variables = model.trainable_variables
    optimizer.build(variables)
    spec = [tf.TensorSpec([None, 8, 8], tf.float32), tf.TensorSpec([None], tf.int64)]

    @tf.function(input_signature=spec)
    def micro_step(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = _LOSS(y, model(x, training=True))
        accumulator(tape.gradient(loss, variables))
        return loss

    @tf.function
    def apply() -> None:
        # The mean over the window's micro-batches (the last window may be shorter).
        count = tf.cast(accumulator.step, tf.float32)
        gradients = [g / count for g in accumulator.gradients]
        optimizer.apply_gradients(zip(gradients, variables, strict=True))
        accumulator.reset()

    rng = np.random.default_rng(seed)
    n = len(data.y_train)
    for _ in range(epochs):
        window: list[float] = []
        indices = batches(n, hp["micro_batch"], rng)
        for i, index in enumerate(indices):
            window.append(float(micro_step(data.x_train[index], data.y_train[index])))
            if len(window) == hp["accumulation_steps"] or i == len(indices) - 1:
                lr = float(optimizer.learning_rate)
                apply()
                run.update(lr=lr, loss=sum(window) / len(window))
                window = []
        run.end_epoch(*_evaluate(model, data))


def train(name: str, data: Digits, *, epochs: int, seed: int, progress: bool) -> Run:
    """Trains a fresh model with run ``name`` (a key of ``RUNS``).

    Returns:
        The finished ``Run``: lr and loss per update, held-out accuracy per epoch, timings.
    """
    hp = HYPERPARAMETERS
    label, optimizer_name, schedule, how = RUNS[name]
    micro_batches = math.ceil(len(data.y_train) / hp["micro_batch"])
    updates = epochs * math.ceil(micro_batches / hp["accumulation_steps"])
    warmup = int(hp["warmup_fraction"] * updates)
    keras.utils.set_random_seed(seed)  # the same initial weights for every run
    model = build_model(hp["d_model"], hp["heads"], hp["layers"])
    optimizer = _optimizer(name, updates, warmup)
    details = {
        "optimizer": optimizer_name,
        "training": how,
        "schedule": schedule,
        "num_warmup_steps": warmup,
        "num_training_steps": updates,
        "hyperparameters": hp,
    }
    run = Run(
        name,
        label,
        steps=updates,
        progress=progress,
        details=details,
        baseline=name == "keras-adamw-fit",
    )
    if name == "adamweightdecay-accumulator":
        _accumulate(model, optimizer, data, epochs, seed, run)
    else:
        _fit(model, optimizer, data, epochs, run)
    return run.close()


def train_all(data: Digits, *, epochs: int, seed: int, progress: bool) -> list[Run]:
    """Trains every run of ``RUNS`` in order."""
    return [train(name, data, epochs=epochs, seed=seed, progress=progress) for name in RUNS]
