"""The text demo: a character-level language model on Python's standard library, trained twice.

Both runs use ``stepsize.torch.AdamW`` over ``param_groups`` (no weight decay on biases, norms
and embeddings' norms), linear warmup and cosine decay, and ``GradientAccumulation`` over 4
length-grouped micro-batches with clipping, from the same initial weights and data order:

1. token-weighted: each micro-batch's summed loss with its token count,
   ``acc.backward(loss_sum, num_items=tokens)``: the update is the gradient of the window's
   mean loss per token, as on one big batch;
2. mean per micro-batch: each micro-batch's mean loss, averaged over the window: a token of a
   short micro-batch weighs more than one of a long micro-batch.

The held-out loss per token shows what the weighting does.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from stepsize.cli._demo_report import Run
from stepsize.cli._demo_text_data import MAX_CHARS, VOCAB, TextData, micro_batches
from stepsize.cli._demo_torch import one_thread

__all__ = [
    "HYPERPARAMETERS",
    "PARAGRAPHS",
    "RUNS",
    "CharModel",
    "comparison",
    "paragraphs",
    "train",
    "train_all",
]

# Paragraphs read (train and held-out together): all of a full run, fewer for --quick.
PARAGRAPHS = {"full": 3000, "quick": 600}

HYPERPARAMETERS: dict[str, Any] = {
    "micro_batch": 8,
    "accumulation_steps": 4,
    "lr": 1e-2,
    "weight_decay": 0.01,
    "warmup_fraction": 0.1,
    "max_grad_norm": 1.0,
    "d_model": 32,
    "heads": 4,
    "layers": 2,
}

# name -> (label, how each micro-batch's loss is weighted)
RUNS = {
    "token-weighted": ("token-weighted accumulation", "tokens"),
    "mean-per-micro-batch": ("mean loss per micro-batch", "micro-batches"),
}


class CharModel(torch.nn.Module):
    """A small causal transformer over character codes: logits for the next character.

    Example:
        >>> model = CharModel(d_model=16, heads=2, layers=1)
        >>> model(torch.zeros(3, 7, dtype=torch.long)).shape
        torch.Size([3, 7, 128])
    """

    def __init__(self, d_model: int = 32, heads: int = 4, layers: int = 2) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(VOCAB, d_model)
        self.position = torch.nn.Embedding(MAX_CHARS, d_model)
        layer = torch.nn.TransformerEncoderLayer(
            d_model, heads, 4 * d_model, dropout=0.0, batch_first=True, norm_first=True
        )
        self.layers = torch.nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = torch.nn.LayerNorm(d_model)
        self.head = torch.nn.Linear(d_model, VOCAB)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        length = codes.shape[1]
        hidden = self.embed(codes) + self.position(torch.arange(length, device=codes.device))
        mask = torch.nn.Transformer.generate_square_subsequent_mask(length, device=codes.device)
        return self.head(self.norm(self.layers(hidden, mask=mask, is_causal=True)))


def _batch(sequences: list[Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and next-character targets, padded; padding targets are -100 (ignored)."""
    width = max(len(s) for s in sequences) - 1
    inputs = np.zeros((len(sequences), width), dtype=np.int64)
    targets = np.full((len(sequences), width), -100, dtype=np.int64)
    for row, sequence in enumerate(sequences):
        inputs[row, : len(sequence) - 1] = sequence[:-1]
        targets[row, : len(sequence) - 1] = sequence[1:]
    return torch.from_numpy(inputs), torch.from_numpy(targets)


def _summed_loss(model: torch.nn.Module, sequences: list[Any]) -> tuple[torch.Tensor, int, int]:
    """The micro-batch's summed cross-entropy, its token count and its correct predictions."""
    inputs, targets = _batch(sequences)
    logits = model(inputs)
    loss = torch.nn.functional.cross_entropy(
        logits.reshape(-1, VOCAB), targets.reshape(-1), ignore_index=-100, reduction="sum"
    )
    valid = targets != -100
    correct = int((logits.argmax(-1)[valid] == targets[valid]).sum())
    return loss, int(valid.sum()), correct


