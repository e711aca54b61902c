"""``stepsize.schedules``' public names: the base class, the schedules and three functions."""

from cases.schedules import COMPOSITION_NAMES, HF_NAMES
from stepsize import schedules
from stepsize.schedules._base import schedule_class

PUBLIC = [
    "Constant",
    "ConstantWithWarmup",
    "Cosine",
    "CosineWarmupWithMinLR",
    "CosineWithMinLR",
    "CosineWithRestarts",
    "InverseSqrt",
    "Join",
    "Linear",
    "Polynomial",
    "Scale",
    "Schedule",
    "WarmupStableDecay",
    "WithWarmup",
    "from_config",
    "get",
    "names",
]


def test_all_is_the_public_surface_and_nothing_else_is_public():
    # its order is checked by ruff (RUF022, isort-style)
    assert sorted(schedules.__all__) == PUBLIC
    assert {name for name in vars(schedules) if not name.startswith("_")} == set(PUBLIC)


def test_every_registered_class_is_exported_under_one_name():
    for name in HF_NAMES + COMPOSITION_NAMES:
        cls = schedule_class(name)
        assert getattr(schedules, cls.__name__) is cls
        assert issubclass(cls, schedules.Schedule) and cls.name == name
    exported = [getattr(schedules, name) for name in PUBLIC]
    assert len({id(obj) for obj in exported}) == len(PUBLIC)
