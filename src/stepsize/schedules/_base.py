"""The `Schedule` base class and the registry of schedules by name."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar, TypeVar

from stepsize._validation import check_instance, check_int, describe
from stepsize.schedules._limits import check_config_shape, is_schedule_config
from stepsize.schedules._ops import PYTHON, ArrayNamespace, numpy_namespace

__all__ = ["Schedule", "from_config", "get", "names", "schedule_class"]

_S = TypeVar("_S", bound="Schedule")
_REGISTRY: dict[str, type[Schedule]] = {}
# Names that configs written by earlier versions use, read by `from_config` only.
_LOADING_ALIASES = {"warmup": "with_warmup"}


@dataclasses.dataclass(frozen=True)
class Schedule:
    """A learning-rate schedule: maps an optimizer step ``t >= 0`` to a float.

    Subclasses are frozen dataclasses that set ``name`` (their registry and config name,
    unique: a second class with a taken name raises ``ValueError`` when it is defined) and
    implement ``formula(step, xp)`` once against an array namespace, so the same code runs
    on Python floats (``s(t)``), on NumPy arrays (``s.values(steps)``) and on framework
    tensors (the Keras adapter). Steps count optimizer updates, from 0. A subclass whose
    values have a known bound says so with ``upper_bound`` (else ``Scale`` cannot check it).

    Example:
        >>> from stepsize import schedules
        >>> s = schedules.get("linear", num_warmup_steps=2, num_training_steps=10)
        >>> s(1), s(2), s(6)
        (0.5, 1.0, 0.5)
    """

    name: ClassVar[str] = ""
    # How deep it nests and how many schedules it holds, itself included (`_limits.hold`).
    _depth: ClassVar[int] = 1
    _size: ClassVar[int] = 1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("name")
        if not name:
            return
        taken = _REGISTRY.get(_LOADING_ALIASES.get(name, name))  # as from_config resolves it
        if taken is not None:
            raise ValueError(
                f"schedule name {name!r} of {_qualified_name(cls)} is already taken by "
                f"{_qualified_name(taken)}; give the new class another name"
            )
        _REGISTRY[name] = cls

    def formula(self, step: Any, xp: ArrayNamespace) -> Any:
        """The schedule's value at float64 ``step`` (a scalar, array or tensor).

        Written only with arithmetic operators, comparisons and ``xp``'s methods (never a
        Python ``if`` on ``step``), so it runs unchanged on floats, arrays and tensors.
        """
        raise NotImplementedError

    @property
    def upper_bound(self) -> float:
        """A bound on the values: every value lies in [0, ``upper_bound``].

        1.0 for every transformers multiplier; ``Scale``, ``Join`` and ``WithWarmup`` compute
        theirs from their parts. A subclass that does not say returns ``inf`` (unknown).

        Example:
            >>> from stepsize import schedules
            >>> schedules.Scale(schedules.get("constant"), 3e-4).upper_bound
            0.0003
        """
        return math.inf

    def _set_fields(self, **values: Any) -> None:
        # Lets ``__post_init__`` store normalized values in the frozen dataclass.
        for key, value in values.items():
            object.__setattr__(self, key, value)

    def __call__(self, step: int) -> float:
        """The value at one step, as a Python float.

        The step is evaluated as a float64: above 2**53 it is rounded to the nearest one.

        Raises:
            TypeError: if ``step`` is not an integer (a float, a bool, a string, None).
            ValueError: if ``step`` is negative or above 2**63.
        """
        check_int("step", step, low=0)
        return float(self.formula(float(step), PYTHON))

    def values(self, steps: Any) -> Any:
        """The values at many steps at once, as a float64 NumPy array (vectorized).

        Args:
            steps: an int, a sequence or an array of steps in [0, 2**63]; a float array
                is taken if it holds whole numbers. Steps are evaluated as float64, so above
                2**53 each is rounded to the nearest float64, exactly as ``s(t)`` rounds it.

        Returns:
            A NumPy float64 array shaped like ``steps``.

        Raises:
            TypeError: if ``steps`` are not numbers (strings, bools, objects).
            ValueError: if a step is negative, fractional, NaN or above 2**63.

        Example:
            >>> from stepsize import schedules
            >>> schedules.get("constant_with_warmup", num_warmup_steps=4).values(range(6))
            array([0.  , 0.25, 0.5 , 0.75, 1.  , 1.  ])
        """
        xp = numpy_namespace()
        import numpy as np

        from stepsize.schedules._steps import step_array

        array = step_array(steps)
        result = self.formula(xp.asarray(array), xp)
        return np.broadcast_to(np.asarray(result, dtype=np.float64), array.shape).copy()

    def get_config(self) -> dict[str, Any]:
        """A dict of JSON types that ``from_config`` turns back into an equal schedule."""
        config: dict[str, Any] = {"name": self.name}
        for field in dataclasses.fields(self):
            config[field.name] = _to_config(getattr(self, field.name))
        return config

    @classmethod
    def from_config(cls: type[_S], config: dict[str, Any]) -> _S:
        """Builds a schedule from ``get_config()`` output: on ``Schedule`` any registered
        one, on a subclass only that class (or one of its subclasses).

        The nested configs are checked before anything is built, without recursion: at most
        ``MAX_DEPTH`` levels and ``MAX_SCHEDULES`` schedules.

        Raises:
            TypeError: if ``config`` is not a dict, has a key that is not a string, or a
                parameter is missing, unexpected or of the wrong type.
            ValueError: if ``config`` names no schedule, an unknown one or one that is not a
                ``cls``, nests too deeply or holds too many schedules, or a parameter has a
                bad value.

        Example:
            >>> from stepsize.schedules import Cosine, Linear
            >>> Linear.from_config(Linear(2, 10).get_config())
            Linear(num_warmup_steps=2, num_training_steps=10)
            >>> Cosine.from_config(Linear(2, 10).get_config())
            Traceback (most recent call last):
            ...
            ValueError: config must describe a Cosine, got the name 'linear' (a Linear)
        """
        check_instance("config", config, dict, "a dict")
        check_config_shape(config)
        return _build(cls, config)


def _build(cls: type[_S], config: dict[str, Any]) -> _S:
    """``cls.from_config(config)`` for a config whose shape is already checked."""
    if "name" not in config:
        raise ValueError(f"config must have a 'name' key, got {describe(config)}")
    name = config["name"]
    if isinstance(name, str):
        name = _LOADING_ALIASES.get(name, name)
    found = schedule_class(name)
    if not issubclass(found, cls):
        raise ValueError(
            f"config must describe a {cls.__name__}, got the name {name!r} (a {found.__name__})"
        )
    params = {k: _from_config_value(v) for k, v in config.items() if k != "name"}
    return _construct(found, params)


def _qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _to_config(value: Any) -> Any:
    if isinstance(value, Schedule):
        return value.get_config()
    if isinstance(value, tuple | list):
        return [_to_config(v) for v in value]
    return value


def _from_config_value(value: Any) -> Any:
    # Exactly what `check_config_shape` follows: a schedule config, or a list (of them).
    if is_schedule_config(value):
        return _build(Schedule, value)
    if isinstance(value, list):
        return tuple(_build(Schedule, v) if is_schedule_config(v) else v for v in value)
    return value


def names() -> list[str]:
    """The names of every registered schedule, sorted.

    Example:
        >>> from stepsize import schedules
        >>> schedules.names()[:3]
        ['constant', 'constant_with_warmup', 'cosine']
    """
    return sorted(_REGISTRY)


def schedule_class(name: str) -> type[Schedule]:
    """The ``Schedule`` subclass registered as ``name``.

    Raises:
        TypeError: if ``name`` is not a string.
        ValueError: for an unknown name; the message lists the valid ones.

    Example:
        >>> schedule_class("linear").__name__
        'Linear'
    """
    check_instance("name", name, str, "a string")
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown schedule name {describe(name)}; valid names: {', '.join(names())}"
        ) from None


def get(name: str, **kwargs: Any) -> Schedule:
    """Builds a schedule by its name (the transformers ``SchedulerType`` value).

    Args:
        name: a registered name, e.g. ``"cosine"``; see ``names()``.
        **kwargs: the schedule's parameters, named as in transformers.

    Returns:
        The schedule object.

    Raises:
        TypeError: for a name that is not a string, a missing or unexpected keyword
            argument, or a parameter of the wrong type (each named in the message).
        ValueError: for an unknown name (the message lists the valid ones) or a bad value.

    Example:
        >>> from stepsize import schedules
        >>> schedules.get("cosine", num_warmup_steps=0, num_training_steps=4)(2)
        0.5
    """
    return _construct(schedule_class(name), kwargs)


def _construct(cls: type[_S], kwargs: dict[str, Any]) -> _S:
    # The dataclass's own TypeError would not say which schedule; these messages do.
    fields = [f for f in dataclasses.fields(cls) if f.init]
    unexpected = sorted(set(kwargs) - {f.name for f in fields})
    if unexpected:
        given = ", ".join(
            f"{k if k.isidentifier() else describe(k)}={describe(kwargs[k])}" for k in unexpected
        )
        raise TypeError(
            f"schedule {cls.name!r} got unexpected argument(s) {given}; "
            f"it takes: {', '.join(sorted(f.name for f in fields)) or 'no arguments'}"
        )
    missing = sorted(
        f.name
        for f in fields
        if f.name not in kwargs
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    )
    if missing:
        raise TypeError(
            f"schedule {cls.name!r} is missing required argument(s) {', '.join(missing)}"
        )
    return cls(**kwargs)


def from_config(config: dict[str, Any]) -> Schedule:
    """Rebuilds a schedule (nested ones too) from ``Schedule.get_config()`` output.

    ``Schedule.from_config``: any registered schedule. Configs named ``"warmup"``, which
    ``WithWarmup`` wrote before it was renamed, load as ``WithWarmup``.

    Raises:
        TypeError: if ``config`` is not a dict or a parameter has the wrong type.
        ValueError: if the config has no known ``"name"`` or a parameter a bad value.

    Example:
        >>> from stepsize import schedules
        >>> schedules.from_config({"name": "constant_with_warmup", "num_warmup_steps": 4})(1)
        0.25
    """
    return Schedule.from_config(config)
