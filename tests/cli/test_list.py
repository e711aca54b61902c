"""``stepsize list``."""

import dataclasses

from stepsize import schedules
from stepsize.cli import main
from stepsize.cli._list import format_parameters
from stepsize.schedules._base import schedule_class


def test_lists_every_name_with_its_parameters_and_defaults(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in schedules.names():
        assert f"\n{name}\n" in f"\n{out}"
        assert f"parameters: {format_parameters(name)}" in out
    assert "num_warmup_steps, num_training_steps, num_cycles=0.5" in out
    assert "lr_init=1.0, lr_end=1e-07, power=1.0" in out
    assert "warmup_type='linear', decay_type='cosine'" in out
    assert "(no parameters)" in out  # constant


def test_format_parameters_follows_the_dataclass_fields():
    for name in schedules.names():
        fields = [f for f in dataclasses.fields(schedule_class(name)) if f.init]
        text = format_parameters(name)
        for field in fields:
            if field.default is dataclasses.MISSING:
                assert field.name in text.split(", ")
            else:
                assert f"{field.name}={field.default!r}" in text