def _evaluate(model: torch.nn.Module, sequences: list[Any]) -> tuple[float, float]:
    """Held-out next-character accuracy and loss per token."""
    model.eval()
    total, tokens, correct = 0.0, 0, 0
    ordered = sorted(sequences, key=len)
    with torch.no_grad():
        for start in range(0, len(ordered), 64):
            loss, count, right = _summed_loss(model, ordered[start : start + 64])
            total, tokens, correct = total + loss.item(), tokens + count, correct + right
    model.train()
    return correct / tokens, total / tokens


def train(name: str, data: TextData, *, epochs: int, seed: int, progress: bool) -> Run:
    """Trains a fresh ``CharModel`` with run ``name`` (a key of ``RUNS``).

    Returns:
        The finished ``Run``: lr and training loss per token per update, held-out accuracy
        and loss per token per epoch.
    """
    from stepsize.torch import (
        AdamW,
        GradientAccumulation,
        get_cosine_schedule_with_warmup,
        param_groups,
    )

    hp = HYPERPARAMETERS
    label, weighting = RUNS[name]
    lengths = [len(s) for s in data.train]
    per_epoch = math.ceil(len(lengths) / hp["micro_batch"])
    updates = epochs * math.ceil(per_epoch / hp["accumulation_steps"])
    warmup = int(hp["warmup_fraction"] * updates)

    torch.manual_seed(seed)  # the same initial weights for both runs
    model = CharModel(hp["d_model"], hp["heads"], hp["layers"])
    optimizer = AdamW(param_groups(model, lr=hp["lr"], weight_decay=hp["weight_decay"]))
    scheduler = get_cosine_schedule_with_warmup(optimizer, warmup, updates)
    acc = GradientAccumulation(
        model,
        optimizer,
        scheduler,
        steps=hp["accumulation_steps"],
        max_grad_norm=hp["max_grad_norm"],
    )
    details = {
        "optimizer": "stepsize.torch.AdamW",
        "schedule": "cosine",
        "weighting": weighting,
        "num_warmup_steps": warmup,
        "num_training_steps": updates,
        "hyperparameters": hp,
    }
    run = Run(name, label, steps=updates, progress=progress, details=details)
    rng = np.random.default_rng(seed)  # the same data order for both runs
    for _ in range(epochs):
        window_loss, window_tokens = 0.0, 0
        for batch in acc.iterate(micro_batches(lengths, hp["micro_batch"], rng)):
            lr = optimizer.param_groups[0]["lr"]
            with acc.accumulate():
                loss, tokens, _ = _summed_loss(model, [data.train[i] for i in batch])
                if weighting == "tokens":
                    acc.backward(loss, num_items=tokens)
                else:
                    acc.backward(loss / tokens)
            window_loss, window_tokens = window_loss + loss.item(), window_tokens + tokens
            if acc.pending == 0:  # this micro-batch completed an update
                run.update(lr=lr, loss=window_loss / window_tokens)
                window_loss, window_tokens = 0.0, 0
        run.end_epoch(*_evaluate(model, data.test))
    return run.close()


def train_all(data: TextData, *, epochs: int, seed: int, progress: bool) -> list[Run]:
    """Trains both runs of ``RUNS``, on one CPU thread (the tensors are small)."""
    with one_thread():
        return [train(name, data, epochs=epochs, seed=seed, progress=progress) for name in RUNS]


def paragraphs(quick: bool) -> int:
    """How many paragraphs the run reads (``PARAGRAPHS``)."""
    return PARAGRAPHS["quick" if quick else "full"]


def comparison(runs: list[Run]) -> str:
    """The held-out loss per token of both runs and their difference, one line.

    Example:
        >>> runs = [Run(name, name, steps=0, progress=False) for name in RUNS]
        >>> for run, loss in zip(runs, (2.0, 2.5)):
        ...     run.end_epoch(accuracy=0.5, test_loss=loss)
        >>> print(comparison(runs))
        held-out loss per token: 2.0000 token-weighted, 2.5000 mean per micro-batch (+0.5000)
    """
    weighted, mean = (run.epochs[-1]["test_loss"] for run in runs)
    return (
        f"held-out loss per token: {weighted:.4f} token-weighted, {mean:.4f} mean per "
        f"micro-batch ({mean - weighted:+.4f})"
    )
