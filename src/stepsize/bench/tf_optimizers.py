"""Speed of one TensorFlow optimizer step: stepsize's AdamWeightDecay against the references.

Compares ``stepsize.tf.AdamWeightDecay`` (its fused default and its plain-TF reference
update) with transformers' ``AdamWeightDecay`` (on tf-keras), Keras 3 ``AdamW`` and Keras 3
``Adam``, each stepping inside ``tf.function`` on the BERT-like workload (≈52M float32
parameters, random gradients). The decaying optimizers use weight decay 0.01 with LayerNorm
and bias variables excluded, as ``create_optimizer`` sets them up. Each row reports the median
of ``--steps`` timed steps after ``--warmup`` untimed ones, the median of its per-round ratio
to transformers' and to Keras 3's AdamW, and its optimizer-state bytes per parameter. A
reference that is not installed is listed as skipped.

Usage::

    stepsize bench tf                     # the table
    stepsize bench tf --quick             # a small workload: a check in seconds
    stepsize bench tf --json tf.json
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
from collections.abc import Callable, Sequence
from typing import Any

from stepsize.bench import _harness as harness
from stepsize.bench._options import add_options, resolve_options
from stepsize.bench._workload import Workload

__all__ = ["REFERENCES", "main", "make_variables", "parse", "run", "state_bytes"]

LR = 1e-3
WEIGHT_DECAY = 0.01
EXCLUDE = ["LayerNorm", "layer_norm", "bias"]
DECAY: dict[str, Any] = {"weight_decay_rate": WEIGHT_DECAY, "exclude_from_weight_decay": EXCLUDE}
STEPS = 8
TRANSFORMERS = "transformers AdamWeightDecay (tf-keras)"
KERAS_ADAMW = "Keras 3 AdamW"
# reference -> the heading of its ratio column
REFERENCES = {TRANSFORMERS: "× transformers", KERAS_ADAMW: "× Keras AdamW"}


def make_variables(workload: Workload, values: Sequence[Any], keras_paths: bool) -> list[Any]:
    """Variables of ``workload`` holding ``values``, named after its tensors.

    ``keras_paths``: Keras 3 variables whose ``path`` is the tensor's name with ``/`` for
    ``.`` (one name scope per part); else ``tf.Variable`` s named so, for tf-keras.
    """
    import keras
    import tensorflow as tf

    variables = []
    for (name, _), value in zip(workload.tensors(), values, strict=True):
        *scopes, last = name.split(".")
        if not keras_paths:
            variables.append(tf.Variable(value, name=name.replace(".", "/")))
            continue
        with contextlib.ExitStack() as stack:
            for scope in scopes:
                stack.enter_context(keras.name_scope(scope))
            variables.append(keras.Variable(value, name=last))
    return variables


def state_bytes(optimizer: Any) -> int:
    """Bytes of the optimizer's variables (its slots; Keras 3 or tf-keras)."""
    import tensorflow as tf

    variables = optimizer.variables
    variables = variables() if callable(variables) else variables  # tf-keras' legacy method
    return sum(math.prod(v.shape) * tf.as_dtype(v.dtype).size for v in variables)


def _stepsize(fused: bool) -> Any:
    from stepsize.tf import AdamWeightDecay

    return AdamWeightDecay(LR, **DECAY, fused=fused)


def _transformers() -> Any:
    from transformers.optimization_tf import AdamWeightDecay

    return AdamWeightDecay(LR, **DECAY)


def _keras_adamw() -> Any:
    import keras

    optimizer = keras.optimizers.AdamW(LR, weight_decay=WEIGHT_DECAY)
    # Keras matches the variable's name, not its path: biases are excluded, LayerNorm
    # weights (0.01% of the parameters) decayed; the time hardly depends on it.
    optimizer.exclude_from_weight_decay(var_names=EXCLUDE)
    return optimizer


def _keras_adam() -> Any:
    import keras

    return keras.optimizers.Adam(LR)


# name -> (builds the optimizer, steps Keras 3 variables (else tf-keras' tf.Variable s))
CONTESTANTS: dict[str, tuple[Callable[[], Any], bool]] = {
    "stepsize AdamWeightDecay": (lambda: _stepsize(fused=True), True),
    "stepsize AdamWeightDecay (plain TF)": (lambda: _stepsize(fused=False), True),
    TRANSFORMERS: (_transformers, False),
    KERAS_ADAMW: (_keras_adamw, True),
    "Keras 3 Adam": (_keras_adam, True),
}


def parse(argv: Sequence[str] | None = None, prog: str | None = None) -> argparse.Namespace:
    """The options (``--help`` lists them); needs no TensorFlow, so help works anywhere."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    add_options(parser, STEPS)
    args = parser.parse_args(argv)
    resolve_options(parser, args, STEPS)
    return args


def run(args: argparse.Namespace) -> int:
    """Prints the table (``--json``: and writes it); returns the exit status."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    gpus = tf.config.list_logical_devices("GPU")
    threads = tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count() or 1
    packages = ("tensorflow", "keras", "tf-keras", "transformers")
    machine = harness.environment(gpus[0].name if gpus else "cpu", threads, packages)
    setup = f"lr {LR}, weight decay {WEIGHT_DECAY} but not on LayerNorm and biases"
    settings = harness.start(args, machine, "float32", setup)

    shapes = args.workload.shapes()
    rng = np.random.default_rng(0)
    values = [rng.standard_normal(shape, dtype=np.float32) * 0.02 for shape in shapes]
    grads = [tf.constant(rng.standard_normal(s, dtype=np.float32) * 1e-3) for s in shapes]
    variables: dict[bool, list[Any]] = {}

    def entry(name: str, make: Callable[[], Any], keras_paths: bool) -> harness.Contestant:
        def build() -> tuple[Callable[[], object], Callable[[], int]]:
            optimizer = make()
            if keras_paths not in variables:
                variables[keras_paths] = make_variables(args.workload, values, keras_paths)
            targets = variables[keras_paths]

            def apply(gradients: list[Any]) -> None:
                optimizer.apply_gradients(zip(gradients, targets, strict=True))

            step = tf.function(apply)
            return lambda: step(grads), lambda: state_bytes(optimizer)

        return harness.prepare(name, "float32", build)

    rows = [
        entry(name, make, keras_paths)
        for name, (make, keras_paths) in CONTESTANTS.items()
        if harness.selected(name, args.only, REFERENCES)
    ]
    harness.measure(rows, args.steps, args.warmup, harness.CLOCKS[args.clock])
    harness.save(harness.report("tf", rows, REFERENCES, settings), args.json)
    return 0


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Runs the benchmark with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    return run(parse(argv, prog))
