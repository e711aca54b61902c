"""What the demo records while training, and how it reports it: table, JSON, PNG plots.

``Run`` is framework-free: the PyTorch and Keras trainers call ``update`` after every
optimizer update and ``end_epoch`` after every held-out evaluation.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["FILES", "Run", "plot_loss", "plot_lr", "table", "write_json", "write_outputs"]

# The files the demo writes into its output folder.
FILES = {"lr": "lr.png", "loss": "loss.png", "metrics": "metrics.json"}


class Run:
    """The record of one training run, with an optional tqdm progress bar (to stderr).

    Args:
        name: a short key, e.g. ``"stepsize-adamw"``.
        label: what the run is, for the table and the plots.
        steps: the number of optimizer updates planned (the bar's length).
        progress: whether to show a progress bar.
        details: JSON-able facts about the run (optimizer, schedule, batch sizes).
        baseline: whether the run is a reference to compare with (drawn dashed).

    Example:
        >>> run = Run("a", "A", steps=2, progress=False)
        >>> run.update(lr=0.1, loss=2.0); run.update(lr=0.05, loss=1.0)
        >>> run.end_epoch(accuracy=0.5, test_loss=1.5)
        >>> run.close().final_loss, run.final_accuracy
        (1.5, 0.5)
    """

    def __init__(
        self,
        name: str,
        label: str,
        *,
        steps: int,
        progress: bool = True,
        details: dict[str, Any] | None = None,
        baseline: bool = False,
    ) -> None:
        self.name = name
        self.baseline = baseline
        self.label = label
        self.steps = steps
        self.details = dict(details or {})
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.epochs: list[dict[str, float]] = []
        self.step_seconds: list[float] = []
        self.artifacts: dict[str, Any] = {}  # objects for the caller (e.g. weights), not written
        self.wall_s = 0.0
        self._epoch_start = 0
        self._started = time.perf_counter()
        self._last: float | None = None
        self._bar: Any = None
        if progress:
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=steps, desc=f"{label:<38.38}", unit="step", file=sys.stderr, leave=True
            )

    def update(self, lr: float, loss: float) -> None:
        """Records one optimizer update: the lr it used and its training loss."""
        now = time.perf_counter()
        if self._last is not None:
            self.step_seconds.append(now - self._last)
        self._last = now
        self.lrs.append(float(lr))
        self.losses.append(float(loss))
        if self._bar is not None:
            self._bar.update(1)
            if len(self.losses) % 10 == 0:
                self._bar.set_postfix(self._postfix(loss), refresh=False)

    def end_epoch(self, accuracy: float, test_loss: float) -> None:
        """Records the held-out accuracy and loss after an epoch."""
        train = self.losses[self._epoch_start :]
        self.epochs.append(
            {
                "epoch": len(self.epochs) + 1,
                "train_loss": sum(train) / len(train) if train else math.nan,
                "test_accuracy": float(accuracy),
                "test_loss": float(test_loss),
                "steps": len(self.losses),
            }
        )
        self._epoch_start = len(self.losses)
        self._last = None  # evaluation time is not a step
        if self._bar is not None:
            self._bar.set_postfix(self._postfix(self.final_loss))

    def _postfix(self, loss: float) -> dict[str, str]:
        postfix = {"loss": f"{loss:.3f}"}
        if self.epochs:
            postfix["held-out acc"] = f"{self.final_accuracy:.3f}"
        return postfix

    def close(self) -> Run:
        """Stops the clock and the progress bar; returns the run."""
        self.wall_s = time.perf_counter() - self._started
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        return self

    @property
    def final_accuracy(self) -> float:
        """Held-out accuracy after the last epoch (NaN before any)."""
        return self.epochs[-1]["test_accuracy"] if self.epochs else math.nan

    @property
    def final_loss(self) -> float:
        """Mean training loss over the last epoch's updates (NaN before any)."""
        return self.epochs[-1]["train_loss"] if self.epochs else math.nan

    @property
    def ms_per_step(self) -> float:
        """Median time between consecutive updates of an epoch, in ms (NaN if unmeasured)."""
        return 1000 * statistics.median(self.step_seconds) if self.step_seconds else math.nan

    def to_dict(self) -> dict[str, Any]:
        """Everything recorded, as JSON types."""
        return {
            "name": self.name,
            "label": self.label,
            "baseline": self.baseline,
            **self.details,
            "final_accuracy": self.final_accuracy,
            "final_loss": self.final_loss,
            "ms_per_step": self.ms_per_step,
            "wall_s": self.wall_s,
            "steps": len(self.losses),
            "epochs": self.epochs,
            "lr": self.lrs,
            "loss": self.losses,
        }


def table(runs: list[Run]) -> str:
    """The summary table: one row per run.

    Example:
        >>> run = Run("a", "A", steps=1, progress=False)
        >>> run.update(lr=0.1, loss=0.5); run.end_epoch(accuracy=0.9, test_loss=0.4)
        >>> print(table([run.close()]).splitlines()[0])
        optimizer                                held-out acc  final loss  ms/step  wall s
    """
    width = max([40, *(len(run.label) for run in runs)])
    lines = [f"{'optimizer':<{width}} {'held-out acc':>12}  {'final loss':>10}  ms/step  wall s"]
    for run in runs:
        lines.append(
            f"{run.label:<{width}} {100 * run.final_accuracy:>10.1f} %  {run.final_loss:>10.4f}"
            f"  {run.ms_per_step:>7.1f}  {run.wall_s:>6.1f}"
        )
    return "\n".join(lines)


def _json_safe(value: Any) -> Any:
    # JSON has no NaN/inf: write them as null so every reader can load the file.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def write_json(path: Path, meta: dict[str, Any], runs: list[Run]) -> None:
    """Writes ``meta`` and every run's record to ``path`` (NaN written as null)."""
    document = {**meta, "runs": [run.to_dict() for run in runs]}
    path.write_text(json.dumps(_json_safe(document), indent=1) + "\n", encoding="utf-8")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _style(run: Run) -> str:
    # Baselines dashed, so a curve that coincides with another stays visible.
    return "--" if run.baseline else "-"


def plot_lr(runs: list[Run], path: Path, title: str) -> None:
    """Draws every run's learning rate per optimizer update into a PNG."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for run in runs:
        ax.plot(range(len(run.lrs)), run.lrs, _style(run), label=run.label)
    ax.set_xlabel("optimizer update")
    ax.set_ylabel("learning rate")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _smooth(values: list[float], window: int) -> list[float]:
    # A trailing mean, so the curves stay readable at one point per update.
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def plot_loss(runs: list[Run], path: Path, title: str) -> None:
    """Draws training loss per update (left) and held-out accuracy per epoch (right)."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for run in runs:
        window = max(1, len(run.losses) // 50)
        (line,) = left.plot(_smooth(run.losses, window), _style(run), label=run.label)
        epochs = [e["epoch"] for e in run.epochs]
        accuracy = [100 * e["test_accuracy"] for e in run.epochs]
        right.plot(epochs, accuracy, _style(run), marker=".", color=line.get_color())
    left.set_yscale("log")
    left.set_xlabel("optimizer update")
    left.set_ylabel("training loss (trailing mean)")
    left.grid(alpha=0.3)
    left.legend(fontsize=8)
    right.set_xlabel("epoch")
    right.set_ylabel("held-out accuracy (%)")
    right.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_outputs(out: Path, meta: dict[str, Any], runs: list[Run], title: str) -> list[Path]:
    """Writes the LR plot, the loss plot and the metrics JSON into ``out`` (created).

    Returns:
        The paths written.
    """
    out.mkdir(parents=True, exist_ok=True)
    paths = {key: out / name for key, name in FILES.items()}
    plot_lr(runs, paths["lr"], f"{title}: learning rate")
    plot_loss(runs, paths["loss"], f"{title}: training")
    write_json(paths["metrics"], meta, runs)
    return list(paths.values())
