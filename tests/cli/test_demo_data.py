"""The demo's data: a stratified, standardized split of scikit-learn's digits."""

from __future__ import annotations

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("sklearn")

from stepsize.cli._demo_data import batches, load  # noqa: E402


def test_split_shapes_and_labels():
    data = load(seed=0)
    assert data.x_train.shape == (1437, 8, 8) and data.x_test.shape == (360, 8, 8)
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    assert set(np.unique(data.y_test)) == set(range(10))
    assert data.summary() == {
        "dataset": "sklearn.datasets.load_digits",
        "train": 1437,
        "test": 360,
        "tokens": 8,
        "features": 8,
        "classes": 10,
    }


def test_split_is_stratified():
    data = load(seed=3)
    train = np.bincount(data.y_train, minlength=10) / len(data.y_train)
    test = np.bincount(data.y_test, minlength=10) / len(data.y_test)
    np.testing.assert_allclose(train, test, atol=0.01)


def test_standardized_with_training_statistics():
    data = load(seed=0)
    pixels = data.x_train.reshape(len(data.x_train), -1)
    np.testing.assert_allclose(pixels.mean(axis=0), 0.0, atol=1e-5)
    std = pixels.std(axis=0)
    # Constant pixels (the border) stay 0; every other one has unit variance.
    assert np.all((np.abs(std - 1) < 1e-4) | (std == 0)) and np.sum(std == 0) > 0
    assert np.all(np.isfinite(data.x_test))


def test_seed_changes_the_split_deterministically():
    a, b, c = load(seed=0), load(seed=0), load(seed=1)
    np.testing.assert_array_equal(a.x_test, b.x_test)
    assert not np.array_equal(a.y_test, c.y_test)


def test_bad_test_size():
    with pytest.raises(ValueError, match=r"test_size must be in \(0, 1\), got 1.5"):
        load(test_size=1.5)


def test_batches_cover_each_index_once():
    parts = batches(10, 4, np.random.default_rng(0))
    assert [len(p) for p in parts] == [4, 4, 2]
    assert sorted(np.concatenate(parts).tolist()) == list(range(10))
