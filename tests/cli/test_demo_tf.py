"""The Keras demo's pieces: the model, the optimizers' decay rules, the fit recorder.

Whole training runs are tested through the command in test_demo.py.
"""

from __future__ import annotations

import types

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("sklearn")
pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from stepsize.cli import _demo_tf  # noqa: E402
from stepsize.cli._demo_data import Digits  # noqa: E402
from stepsize.cli._demo_report import Run  # noqa: E402


def test_model_maps_row_tokens_to_class_logits():
    model = _demo_tf.build_model(d_model=16, heads=2, layers=1)
    assert tuple(model(np.zeros((3, 8, 8), "float32")).shape) == (3, 10)


def test_both_optimizers_skip_decay_on_biases_and_norms():
    model = _demo_tf.build_model()
    decayed = {}
    for name in _demo_tf.RUNS:
        optimizer = _demo_tf._optimizer(name, updates=100, warmup=10)
        optimizer.build(model.trainable_variables)
        decayed[name] = sorted(
            v.path for v in model.trainable_variables if _uses_decay(optimizer, v)
        )
    # The same variables decay in both: kernels and the position table, as in the PyTorch
    # demo; biases (2-d ones in attention too) and LayerNorm scales and offsets do not.
    paths = [v.path for v in model.trainable_variables]
    weights = sorted(p for p in paths if not p.endswith(("bias", "gamma", "beta")))
    assert list(decayed.values()) == [weights] * 3
    assert "position_embedding/position" in weights and len(weights) < len(paths)


def _uses_decay(optimizer, variable) -> bool:
    if isinstance(optimizer, keras.optimizers.AdamW):
        return optimizer._use_weight_decay(variable)
    return optimizer._do_use_weight_decay(variable.path)  # transformers' name for the rule


def test_fit_recorder_recovers_each_batch_loss_from_keras_running_mean():
    # 5 examples in batches of 2: sizes 2, 2, 1; Keras logs the size-weighted running mean.
    losses, sizes = [3.0, 1.0, 0.5], [2, 2, 1]
    data = Digits(
        np.zeros((5, 8, 8), "float32"), np.zeros(5, "int64"), np.zeros((1, 8, 8)), np.zeros(1)
    )
    run = Run("r", "R", steps=3, progress=False)
    recorder = _demo_tf._FitRecorder(run, data, batch_size=2)
    recorder.set_model(types.SimpleNamespace(optimizer=types.SimpleNamespace(learning_rate=0.25)))
    recorder.on_epoch_begin(0)
    seen, total = 0, 0.0
    for batch, (loss, size) in enumerate(zip(losses, sizes, strict=True)):
        seen, total = seen + size, total + loss * size
        recorder.on_train_batch_begin(batch)
        recorder.on_train_batch_end(batch, {"loss": total / seen})
    assert run.losses == pytest.approx(losses)
    assert run.lrs == [0.25] * 3
