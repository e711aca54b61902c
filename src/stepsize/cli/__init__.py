"""The ``stepsize`` command: list, show and plot schedules; run the demo and the benchmarks.

Example:
    >>> from stepsize.cli import main
    >>> main(["show", "linear", "--warmup-steps", "1", "--training-steps", "2", "--format", "csv"])
    step,multiplier,lr
    0,0.0,0.0
    1,1.0,1.0
    2,0.0,0.0
    0
"""

from stepsize.cli._main import main

__all__ = ["main"]
