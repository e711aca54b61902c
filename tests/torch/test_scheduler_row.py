"""``SchedulerRow``: a table row becomes a function with the row's signature and docstring."""

from __future__ import annotations

import inspect

import pytest

torch = pytest.importorskip("torch")

from stepsize import schedules  # noqa: E402
from stepsize.torch import ScheduledLR, _scheduler_row  # noqa: E402
from stepsize.torch._scheduler_row import SchedulerRow  # noqa: E402


def _row(**changes):
    fields = {
        "function": "get_example_schedule",
        "schedule": "linear",
        "parameters": (
            ("num_warmup_steps", int),
            ("num_training_steps", int, 8),
            ("last_epoch", int, -1),
        ),
        "summary": "An example.",
        "arguments": "num_warmup_steps: warmup.\nnum_training_steps: total.",
        "example_call": "num_warmup_steps=2",
        "example_lrs": "[0.0, 0.5, 1.0, 0.8333, 0.6667, 0.5]",
        **changes,
    }
    return SchedulerRow(**fields)


def _optimizer():
    return torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=2.0)


def test_the_function_has_the_rows_signature_names_and_docstring():
    function = _row().build("some.module")
    parameters = inspect.signature(function).parameters
    assert [(p.name, p.kind, p.default) for p in parameters.values()] == [
        ("optimizer", inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.empty),
        ("num_warmup_steps", inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.empty),
        ("num_training_steps", inspect.Parameter.POSITIONAL_OR_KEYWORD, 8),
        ("last_epoch", inspect.Parameter.POSITIONAL_OR_KEYWORD, -1),
        ("follow_optimizer", inspect.Parameter.KEYWORD_ONLY, False),
    ]
    assert (function.__name__, function.__qualname__) == ("get_example_schedule",) * 2
    assert function.__module__ == "some.module"
    assert function.__doc__ == _row().docstring()
    assert function.__doc__.startswith("An example.\n\nArgs:\n    optimizer: ")
    assert "\n    num_training_steps: total.\n" in function.__doc__
    assert ">>> scheduler = get_example_schedule(optimizer, num_warmup_steps=2)" in function.__doc__


def test_the_function_builds_the_schedule_and_passes_last_epoch_on():
    optimizer = _optimizer()
    scheduler = _row().build(__name__)(optimizer, 2, last_epoch=-1)
    assert isinstance(scheduler, ScheduledLR)
    assert scheduler.schedules == [schedules.Linear(num_warmup_steps=2, num_training_steps=8)]
    optimizer.param_groups[0]["initial_lr"] = 2.0
    resumed = _row().build(__name__)(optimizer, 2, last_epoch=3)
    assert resumed.last_epoch == 4


def test_the_hook_turns_the_arguments_into_the_schedules():
    seen = []

    def hook(optimizer, arguments):
        seen.append((optimizer, dict(arguments)))
        return {**arguments, "num_training_steps": 20}

    optimizer = _optimizer()
    scheduler = _row(hook=hook).build(__name__)(optimizer, 2)
    assert seen == [(optimizer, {"num_warmup_steps": 2, "num_training_steps": 8})]
    assert scheduler.schedules[0].num_training_steps == 20


def test_a_scheduled_lr_keyword_is_one_entry(monkeypatch):
    # How a later ScheduledLR option reaches every function: one SCHEDULED_LR_KEYWORDS entry.
    received = {}

    def recording_scheduled_lr(optimizer, schedule, **options):
        received.update(options)

    keyword = inspect.Parameter("probe", inspect.Parameter.KEYWORD_ONLY, default=False)
    monkeypatch.setattr(_scheduler_row, "SCHEDULED_LR_KEYWORDS", (keyword,))
    monkeypatch.setattr(_scheduler_row, "ScheduledLR", recording_scheduled_lr)
    function = _row().build(__name__)
    assert list(inspect.signature(function).parameters)[-2:] == ["last_epoch", "probe"]
    function(_optimizer(), 2, probe=True)
    assert received == {"last_epoch": -1, "probe": True}
    with pytest.raises(TypeError, match=r"^get_example_schedule\(\) too many"):
        function(_optimizer(), 2, 8, -1, True)
