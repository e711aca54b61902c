"""The Keras optimizer contract, run for every row of ``cases.tf_optimizers.KERAS_OPTIMIZERS``.

Every optimizer ``stepsize.tf`` hands out equals transformers 4.46.3's (on tf-keras) in
float32, stepped in a ``tf.function`` and, for the row's ``modes``, eagerly and under XLA too;
every update path a user can select (``AdamWeightDecay(fused=...)``) equals the reference
update in float64; its config round-trips through JSON; a model compiled with it fits, saves,
loads without custom objects and resumes bit for bit (and fits under ``MirroredStrategy`` as on
one device, where the row says so); bad arguments raise TypeError / ValueError naming the
argument and the value. "Equal" is tests/cases/closeness.py's rule for the precision.
"""

from __future__ import annotations

import json
from typing import NamedTuple

import numpy as np
import pytest

from cases.closeness import assert_close
from cases.tf_optimizers import KERAS_OPTIMIZERS
from stepsize import schedules

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
# Keras' own NumPy 2 notice while fitting; not about this code.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

import stepsize.tf  # noqa: E402


def _params(select):
    """``pytest.param(row, case)`` for every row and each of its configs ``select`` keeps."""
    return [
        pytest.param(row, case, id=f"{row}-{case}")
        for row in KERAS_OPTIMIZERS
        for case in row.configs
        if select(row, case)
    ]


CONFIGS = _params(lambda row, case: True)
PATHS = _params(lambda row, case: bool(row.paths))
MODES = _params(lambda row, case: case.id in row.modes)
ROWS = [pytest.param(row, id=str(row)) for row in KERAS_OPTIMIZERS]
MIRRORED = [pytest.param(row, id=str(row)) for row in KERAS_OPTIMIZERS if row.mirrored]
ERRORS = [
    pytest.param(row, error_input, id=f"{row}-{error_input}")
    for row in KERAS_OPTIMIZERS
    for error_input in row.error_inputs
]


def _schedule(case, hf=None):
    """The learning-rate schedule of ``case``: ours, or transformers' with ``hf``."""
    spec = case.schedule
    if isinstance(spec, schedules.Schedule):
        return stepsize.tf.KerasSchedule(spec, case.kwargs["learning_rate"])
    if hf is None:
        warmup, polynomial = stepsize.tf.WarmUp, keras.optimizers.schedules.PolynomialDecay
    else:
        import tf_keras

        warmup, polynomial = hf.WarmUp, tf_keras.optimizers.schedules.PolynomialDecay
    lr = spec["initial_learning_rate"]
    decay = polynomial(lr, spec["decay_steps"], spec["end_learning_rate"], spec["power"])
    return warmup(lr, decay, spec["warmup_steps"], power=spec["warmup_power"])


def build(row, case, hf=None, **switches):
    """The row's optimizer for ``case`` (on the path ``switches`` select): ours, or
    transformers' with ``hf``."""
    kwargs = {**case.kwargs, **switches}
    if case.schedule is not None:
        kwargs["learning_rate"] = _schedule(case, hf)
    made = getattr(hf or stepsize.tf, row.factory)(**kwargs)
    return made[0] if isinstance(made, tuple) else made


def reference_state(reference, variables, where):
    """transformers' state per variable at ``where`` (a slot or an attribute), or None."""
    if where.startswith("_"):
        state = getattr(reference, where, None)
    elif where in reference.get_slot_names():
        state = [reference.get_slot(variable, where) for variable in variables]
    else:
        state = None
    return None if state is None else [value.numpy() for value in state]


class TransformersRun(NamedTuple):
    """What transformers' optimizer holds after the test's gradient sequence."""

    type_name: str
    values: list[np.ndarray]
    state: dict[str, list[np.ndarray] | None]  # by our attribute holding the same state
    iterations: int
    decayed: list[bool] | None  # per variable, for AdamWeightDecay


@pytest.fixture(scope="module")
def transformers_run(hf, initial_values, gradient_sequence, make_tf_variables, run_steps):
    """``transformers_run(row, case)``: the ``TransformersRun`` of a case (each run once)."""
    runs = {}

    def run(row, case):
        if (row.id, case.id) not in runs:
            reference = build(row, case, hf)
            variables = make_tf_variables(initial_values)
            values = run_steps(reference, variables, gradient_sequence)
            decayed = None
            if isinstance(reference, hf.AdamWeightDecay):
                decayed = [reference._do_use_weight_decay(v.name) for v in variables]
            runs[row.id, case.id] = TransformersRun(
                type(reference).__name__,
                values,
                {
                    attribute: reference_state(reference, variables, where)
                    for attribute, where in row.state.items()
                },
                int(reference.iterations),
                decayed,
            )
        return runs[row.id, case.id]

    return run


def assert_matches(row, optimizer, values, expected: TransformersRun, steps: int) -> None:
    """Our optimizer after ``steps`` steps, and its variables' ``values``, equal transformers'."""
    assert type(optimizer).__name__ == expected.type_name == row.returns
    assert_close(values, expected.values, "float32", what="variables")
    for attribute, theirs in expected.state.items():
        assert hasattr(optimizer, attribute) == (theirs is not None), attribute
        if theirs is not None:
            assert_close(getattr(optimizer, attribute), theirs, "float32", what=attribute)
    assert int(optimizer.iterations) == expected.iterations == steps
    if row.returns == "AdamWeightDecay":
        assert optimizer._decayed == expected.decayed
        assert any(expected.decayed) == (optimizer.weight_decay_rate > 0)


