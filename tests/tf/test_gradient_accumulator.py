"""``GradientAccumulator``: transformers' behaviour, eager, in tf.function and MirroredStrategy."""

from __future__ import annotations

import numpy as np
import pytest

from cases.closeness import assert_close

tf = pytest.importorskip("tensorflow")

from stepsize.tf import GradientAccumulator, create_optimizer  # noqa: E402

CALLS = [
    [[1.0, 2.0], None, [[0.5]]],
    [[-2.0, 1.0], None, [[0.25]]],
    [[3.0, -1.0], None, [[-1.0]]],
]


def as_tensors(gradients, dtype=tf.float32):
    return [None if g is None else tf.constant(g, dtype) for g in gradients]


def values(gradients):
    return [None if g is None else g.numpy().tolist() for g in gradients]


def test_matches_transformers(hf):
    accumulator, reference = GradientAccumulator(), hf.GradientAccumulator()
    assert int(accumulator.step) == int(reference.step) == 0
    for round_ in range(2):
        for gradients in CALLS:
            accumulator(as_tensors(gradients))
            reference(as_tensors(gradients))
            assert int(accumulator.step) == int(reference.step)
            assert values(accumulator.gradients) == values(reference.gradients)
        assert int(accumulator.step) == len(CALLS)
        assert values(accumulator.gradients) == [[2.0, 2.0], None, [[-0.25]]]
        accumulator.reset()
        reference.reset()
        assert int(accumulator.step) == 0, round_
        assert values(accumulator.gradients) == [[0.0, 0.0], None, [[0.0]]]


def test_wrong_gradients():
    accumulator = GradientAccumulator()
    accumulator(as_tensors(CALLS[0]))
    with pytest.raises(ValueError, match=r"gradients must hold 3 values, got \[<tf\.Tensor"):
        accumulator(as_tensors(CALLS[0][:2]))
    with pytest.raises(TypeError, match=r"gradients must be a list or tuple, got <tf\.Tensor"):
        accumulator(tf.constant([1.0, 2.0]))


def test_gradients_before_the_first_call():
    accumulator = GradientAccumulator()
    accumulator.reset()  # nothing to reset yet
    with pytest.raises(ValueError, match="should be called first"):
        _ = accumulator.gradients


def test_other_float_dtypes_are_cast_and_slices_densified():
    accumulator = GradientAccumulator()
    accumulator([tf.constant([1.0, 2.0, 3.0])])
    accumulator([tf.constant([0.5, 0.5, 0.5], tf.float64)])
    accumulator([tf.constant([0.25, 0.25, 0.25], tf.float16)])
    accumulator([tf.IndexedSlices(tf.constant([1.0, 1.0]), tf.constant([2, 2]), [3])])
    (gradient,) = accumulator.gradients
    assert gradient.dtype == tf.float32
    assert gradient.numpy().tolist() == [1.75, 2.75, 5.75]


def test_inside_tf_function():
    accumulator = GradientAccumulator()

    @tf.function
    def accumulate(first, second):
        accumulator([first, None, second])
        return accumulator.step

    for gradients in CALLS:
        step = accumulate(tf.constant(gradients[0]), tf.constant(gradients[2]))
        if int(step) == 1:  # tf.function traces twice when the first trace creates variables
            traces = accumulate.experimental_get_tracing_count()
    assert int(step) == len(CALLS)
    assert accumulate.experimental_get_tracing_count() == traces
    assert values(accumulator.gradients) == [[2.0, 2.0], None, [[-0.25]]]
    tf.function(accumulator.reset)()
    assert int(accumulator.step) == 0
    assert values(accumulator.gradients) == [[0.0, 0.0], None, [[0.0]]]


