"""``StreamingAverage``: the rolling mean ``GreedyLR`` smooths its metric with."""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from stepsize._validation import check_instance, check_int, check_real, check_sequence, describe

__all__ = ["StreamingAverage"]

_KEYS = ("window_size", "values", "sum")


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
        """Adds ``value`` and returns the mean of the window.

        The sum is exact (``math.fsum``) rather than a running one, so a huge metric leaves no
        rounding error behind once it has left the window; a sum beyond the float range
        gives the mean of the scaled values.

        Raises:
            TypeError: if ``value`` is not a real number.
            ValueError: if it is NaN or infinite (it would poison every later mean).
        """
        self.values.append(float(check_real("value", value)))
        if len(self.values) > self.window_size:
            self.values.popleft()
        count = len(self.values)
        try:
            self.sum = math.fsum(self.values)
        except OverflowError:  # the sum overflows; the mean, at most the largest value, does not
            self.sum = sum(self.values)
            return math.fsum(v / count for v in self.values)
        return self.sum / count

    def state_dict(self) -> dict[str, Any]:
        """The window as plain data."""
        return {"window_size": self.window_size, "values": list(self.values), "sum": self.sum}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores ``state_dict()`` output, checked first: a rejected one changes nothing.

        A missing ``window_size`` keeps the current one, a missing ``sum`` is the values' sum.

        Raises:
            TypeError: if ``state_dict`` is not a dict or an entry has the wrong type.
            ValueError: for an unknown key, a window size below 1, a NaN or infinite value, a
                NaN sum, or more values than the window holds.
        """
        window_size, values, total = checked_window(state_dict, self.window_size)
        self.window_size = window_size
        self.values = deque(values)
        self.sum = total


def checked_window(
    state_dict: Any, window_size: int, argument: str = "state_dict"
) -> tuple[int, list[float], float]:
    """The window size, values and sum of a ``StreamingAverage.state_dict()``, checked.

    ``window_size`` is taken when the state has none; ``argument`` names the state dict in
    messages (``GreedyLR`` passes ``state_dict['_streaming_avg']``).
    """
    check_instance(argument, state_dict, dict, "a dict")
    unknown = [key for key in state_dict if key not in _KEYS]
    if unknown:
        raise ValueError(
            f"{argument} must hold only the keys {', '.join(_KEYS)}, got {describe(unknown)}"
        )
    size = state_dict.get("window_size", window_size)
    size = check_int(f"{argument}['window_size']", size, low=1)
    items = check_sequence(f"{argument}['values']", state_dict.get("values", []))
    values = [float(check_real(f"{argument}['values'][{i}]", v)) for i, v in enumerate(items)]
    if len(values) > size:
        raise ValueError(
            f"{argument}['values'] must hold at most window_size={size} values, got {len(values)}"
        )
    # The running sum may be inf while the window's true sum overflows (see streamavg).
    total = check_real(f"{argument}['sum']", state_dict.get("sum", sum(values)), allow_inf=True)
    return size, values, float(total)
