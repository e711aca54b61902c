"""``stepsize.tf``: the public names, each a registered Keras serializable where it is Keras."""

from __future__ import annotations

import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

import stepsize.tf  # noqa: E402


def test_public_names_are_sorted_and_importable():
    assert stepsize.tf.__all__ == sorted(stepsize.tf.__all__)
    assert set(stepsize.tf.__all__) == {
        "AdamWeightDecay",
        "GradientAccumulator",
        "KerasSchedule",
        "WarmUp",
        "create_optimizer",
    }
    for name in stepsize.tf.__all__:
        assert getattr(stepsize.tf, name).__doc__


@pytest.mark.parametrize("name", ["AdamWeightDecay", "KerasSchedule", "WarmUp"])
def test_keras_classes_are_registered(name):
    assert keras.saving.get_registered_object(f"stepsize>{name}") is getattr(stepsize.tf, name)