@pytest.mark.parametrize("weight_decay_rate", [0.0, 0.1])
def test_mirrored_strategy_replicas_accumulate_separately(weight_decay_rate, mirrored_strategy):
    strategy = mirrored_strategy
    settings = {"init_lr": 0.1, "num_train_steps": 10, "num_warmup_steps": 2,
                "weight_decay_rate": weight_decay_rate}  # fmt: skip
    with strategy.scope():
        accumulator = GradientAccumulator()
        variable = tf.Variable([4.0, 3.0])
        optimizer, _ = create_optimizer(**settings)
        optimizer.build([variable])  # Keras 3 cannot create its slots inside strategy.run
        placeholder = tf.Variable([0.0, 0.0], trainable=False)

    @tf.function
    def accumulate(first, second):
        with strategy.scope():
            local = strategy.experimental_local_results(placeholder)
            local[0].assign(first)
            local[1].assign(second)
            strategy.run(lambda gradient: accumulator([gradient]), args=(placeholder,))

    @tf.function
    def apply():
        with strategy.scope():
            strategy.run(
                lambda: optimizer.apply_gradients(
                    zip(accumulator.gradients, [variable], strict=True)
                )
            )

    def local_values(distributed):
        return [v.numpy().tolist() for v in strategy.experimental_local_results(distributed)]

    accumulate([1.0, 2.0], [-1.0, 1.0])
    accumulate([3.0, -1.0], [-1.0, -1.0])
    accumulate([-2.0, 2.0], [3.0, -2.0])
    assert int(accumulator.step) == 3
    assert local_values(accumulator._gradients[0]) == [[2.0, 3.0], [1.0, -2.0]]
    for _ in range(4):
        apply()

    # The same optimizer on one device, stepped with the replicas' summed gradients.
    expected = tf.Variable([4.0, 3.0])
    single, _ = create_optimizer(**settings)
    for _ in range(4):
        single.apply_gradients([(tf.constant([3.0, 1.0]), expected)])
    for replica in local_values(variable):
        assert_close(np.asarray(replica), expected, "float32")
    assert not np.allclose(expected.numpy(), [4.0, 3.0])

    accumulator.reset()
    assert int(accumulator.step) == 0
    assert local_values(accumulator._gradients[0]) == [[0.0, 0.0], [0.0, 0.0]]


def _state(accumulator):
    return int(accumulator.step), values(accumulator.gradients)


# (the gradients of a call after CALLS[0]; exception; the start of the message)
BAD_CALLS = [
    ([[1.0, 2.0], None, [[0.5], [0.5]]], ValueError,
     "gradients[2] must have its accumulator's shape [1, 1], got shape [2, 1]"),
    ([[1.0, 2.0, 3.0], None, [[0.5]]], ValueError,
     "gradients[0] must have its accumulator's shape [2], got shape [3]"),
    ([[1.0, 2.0], None, "0.5"], TypeError, "gradients[2] must be a float tensor, got '0.5' (str)"),
    ([[1.0, 2.0], None, object()], TypeError, "gradients[2] must be a float tensor, got <object"),
    ([[1.0, 2.0], None, tf.constant([[1]])], TypeError,
     "gradients[2] must be a float tensor, got a int32 tensor of shape [1, 1]"),
    ([[1.0, 2.0], None, tf.constant([[1j]])], TypeError, "gradients[2] must be a float tensor"),
    ([[1.0, 2.0], None], ValueError, "gradients must hold 3 values"),
]  # fmt: skip


@pytest.mark.parametrize(("gradients", "error", "message"), BAD_CALLS)
@pytest.mark.parametrize("graph", [False, True], ids=["eager", "tf_function"])
def test_rejected_call_adds_nothing(gradients, error, message, graph):
    accumulator = GradientAccumulator()
    accumulator(as_tensors(CALLS[0]))
    before = _state(accumulator)
    gradients = [tf.constant(g) if isinstance(g, list) else g for g in gradients]
    call = tf.function(accumulator) if graph else accumulator
    with pytest.raises(error) as info:
        call(gradients)
    # tf.function prefixes the trace ("in user code: ...")
    assert message in str(info.value), str(info.value)
    assert _state(accumulator) == before
    accumulator(as_tensors(CALLS[1]))  # still works
    assert _state(accumulator) == (2, [[-1.0, 3.0], None, [[0.75]]])


def test_shape_known_only_at_run_time_is_checked_before_anything_is_added():
    accumulator = GradientAccumulator()
    accumulator(as_tensors(CALLS[0]))
    spec = [tf.TensorSpec([None]), tf.TensorSpec([None, None])]

    @tf.function(input_signature=spec)
    def accumulate(first, last):
        accumulator([first, None, last])

    accumulate(tf.constant([1.0, 1.0]), tf.constant([[1.0]]))
    before = _state(accumulator)
    with pytest.raises(tf.errors.InvalidArgumentError, match="node gradients_2_shape"):
        accumulate(tf.constant([1.0, 1.0]), tf.constant([[1.0, 2.0]]))
    assert _state(accumulator) == before == (2, [[2.0, 3.0], None, [[1.5]]])


def test_a_rejected_first_call_creates_no_accumulators():
    accumulator = GradientAccumulator()
    with pytest.raises(TypeError, match=r"gradients\[1\] must be a float tensor"):
        accumulator([tf.constant([1.0]), "x"])
    with pytest.raises(ValueError, match="should be called first"):
        _ = accumulator.gradients
    accumulator(as_tensors(CALLS[0]))
    assert _state(accumulator) == (1, [[1.0, 2.0], None, [[0.5]]])
