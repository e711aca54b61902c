"""``stepsize.schedules``' public names."""

from cases.schedules import COMPOSITION_NAMES, HF_NAMES
from stepsize import schedules


def test_all_is_complete():
    # its order is checked by ruff (RUF022, isort-style)
    assert len(set(schedules.__all__)) == len(schedules.__all__)
    for name in schedules.__all__:
        assert hasattr(schedules, name), name


def test_every_registered_class_is_exported():
    for name in HF_NAMES + COMPOSITION_NAMES:
        cls = schedules.schedule_class(name)
        assert getattr(schedules, cls.__name__) is cls
        assert issubclass(cls, schedules.Schedule) and cls.name == name