def test_the_table_covers_every_keras_optimizer():
    factories = {
        name
        for name in stepsize.tf.__all__
        if name == "create_optimizer"
        or issubclass(getattr(stepsize.tf, name), keras.optimizers.Optimizer)
    }
    assert {row.factory for row in KERAS_OPTIMIZERS} == factories
    for row in KERAS_OPTIMIZERS:
        ids = [case.id for case in row.configs]
        assert len(set(ids)) == len(ids) and set(row.modes) <= set(ids), row.id
        assert not row.paths or "reference" in row.paths, row.id


@pytest.mark.parametrize(("row", "case"), CONFIGS)
def test_matches_transformers(
    row, case, transformers_run, initial_values, gradient_sequence, make_keras_variables, run_steps
):
    """Stepped in a ``tf.function``, as ``model.fit`` steps it."""
    optimizer = build(row, case)
    variables = make_keras_variables(initial_values)
    values = run_steps(optimizer, variables, gradient_sequence, mode="graph")
    assert_matches(row, optimizer, values, transformers_run(row, case), len(gradient_sequence))


@pytest.mark.parametrize("mode", ["eager", "xla"])
@pytest.mark.parametrize(("row", "case"), MODES)
def test_eager_and_xla_match_transformers_too(
    row,
    case,
    mode,
    transformers_run,
    initial_values,
    gradient_sequence,
    make_keras_variables,
    run_steps,
):
    """With test_matches_transformers' graph run, eager, graph and XLA runs agree: to rounding,
    not bit for bit, as Grappler and XLA fold the scalar coefficients (and float32 schedules)
    their own way."""
    optimizer = build(row, case)
    variables = make_keras_variables(initial_values)
    values = run_steps(optimizer, variables, gradient_sequence, mode=mode)
    assert_matches(row, optimizer, values, transformers_run(row, case), len(gradient_sequence))


@pytest.mark.parametrize(("row", "case"), PATHS)
def test_every_path_equals_the_reference_update(
    row, case, initial_values, gradient_sequence, make_keras_variables, run_steps
):
    results = {}
    for path, switches in row.paths.items():
        optimizer = build(row, case, **switches)
        assert {name: getattr(optimizer, name) for name in switches} == switches
        variables = make_keras_variables(initial_values, "float64")
        values = run_steps(optimizer, variables, gradient_sequence, "float64")
        results[path] = values + [v.numpy() for v in optimizer.variables]
    for path, values in results.items():
        assert_close(values, results["reference"], "float64", what=f"{path} vs reference")


@pytest.mark.parametrize(("row", "case"), CONFIGS)
def test_config_round_trips_through_json(row, case):
    optimizer = build(row, case)
    config = optimizer.get_config()
    serialized = json.loads(json.dumps(keras.optimizers.serialize(optimizer)))
    restored = keras.optimizers.deserialize(serialized)
    assert type(restored) is type(optimizer)
    assert restored.get_config() == config
    schedule = optimizer._learning_rate
    if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
        assert type(restored._learning_rate) is type(schedule)
        steps = range(0, 40, 3)
        assert [float(restored._learning_rate(t)) for t in steps] == [
            float(schedule(t)) for t in steps
        ]
    else:
        assert float(restored.learning_rate) == float(optimizer.learning_rate)


@pytest.mark.parametrize("row", ROWS)
def test_fit_save_load_resumes_identically(row, train_save_resume, same_training_state):
    uninterrupted, resumed, losses = train_save_resume(build(row, row.training))
    assert losses[-1] < 0.5 * losses[0]
    assert type(resumed.optimizer).__name__ == row.returns
    assert type(resumed.optimizer._learning_rate) is type(uninterrupted.optimizer._learning_rate)
    if row.decayed is not None:
        assert resumed.optimizer._decayed == uninterrupted.optimizer._decayed == list(row.decayed)
    same_training_state(uninterrupted, resumed)


@pytest.mark.parametrize("row", MIRRORED)
def test_mirrored_fit_equals_single_device(row, mirrored_strategy, classifier):
    make_model, data = classifier
    updates, batch = 30, 8
    x, y = data(updates * batch)

    def fit(strategy):
        with strategy.scope():
            model = make_model(build(row, row.training))
        model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)
        assert int(model.optimizer.iterations.numpy()) == updates
        return [w.numpy() for w in model.weights + model.optimizer.variables]

    mirrored = fit(mirrored_strategy)
    single = fit(tf.distribute.OneDeviceStrategy("/cpu:0"))
    assert mirrored_strategy.num_replicas_in_sync == 2
    assert_close(mirrored, single, "float32", what="weights and optimizer state")
    initial = [w.numpy() for w in make_model().weights]
    moved = [np.abs(w - w0).max() for w, w0 in zip(mirrored[: len(initial)], initial, strict=True)]
    assert max(moved) > 1e-2


@pytest.mark.parametrize(("row", "error_input"), ERRORS)
def test_invalid_arguments(row, error_input, assert_rejects):
    assert_rejects(getattr(stepsize.tf, row.factory), row.valid, error_input)
