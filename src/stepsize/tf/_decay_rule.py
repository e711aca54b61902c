"""Which variables ``AdamWeightDecay`` decays: transformers' pattern rule on variable paths.

Example:
    >>> is_decayed("encoder/LayerNorm/gamma", 0.01, None, ["LayerNorm", "bias"])
    False
    >>> is_decayed("encoder/LayerNorm/gamma", 0.01, ["gamma"], ["LayerNorm", "bias"])
    True
"""

from __future__ import annotations

import re
from typing import Any

from stepsize._validation import check_instance, check_sequence, describe

__all__ = ["check_patterns", "is_decayed"]


def check_patterns(argument: str, value: Any) -> list[str] | None:
    """Returns ``value`` as a list of regular-expression strings, or None for None.

    Args:
        argument: the parameter name used in the message.
        value: None, or a list or tuple of regular expressions.

    Raises:
        TypeError: if ``value`` is not a list or tuple (a bare string included) or holds
            something other than a string.
        ValueError: if a pattern is not a valid regular expression.

    Example:
        >>> check_patterns("exclude_from_weight_decay", ("LayerNorm", "bias$"))
        ['LayerNorm', 'bias$']
    """
    if value is None:
        return None
    patterns = list(check_sequence(argument, value))
    for index, pattern in enumerate(patterns):
        name = f"{argument}[{index}]"
        check_instance(name, pattern, str, "a regular-expression string")
        try:
            re.compile(pattern)
        except re.error as error:
            raise ValueError(
                f"{name} must be a valid regular expression, got {describe(pattern)} ({error})"
            ) from None
    return patterns


def is_decayed(
    path: str,
    weight_decay_rate: float,
    include: list[str] | None,
    exclude: list[str] | None,
) -> bool:
    """Whether the variable at ``path`` is decayed.

    Never when ``weight_decay_rate`` is 0; else always when an ``include`` pattern is found
    in ``path`` (``re.search``), and otherwise unless an ``exclude`` pattern is.

    Args:
        path: the variable's path (e.g. ``"encoder/layer_norm/gamma"``).
        weight_decay_rate: the decay rate.
        include: patterns of variables always decayed, or None.
        exclude: patterns of variables not decayed, or None.

    Returns:
        True if the variable is decayed.
    """
    if weight_decay_rate == 0:
        return False
    if any(re.search(pattern, path) for pattern in include or ()):
        return True
    return not any(re.search(pattern, path) for pattern in exclude or ())
