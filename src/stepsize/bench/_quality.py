"""The pieces of the training-quality benchmark: its regression problem, its measures, its table.

:class:`Regression` is least squares Y ≈ X·W with W of 64×16 weights of about unit size and a
learning rate of 1e-4: the float32 run moves each weight by about 1e-4 per step, while half a
bfloat16 unit of a weight near 1 is 2^-9 ≈ 2e-3, so rounding to nearest drops nearly every
update. The targets' noise dominates the loss (about 1): the float32 run lowers it by some
percent, which a run that does not move misses. :func:`movement_kept` compares a run's
change of the weights with the float32 run's.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["Regression", "Row", "movement_kept", "table"]


@dataclasses.dataclass(frozen=True)
class Regression:
    """Least squares with a small learning rate, trained full-batch.

    The inputs X (samples × features) and the initial weights W0 are standard normal (drawn
    once, rounded to bfloat16, so every run starts from the same values); the targets are
    X·(W0 + Δ) + noise, with Δ of about 0.03 per weight (the distance the float32 run covers)
    and unit noise.

    Args:
        samples, features, outputs: the sizes of X and W.
        steps: optimizer steps.
        lr: the learning rate.
        seed: the seed of the data and the initial weights.
    """

    samples: int = 1024
    features: int = 64
    outputs: int = 16
    steps: int = 300
    lr: float = 1e-4
    seed: int = 0

    def describe(self) -> dict[str, Any]:
        """The problem's settings, as JSON data."""
        return dataclasses.asdict(self)

    def _data(self) -> tuple[Any, Any, Any]:
        import torch

        generator = torch.Generator().manual_seed(self.seed)
        x = torch.randn(self.samples, self.features, generator=generator).bfloat16().double()
        w0 = torch.randn(self.features, self.outputs, generator=generator).bfloat16().double()
        delta = 0.03 * torch.randn(self.features, self.outputs, generator=generator)
        noise = torch.randn(self.samples, self.outputs, generator=generator)
        return x, w0, x @ (w0 + delta.double()) + noise.double()

    def initial(self) -> Any:
        """The initial weights, in float64."""
        return self._data()[1]

    def loss(self, weights: Any) -> float:
        """The mean squared error of ``weights`` (computed in float64)."""
        x, _, y = self._data()
        return float(((x @ weights.double() - y) ** 2).mean())

    def train(self, make: Callable[[Any, float], Any], dtype: Any) -> tuple[Any, float]:
        """Trains W of ``dtype`` (the forward and backward passes too) with the optimizer
        ``make(params, lr)``; returns (the final weights in float64, their loss)."""
        import torch

        x, w0, y = self._data()
        x, y = x.to(dtype), y.to(dtype)
        weights = torch.nn.Parameter(w0.to(dtype))
        optimizer = make([weights], self.lr)
        for _ in range(self.steps):
            optimizer.zero_grad()
            ((x @ weights - y) ** 2).mean().backward()
            optimizer.step()
        final = weights.detach().double()
        return final, self.loss(final)


def movement_kept(initial: Any, final: Any, reference: Any) -> float:
    """The share of the reference run's change of the weights that a run kept: its change
    projected on the reference's, ⟨w − w0, r − w0⟩ / ‖r − w0‖² (1 for the reference itself;
    tensors or lists of them, in float64)."""
    import torch

    def flat(values: Any) -> Any:
        return torch.cat([v.reshape(-1) for v in values]) if isinstance(values, list) else values

    start, moved, target = flat(initial), flat(final), flat(reference)
    wanted = (target - start).reshape(-1)
    return float((moved - start).reshape(-1) @ wanted / (wanted @ wanted))


@dataclasses.dataclass(frozen=True)
class Row:
    """One run of the quality table; ``skipped`` says why a run did not run."""

    problem: str
    name: str
    dtype: str
    kept: float = math.nan
    loss: float = math.nan
    gap: float = math.nan
    accuracy: float | None = None
    skipped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The row as JSON data (NaN as null)."""
        return {
            key: None if isinstance(value, float) and math.isnan(value) else value
            for key, value in dataclasses.asdict(self).items()
        }


def table(rows: Sequence[Row]) -> str:
    """The rows as a text table.

    Example:
        >>> print(table([Row("regression", "a run", "float32", 1.0, 0.5, 0.0)]))
        problem     run                                 kept  final loss  vs float32  held-out
        regression  a run                            100.0 %     0.50000      +0.00 %         -
    """
    width = max([30, *(len(row.name) for row in rows)])
    lines = [
        f"{'problem':11s} {'run':{width}s} {'kept':>9s}  {'final loss':>10s}  "
        f"{'vs float32':>10s}  {'held-out':>8s}"
    ]
    for row in rows:
        if row.skipped is not None:
            lines.append(f"{row.problem:11s} {row.name:{width}s} skipped ({row.skipped})")
            continue
        accuracy = "-" if row.accuracy is None else f"{100 * row.accuracy:.1f} %"
        lines.append(
            f"{row.problem:11s} {row.name:{width}s} {100 * row.kept:7.1f} %  {row.loss:10.5f}  "
            f"{100 * row.gap:+9.2f} %  {accuracy:>8s}"
        )
    return "\n".join(lines)
