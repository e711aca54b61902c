"""The `Schedule` base class: an immutable, serializable function of the optimizer step."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from stepsize.schedules._checks import check_non_negative_int
from stepsize.schedules._ops import PYTHON, ArrayNamespace, numpy_namespace

__all__ = [
    "Schedule",
    "check_non_negative_int",
    "from_config",
    "get",
    "names",
    "schedule_class",
]

_REGISTRY: dict[str, type[Schedule]] = {}


@dataclasses.dataclass(frozen=True)
class Schedule:
    """A learning-rate schedule: maps an optimizer step ``t >= 0`` to a float.

    Subclasses are frozen dataclasses that set ``name`` (their registry and config name)
    and implement ``formula(step, xp)`` once against an array namespace, so the same code
    runs on Python floats (``s(t)``), on NumPy arrays (``s.values(steps)``) and on
    framework tensors (the Keras adapter). Steps count optimizer updates, from 0.

    Example:
        >>> from stepsize import schedules
        >>> s = schedules.get("linear", num_warmup_steps=2, num_training_steps=10)
        >>> s(1), s(2), s(6)
        (0.5, 1.0, 0.5)
    """

    name: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name"):
            _REGISTRY[cls.name] = cls

    def formula(self, step: Any, xp: ArrayNamespace) -> Any:
        """The schedule's value at float64 ``step`` (a scalar, array or tensor).

        Written only with arithmetic operators, comparisons and ``xp``'s methods (never a
        Python ``if`` on ``step``), so it runs unchanged on floats, arrays and tensors.
        """
        raise NotImplementedError

    def _set_fields(self, **values: Any) -> None:
        # Lets ``__post_init__`` store normalized values in the frozen dataclass.
        for key, value in values.items():
            object.__setattr__(self, key, value)

    def __call__(self, step: int) -> float:
        """The value at one step, as a Python float.

        Raises:
            ValueError: if ``step`` is not an integer >= 0.
        """
        check_non_negative_int("step", step)
        return float(self.formula(float(step), PYTHON))

    def values(self, steps: Any) -> Any:
        """The values at many steps at once, as a float64 NumPy array (vectorized).

        Args:
            steps: an int, a sequence or an array of steps >= 0.

        Returns:
            A NumPy float64 array shaped like ``steps``.

        Example:
            >>> from stepsize import schedules
            >>> schedules.get("constant_with_warmup", num_warmup_steps=4).values(range(6))
            array([0.  , 0.25, 0.5 , 0.75, 1.  , 1.  ])
        """
        xp = numpy_namespace()
        import numpy as np

        array = np.asarray(steps)
        if array.dtype.kind not in "iuf" or (array.size and not _whole_non_negative(np, array)):
            raise ValueError(f"steps must be integers >= 0, got {steps!r}")
        result = self.formula(xp.asarray(array), xp)
        return np.broadcast_to(np.asarray(result, dtype=np.float64), array.shape).copy()

    def get_config(self) -> dict[str, Any]:
        """A dict of JSON types that ``from_config`` turns back into an equal schedule."""
        config: dict[str, Any] = {"name": self.name}
        for field in dataclasses.fields(self):
            config[field.name] = _to_config(getattr(self, field.name))
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Schedule:
        """Builds a schedule from ``get_config()`` output (any registered schedule)."""
        return from_config(config)


def _whole_non_negative(np: Any, array: Any) -> bool:
    if array.min() < 0:
        return False
    if array.dtype.kind == "f":
        return bool(np.all(np.isfinite(array)) and np.all(array == np.floor(array)))
    return True


def _to_config(value: Any) -> Any:
    if isinstance(value, Schedule):
        return value.get_config()
    if isinstance(value, tuple | list):
        return [_to_config(v) for v in value]
    return value


def _from_config_value(value: Any) -> Any:
    if isinstance(value, dict) and "name" in value:
        return from_config(value)
    if isinstance(value, list):
        return tuple(_from_config_value(v) for v in value)
    return value


def names() -> list[str]:
    """The names of every registered schedule, sorted."""
    return sorted(_REGISTRY)


def schedule_class(name: str) -> type[Schedule]:
    """The ``Schedule`` subclass registered as ``name``.

    Raises:
        ValueError: for an unknown name; the message lists the valid ones.

    Example:
        >>> from stepsize import schedules
        >>> schedules.schedule_class("linear").__name__
        'Linear'
    """
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown schedule name {name!r}; valid names: {', '.join(names())}"
        ) from None


def get(name: str, **kwargs: Any) -> Schedule:
    """Builds a schedule by its name (the transformers ``SchedulerType`` value).

    Args:
        name: a registered name, e.g. ``"cosine"``; see ``names()``.
        **kwargs: the schedule's parameters, named as in transformers.

    Returns:
        The schedule object.

    Raises:
        ValueError: for an unknown name (the message lists the valid ones) or a bad value.
        TypeError: for a missing or unexpected keyword argument (named in the message).

    Example:
        >>> from stepsize import schedules
        >>> schedules.get("cosine", num_warmup_steps=0, num_training_steps=4)(2)
        0.5
    """
    cls = schedule_class(name)
    field_names = {f.name for f in dataclasses.fields(cls) if f.init}
    unexpected = sorted(set(kwargs) - field_names)
    if unexpected:
        raise TypeError(
            f"schedule {name!r} got unexpected argument(s) {', '.join(unexpected)}; "
            f"it takes: {', '.join(sorted(field_names)) or 'no arguments'}"
        )
    missing = sorted(
        f.name
        for f in dataclasses.fields(cls)
        if f.init
        and f.name not in kwargs
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    )
    if missing:
        raise TypeError(f"schedule {name!r} is missing required argument(s) {', '.join(missing)}")
    return cls(**kwargs)


def from_config(config: dict[str, Any]) -> Schedule:
    """Rebuilds a schedule (nested ones too) from ``Schedule.get_config()`` output.

    Raises:
        ValueError: if the config has no known ``"name"``.
    """
    if not isinstance(config, dict) or "name" not in config:
        raise ValueError(f"a schedule config is a dict with a 'name' key, got {config!r}")
    params = {k: _from_config_value(v) for k, v in config.items() if k != "name"}
    return get(config["name"], **params)
