"""``StreamingAverage``: the rolling mean ``GreedyLR`` smooths its metric with."""

from __future__ import annotations

from collections import deque
from typing import Any

from stepsize._validation import check_int

__all__ = ["StreamingAverage"]


class StreamingAverage:
    """The mean of the last ``window_size`` values, updated one value at a time.

    Raises:
        TypeError: if ``window_size`` is not an integer.
        ValueError: if ``window_size`` is below 1.

    Example:
        >>> avg = StreamingAverage(window_size=2)
        >>> avg.streamavg(1.0), avg.streamavg(2.0), avg.streamavg(4.0)
        (1.0, 1.5, 3.0)
    """

    def __init__(self, window_size: int) -> None:
        self.window_size = check_int("window_size", window_size, low=1)
        self.values: deque[float] = deque()
        self.sum = 0.0

    def streamavg(self, value: float) -> float:
        """Adds ``value`` and returns the mean of the window."""
        self.values.append(value)
        self.sum += value
        if len(self.values) > self.window_size:
            self.sum -= self.values.popleft()
        return self.sum / len(self.values)

    def state_dict(self) -> dict[str, Any]:
        """The window as plain data."""
        return {"window_size": self.window_size, "values": list(self.values), "sum": self.sum}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores ``state_dict()`` output (a missing ``window_size`` keeps the current one)."""
        self.window_size = state_dict.get("window_size", self.window_size)
        self.values = deque(state_dict.get("values", []))
        self.sum = state_dict.get("sum", 0.0)
