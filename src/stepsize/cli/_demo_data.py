"""The demo's task: scikit-learn's bundled 8×8 digits, split and standardized.

Each image becomes a sequence of 8 tokens (its rows) of 8 features, the input of a small
transformer encoder. The data ships with scikit-learn, so nothing is downloaded. The
training settings both demos share are typed here too.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypedDict

__all__ = ["Digits", "Hyperparameters", "batches", "load"]


class Hyperparameters(TypedDict):
    """The training settings both demos share; each adds its gradient clipping setting."""

    micro_batch: int
    accumulation_steps: int
    lr: float
    weight_decay: float
    warmup_fraction: float
    d_model: int
    heads: int
    layers: int


@dataclasses.dataclass(frozen=True)
class Digits:
    """A stratified train / held-out split of the digits, standardized with train statistics.

    Attributes:
        x_train, x_test: float32 arrays shaped (n, 8, 8): n images, 8 row tokens of 8 features.
        y_train, y_test: int64 class labels 0..9.
    """

    x_train: Any
    y_train: Any
    x_test: Any
    y_test: Any

    def summary(self) -> dict[str, Any]:
        """JSON-able sizes of the split."""
        return {
            "dataset": "sklearn.datasets.load_digits",
            "train": len(self.y_train),
            "test": len(self.y_test),
            "tokens": int(self.x_train.shape[1]),
            "features": int(self.x_train.shape[2]),
            "classes": 10,
        }


def load(seed: int = 0, test_size: float = 0.2) -> Digits:
    """Loads the digits, splits off ``test_size`` stratified by class, standardizes.

    Pixels that are constant in the training split (the image borders) keep a scale of 1,
    so no division by zero happens.

    Args:
        seed: the split's random state.
        test_size: the held-out fraction, in (0, 1).

    Returns:
        The split as float32 inputs shaped (n, 8, 8) and int64 labels.

    Raises:
        ValueError: if ``test_size`` is not in (0, 1).

    Example:
        >>> data = load(seed=0)
        >>> data.x_train.shape, data.x_test.shape
        ((1437, 8, 8), (360, 8, 8))
    """
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be in (0, 1), got {test_size!r}")
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_size, stratify=y, random_state=seed
    )
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std[std == 0] = 1.0

    def prepare(images: Any) -> Any:
        return ((images - mean) / std).astype(np.float32).reshape(-1, 8, 8)

    return Digits(
        prepare(x_train), y_train.astype(np.int64), prepare(x_test), y_test.astype(np.int64)
    )


def batches(n: int, batch_size: int, rng: Any) -> list[Any]:
    """One epoch of shuffled index arrays of ``batch_size`` (the last one may be shorter).

    Example:
        >>> import numpy as np
        >>> [len(b) for b in batches(10, 4, np.random.default_rng(0))]
        [4, 4, 2]
    """
    order = rng.permutation(n)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]
