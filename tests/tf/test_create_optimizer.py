"""``create_optimizer``: its schedule (hand-computed values, transformers' numbers, the fix
listed in the README's "Deliberate differences from transformers") and what it returns.

The optimizers it returns run the Keras optimizer contract (test_optimizer_contract.py).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from cases.tf_optimizers import EXCLUDE, KERAS_OPTIMIZERS

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from stepsize.tf import AdamWeightDecay, WarmUp, create_optimizer  # noqa: E402

# Hand-computed: init 1, T=10, W=4, min_lr_ratio 0.1, t = 0..12 (the function's example).
KNOWN = (
    {"init_lr": 1.0, "num_train_steps": 10, "num_warmup_steps": 4, "min_lr_ratio": 0.1},
    (0, 0.25, 0.5, 0.75, 1, 0.85, 0.7, 0.55, 0.4, 0.25, 0.1, 0.1, 0.1),
)
CASES = [
    pytest.param(case, id=str(case))
    for row in KERAS_OPTIMIZERS
    if row.factory == "create_optimizer"
    for case in row.configs
]


def test_known_values():
    kwargs, expected = KNOWN
    _, schedule = create_optimizer(**kwargs)
    actual = [float(schedule(t)) for t in range(len(expected))]
    np.testing.assert_allclose(actual, expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize(("train", "warmup"), [(0, 0), (4, 4), (3, 5)])
def test_no_decay_steps_left_holds_the_final_rate(train, warmup, hf):
    _, schedule = create_optimizer(1.0, train, warmup, min_lr_ratio=0.1)
    steps = range(warmup + 5)
    actual = [float(schedule(t)) for t in steps]
    expected = [t / warmup for t in range(warmup)] + [0.1] * 5
    np.testing.assert_allclose(actual, expected, atol=1e-6, rtol=0)
    _, reference_schedule = hf.create_optimizer(1.0, train, warmup, min_lr_ratio=0.1)
    reference = [float(reference_schedule(t)) for t in steps]
    if train == warmup:  # transformers divides 0 by 0 (the README's deliberate differences)
        assert math.isnan(reference[warmup])
    else:
        np.testing.assert_allclose(actual, reference, atol=1e-6, rtol=0)


@pytest.mark.parametrize("case", CASES)
def test_schedule_matches_transformers(case, hf):
    _, schedule = create_optimizer(**case.kwargs)
    _, reference_schedule = hf.create_optimizer(**case.kwargs)
    steps = range(2 * case.kwargs["num_train_steps"] + 3)
    np.testing.assert_allclose(
        [float(schedule(t)) for t in steps],
        [float(reference_schedule(t)) for t in steps],
        rtol=1e-6,
        atol=1e-12,
    )


def test_optimizer_type_and_decay_rules():
    optimizer, schedule = create_optimizer(
        1e-3, 10, 2, weight_decay_rate=0.01, include_in_weight_decay=["LayerNorm/gamma"]
    )
    assert isinstance(optimizer, AdamWeightDecay)
    assert isinstance(schedule, WarmUp)
    config = optimizer.get_config()
    assert config["exclude_from_weight_decay"] == EXCLUDE
    assert config["include_in_weight_decay"] == ["LayerNorm/gamma"]
    assert optimizer._learning_rate is schedule
    adam, decay_only = create_optimizer(1e-3, 10, 0, adam_clipnorm=0.5)
    assert type(adam) is keras.optimizers.Adam
    assert isinstance(decay_only, keras.optimizers.schedules.PolynomialDecay)
    assert adam.clipnorm == 0.5
