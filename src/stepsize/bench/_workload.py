"""The benchmark workload: a BERT-like set of named parameter tensors, as plain data.

One definition for every benchmark: the torch benchmark builds parameters of these shapes,
the TensorFlow one builds variables named after them, so both step the same tensors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["QUICK", "Workload"]

HIDDEN = 768
VOCAB = 30522
POSITIONS = 512
TYPES = 2
LAYERS = 4
SWEEP_WIDTHS = range(8, HIDDEN + 1, 8)


@dataclass(frozen=True)
class Workload:
    """The parameters of a BERT-base-like encoder: embeddings and ``layers`` encoder layers.

    Each layer has four ``hidden``×``hidden`` attention projections, a ``4·hidden``-wide
    feed-forward block, biases and two LayerNorms, as BERT-base; the word embeddings keep
    BERT's 30,522 rows. Names are those of transformers' PyTorch BERT, so name rules (no
    weight decay for ``LayerNorm`` and ``bias``) apply as in training; shapes are
    (out features, in features).

    Args:
        layers: encoder layers, >= 0.
        hidden: width of the encoder, >= 1.

    Example:
        >>> workload = Workload()
        >>> len(workload.tensors()), workload.parameters
        (69, 52188672)
        >>> workload.tensors()[-1]
        ('bert.encoder.layer.3.output.LayerNorm.bias', (768,))
    """

    layers: int = LAYERS
    hidden: int = HIDDEN

    def __post_init__(self) -> None:
        if self.layers < 0 or self.hidden < 1:
            raise ValueError(
                f"a workload needs layers >= 0 and hidden >= 1, got {self.layers}, {self.hidden}"
            )

    def tensors(self) -> list[tuple[str, tuple[int, ...]]]:
        """(name, shape) of every parameter tensor, in model order."""
        hidden, intermediate = self.hidden, 4 * self.hidden
        tensors: list[tuple[str, tuple[int, ...]]] = []

        def linear(name: str, fan_in: int, fan_out: int) -> None:
            tensors.extend([(f"{name}.weight", (fan_out, fan_in)), (f"{name}.bias", (fan_out,))])

        def layer_norm(name: str) -> None:
            tensors.extend(
                [(f"{name}.LayerNorm.weight", (hidden,)), (f"{name}.LayerNorm.bias", (hidden,))]
            )

        for table, rows in (("word", VOCAB), ("position", POSITIONS), ("token_type", TYPES)):
            tensors.append((f"bert.embeddings.{table}_embeddings.weight", (rows, hidden)))
        layer_norm("bert.embeddings")
        for index in range(self.layers):
            layer = f"bert.encoder.layer.{index}"
            for projection in ("query", "key", "value"):
                linear(f"{layer}.attention.self.{projection}", hidden, hidden)
            linear(f"{layer}.attention.output.dense", hidden, hidden)
            layer_norm(f"{layer}.attention.output")
            linear(f"{layer}.intermediate.dense", hidden, intermediate)
            linear(f"{layer}.output.dense", intermediate, hidden)
            layer_norm(f"{layer}.output")
        return tensors

    def shapes(self) -> list[tuple[int, ...]]:
        """The shape of every parameter tensor, in model order."""
        return [shape for _, shape in self.tensors()]

    @property
    def parameters(self) -> int:
        """Number of parameters (elements of all tensors)."""
        return sum(math.prod(shape) for shape in self.shapes())

    def describe(self) -> dict[str, Any]:
        """The workload as JSON-able data (for the benchmark's JSON table)."""
        return {
            "name": "BERT-like",
            "layers": self.layers,
            "hidden": self.hidden,
            "tensors": len(self.tensors()),
            "parameters": self.parameters,
        }

    @classmethod
    def scaled(cls, target: int) -> Workload:
        """A workload of about ``target`` parameters, for scaling sweeps.

        The width is kept and the layer count chosen; below one layer's size the width (a
        multiple of 8) shrinks instead, so every size keeps a mix of matrices and vectors.

        Example:
            >>> Workload.scaled(100_000_000)
            Workload(layers=11, hidden=768)
        """
        base = cls(layers=0).parameters
        per_layer = cls(layers=1).parameters - base
        if target >= base + per_layer:
            return cls(layers=max(1, round((target - base) / per_layer)))
        hidden = min(SWEEP_WIDTHS, key=lambda width: abs(cls(1, width).parameters - target))
        return cls(layers=1, hidden=hidden)


QUICK = Workload(layers=1, hidden=64)
"""The ``--quick`` workload: ≈2M parameters, a few seconds for every contestant."""
