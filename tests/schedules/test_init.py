"""``stepsize.schedules``' public names: the base class, the schedules, three functions and the
two nesting limits."""

from cases.schedules import COMPOSITION_NAMES, HF_NAMES
from stepsize import schedules
from stepsize.schedules._base import schedule_class


def _public_names():
    """Every registered schedule class, the base class, the three registry functions and the
    nesting limits."""
    classes = {schedule_class(name).__name__ for name in schedules.names()}
    return sorted(
        classes | {"Schedule", "from_config", "get", "names", "MAX_DEPTH", "MAX_SCHEDULES"}
    )


def test_all_is_the_public_surface_and_nothing_else_is_public():
    # its order is checked by ruff (RUF022, isort-style)
    assert sorted(schedules.__all__) == _public_names()
    assert len(_public_names()) == len(HF_NAMES + COMPOSITION_NAMES) + 6
    assert {name for name in vars(schedules) if not name.startswith("_")} == set(_public_names())
    internals = ("ArrayNamespace", "PYTHON", "numpy_namespace", "schedule_class", "warmup",
                 "Multiplier")  # fmt: skip
    for internal in internals:
        assert not hasattr(schedules, internal)


def test_every_registered_class_is_exported_under_one_name():
    for name in HF_NAMES + COMPOSITION_NAMES:
        cls = schedule_class(name)
        assert getattr(schedules, cls.__name__) is cls
        assert issubclass(cls, schedules.Schedule) and cls.name == name
    exported = [getattr(schedules, name) for name in _public_names() if not name.isupper()]
    assert len({id(obj) for obj in exported}) == len(exported)  # one name per concept
