"""Speed of one TF optimizer step on SPEC §5's BERT-like workload (≈52M float32 parameters).

Compares ``stepsize.tf.AdamWeightDecay`` with transformers 4.46.3's ``AdamWeightDecay``
(on tf-keras), Keras 3 ``AdamW`` and Keras 3 ``Adam``, each stepping inside ``tf.function``.
The decaying optimizers use weight decay 0.01 with LayerNorm and bias variables excluded,
as ``create_optimizer`` sets them up. The contestants take turns step by step, so load from
other processes spreads over all of them; each reports the median of ``--steps`` timed steps
after ``--warmup`` untimed ones.

Usage: ``python benchmarks/tf_optimizers.py [--steps 8] [--warmup 2] [--layers 4]``
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HIDDEN = 768
INTERMEDIATE = 3072
VOCAB = 30522
POSITIONS = 512
TYPES = 2
WEIGHT_DECAY = 0.01
EXCLUDE = ["LayerNorm", "layer_norm", "bias"]


def bert_layout(layers: int = 4) -> list[tuple[str, tuple[int, ...]]]:
    """(path, shape) of a BERT-like encoder as transformers' TF BERT names its weights."""
    embeddings = "bert/embeddings"
    layout = [
        (f"{embeddings}/word_embeddings/weight", (VOCAB, HIDDEN)),
        (f"{embeddings}/position_embeddings/embeddings", (POSITIONS, HIDDEN)),
        (f"{embeddings}/token_type_embeddings/embeddings", (TYPES, HIDDEN)),
        (f"{embeddings}/LayerNorm/gamma", (HIDDEN,)),
        (f"{embeddings}/LayerNorm/beta", (HIDDEN,)),
    ]

    def dense(path: str, fan_in: int, fan_out: int) -> None:
        layout.extend([(f"{path}/kernel", (fan_in, fan_out)), (f"{path}/bias", (fan_out,))])

    def norm(path: str) -> None:
        layout.extend(
            [(f"{path}/LayerNorm/gamma", (HIDDEN,)), (f"{path}/LayerNorm/beta", (HIDDEN,))]
        )

    for i in range(layers):
        layer = f"bert/encoder/layer_._{i}"
        for projection in ("query", "key", "value"):
            dense(f"{layer}/attention/self/{projection}", HIDDEN, HIDDEN)
        dense(f"{layer}/attention/output/dense", HIDDEN, HIDDEN)
        norm(f"{layer}/attention/output")
        dense(f"{layer}/intermediate/dense", HIDDEN, INTERMEDIATE)
        dense(f"{layer}/output/dense", INTERMEDIATE, HIDDEN)
        norm(f"{layer}/output")
    return layout


def _keras_variables(layout, values):
    import keras

    variables = []
    for (path, _), value in zip(layout, values, strict=True):
        *scopes, name = path.split("/")
        with contextlib.ExitStack() as stack:
            for scope in scopes:
                stack.enter_context(keras.name_scope(scope))
            variables.append(keras.Variable(value, name=name))
    return variables


def _contestants(layout, values, grads) -> dict[str, Callable[[], None]]:
    import keras
    import tensorflow as tf
    from transformers.optimization_tf import AdamWeightDecay as HFAdamWeightDecay

    from stepsize.tf import AdamWeightDecay

    def stepper(optimizer, variables):
        @tf.function
        def step(gradients):
            optimizer.apply_gradients(zip(gradients, variables, strict=True))

        return lambda: step(grads)

    keras_vars = _keras_variables(layout, values)
    hf_vars = [tf.Variable(v, name=path) for (path, _), v in zip(layout, values, strict=True)]
    adamw = keras.optimizers.AdamW(1e-3, weight_decay=WEIGHT_DECAY)
    # Keras matches names, not paths: "bias" is excluded, LayerNorm gamma/beta (0.1% of
    # the parameters) are decayed; the time hardly depends on it.
    adamw.exclude_from_weight_decay(var_names=EXCLUDE)
    return {
        "stepsize AdamWeightDecay": stepper(
            AdamWeightDecay(
                1e-3, weight_decay_rate=WEIGHT_DECAY, exclude_from_weight_decay=EXCLUDE
            ),
            keras_vars,
        ),
        "transformers AdamWeightDecay (tf-keras)": stepper(
            HFAdamWeightDecay(
                1e-3, weight_decay_rate=WEIGHT_DECAY, exclude_from_weight_decay=EXCLUDE
            ),
            hf_vars,
        ),
        "Keras 3 AdamW": stepper(adamw, keras_vars),
        "Keras 3 Adam": stepper(keras.optimizers.Adam(1e-3), keras_vars),
    }


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Runs the benchmark, prints a table and returns the median step time (s) per optimizer."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8, help="timed steps per optimizer (>= 1)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--layers", type=int, default=4, help="encoder layers (4: ≈52M params)")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 0 or args.layers < 0:
        parser.error("--steps must be >= 1, --warmup and --layers >= 0")

    import numpy as np
    import tensorflow as tf

    layout = bert_layout(args.layers)
    rng = np.random.default_rng(0)
    values = [rng.standard_normal(shape, dtype=np.float32) * 0.02 for _, shape in layout]
    grads = [
        tf.constant(rng.standard_normal(shape, dtype=np.float32) * 1e-3) for _, shape in layout
    ]
    contestants = _contestants(layout, values, grads)
    for step in contestants.values():
        for _ in range(args.warmup):
            step()
    times: dict[str, list[float]] = {name: [] for name in contestants}
    for _ in range(args.steps):
        for name, step in contestants.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)

    medians = {name: statistics.median(ts) for name, ts in times.items()}
    reference = medians["transformers AdamWeightDecay (tf-keras)"]
    adamw = medians["Keras 3 AdamW"]
    params = sum(int(np.prod(shape)) for _, shape in layout)
    print(
        f"TF optimizer step, {len(layout)} tensors, {params / 1e6:.1f}M float32 parameters, "
        f"median of {args.steps} steps after {args.warmup} warm-up (tf {tf.__version__})"
    )
    print(
        f"{'optimizer':42s} {'median ms':>10s} {'min ms':>8s} {'÷ transformers':>15s} "
        f"{'÷ Keras AdamW':>14s}"
    )
    for name, median in medians.items():
        print(
            f"{name:42s} {median * 1e3:10.1f} {min(times[name]) * 1e3:8.1f} "
            f"{median / reference:15.2f} {median / adamw:14.2f}"
        )
    return medians


if __name__ == "__main__":
    main()
