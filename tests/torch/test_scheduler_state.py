"""Loading the schedulers' (and the accumulation helper's) state: every entry is checked before
anything changes; a rejected state raises TypeError/ValueError naming the entry and leaves the
object and the optimizer exactly as they were."""

from __future__ import annotations

import math
import re

import pytest

torch = pytest.importorskip("torch")

from cases import scheduler_states as cases  # noqa: E402
from stepsize.torch._scheduler_state import lr_value  # noqa: E402

LINEAR = {"name": "linear", "num_warmup_steps": 2, "num_training_steps": 10}


def _nested(depth):
    config = LINEAR
    for _ in range(depth):
        config = {"name": "scale", "schedule": config, "factor": 1.0}
    return config


# (object, entries replacing the saved ones, exception, the start of the message)
BAD_LOADS = [
    ("ScheduledLR", {"base_lrs": [math.nan, 0.05]}, ValueError,
     "state_dict['base_lrs'][0] must be a finite number >= 0.0, got nan"),
    ("ScheduledLR", {"last_epoch": "x"}, TypeError,
     "state_dict['last_epoch'] must be an integer, got 'x' (str)"),
    ("ScheduledLR", {"last_epoch": -1}, ValueError,
     "state_dict['last_epoch'] must be an integer >= 0, got -1"),
    ("ScheduledLR", {"_step_count": 2**64}, ValueError,
     "state_dict['_step_count'] must be an integer <= 9223372036854775808"),
    ("ScheduledLR", {"base_lrs": [0.1]}, ValueError,
     "state_dict['base_lrs'] must hold 2 values, got [0.1]"),
    ("ScheduledLR", {"base_lrs": 0.1}, TypeError,
     "state_dict['base_lrs'] must be a list or tuple, got 0.1 (float)"),
    ("ScheduledLR", {"_last_lr": [0.1, -math.inf]}, ValueError,
     "state_dict['_last_lr'][1] must be a finite number >= 0.0, got -inf"),
    ("ScheduledLR", {"_last_lr": [torch.ones(2), 0.1]}, TypeError,
     "state_dict['_last_lr'][0] must be a number or a one-element float tensor"),
    ("ScheduledLR", {"_is_initial": "no"}, TypeError,
     "state_dict['_is_initial'] must be True or False, got 'no' (str)"),
    ("ScheduledLR", {"schedules": [{**LINEAR, "num_warmup_steps": -1}, LINEAR]}, ValueError,
     "state_dict['schedules'][0] must be a valid schedule config: num_warmup_steps must be"),
    ("ScheduledLR", {"schedules": [LINEAR, {"name": "no such schedule"}]}, ValueError,
     "state_dict['schedules'][1] must be a valid schedule config: "),
    ("ScheduledLR", {"schedules": ["linear", LINEAR]}, TypeError,
     "state_dict['schedules'][0] must be a valid schedule config: config must be a dict"),
    ("ScheduledLR", {"schedules": [_nested(100_000), LINEAR]}, ValueError,
     "state_dict['schedules'][0] must be a valid schedule config: "),
    ("ScheduledLR", {"optimizer": None}, ValueError,
     "state_dict must hold only the keys base_lrs, last_epoch, "),
    ("ScheduledLR", {"get_lr": 0}, ValueError, "state_dict must hold only the keys "),
    ("GreedyLR", {"_last_lr": [math.nan, 0.1]}, ValueError,
     "state_dict['_last_lr'][0] must be a finite number >= 0.0, got nan"),
    ("GreedyLR", {"_init_lrs": [0.1, -0.1]}, ValueError,
     "state_dict['_init_lrs'][1] must be a finite number >= 0.0, got -0.1"),
    ("GreedyLR", {"best": math.nan}, ValueError, "state_dict['best'] must be a number, got nan"),
    ("GreedyLR", {"best": "1.0"}, TypeError, "state_dict['best'] must be a real number"),
    ("GreedyLR", {"num_bad_epochs": 1.5}, TypeError,
     "state_dict['num_bad_epochs'] must be an integer, got 1.5 (float)"),
    ("GreedyLR", {"cooldown_counter": -1}, ValueError,
     "state_dict['cooldown_counter'] must be an integer >= 0, got -1"),
    ("GreedyLR", {"last_epoch": True}, TypeError, "state_dict['last_epoch'] must be an integer"),
    ("GreedyLR", {"mode": "maximum"}, ValueError,
     "state_dict['mode'] must be one of 'min', 'max', got 'maximum'"),
    ("GreedyLR", {"threshold_mode": None}, TypeError,
     "state_dict['threshold_mode'] must be a string, got None"),
    ("GreedyLR", {"factor": 1.0}, ValueError,
     "state_dict['factor'] must be a finite number in (0.0, 1.0), got 1.0"),
    ("GreedyLR", {"threshold": math.inf}, ValueError,
     "state_dict['threshold'] must be a finite number >= 0.0, got inf"),
    ("GreedyLR", {"eps": math.nan}, ValueError, "state_dict['eps'] must be a finite number"),
    ("GreedyLR", {"max_lrs": [math.inf, 0.4]}, ValueError,
     "state_dict['max_lrs'][0] must be a finite number >= 0.0, got inf"),
    ("GreedyLR", {"min_lrs": [0.001]}, ValueError, "state_dict['min_lrs'] must hold 2 values"),
    ("GreedyLR", {"min_lrs": [0.6, 0.001]}, ValueError,
     "state_dict['min_lrs'][0] must be <= max_lrs[0] (0.5), got 0.6"),
    ("GreedyLR", {"window_size": 0}, ValueError,
     "state_dict['window_size'] must be an integer >= 1, got 0"),
    ("GreedyLR", {"_streaming_avg": {"window_size": 2, "values": [1.0, 2.0, 3.0]}}, ValueError,
     "state_dict['_streaming_avg']['values'] must hold at most window_size=2 values, got 3"),
    ("GreedyLR", {"_streaming_avg": {"values": [math.nan]}}, ValueError,
     "state_dict['_streaming_avg']['values'][0] must be a finite number, got nan"),
    ("GreedyLR", {"_streaming_avg": {"sum": math.nan}}, ValueError,
     "state_dict['_streaming_avg']['sum'] must be a number, got nan"),
    ("GreedyLR", {"_streaming_avg": [1.0]}, TypeError,
     "state_dict['_streaming_avg'] must be a dict, got [1.0] (list)"),
    ("GreedyLR", {"smooth": False}, ValueError,
     "state_dict['_streaming_avg'] must be None when smooth is False"),
    ("GreedyLR", {"verbose": 1}, TypeError, "state_dict['verbose'] must be True or False"),
    ("GreedyLR", {"step": 1}, ValueError, "state_dict must hold only the keys factor, "),
    ("AdafactorSchedule", {"initial_lr": -1.0}, ValueError,
     "state_dict['initial_lr'] must be a finite number >= 0.0, got -1.0"),
    ("AdafactorSchedule", {"_last_lr": [math.nan, 0.1]}, ValueError,
     "state_dict['_last_lr'][0] must be a finite number >= 0.0, got nan"),
    ("AdafactorSchedule", {"last_epoch": "x"}, TypeError,
     "state_dict['last_epoch'] must be an integer, got 'x' (str)"),
    ("AdafactorSchedule", {"base_lrs": [0.1]}, ValueError,
     "state_dict['base_lrs'] must hold 2 values"),
    ("AdafactorSchedule", {"optimizer": None}, ValueError, "state_dict must hold only the keys"),
    ("GradientAccumulation", {"micro_steps": "4"}, TypeError,
     "state_dict['micro_steps'] must be an integer, got '4' (str)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "entries", "error", "message"),
    BAD_LOADS,
    ids=[f"{name}-{'-'.join(entries)}-{i}" for i, (name, entries, *_) in enumerate(BAD_LOADS)],
)
def test_rejected_load_names_the_entry_and_changes_nothing(name, entries, error, message):
    obj = cases.LOADERS[name]()
    state = {**obj.state_dict(), **entries}
    before = cases.snapshot(obj)
    with pytest.raises(Exception) as info:
        obj.load_state_dict(state)
    assert type(info.value) is error
    assert str(info.value).startswith(message), str(info.value)
    assert cases.snapshot(obj) == before


@pytest.mark.parametrize("name", cases.LOADERS)
@pytest.mark.parametrize("state", [None, [], "state", 1.0])
def test_a_state_that_is_not_a_dict(name, state):
    obj = cases.LOADERS[name]()
    before = cases.snapshot(obj)
    with pytest.raises(TypeError, match=re.escape("state_dict must be a dict, got ")):
        obj.load_state_dict(state)
    assert cases.snapshot(obj) == before


@pytest.mark.parametrize("name", cases.LOADERS)
def test_own_state_loads_into_a_fresh_object_and_resumes_identically(name):
    trained, fresh = cases.LOADERS[name](), cases.LOADERS[name]()
    for _ in range(2):
        cases.step(fresh)  # elsewhere in training
    fresh.load_state_dict(trained.state_dict())
    if name != "GradientAccumulation":  # Adafactor's lrs come from its state and parameters
        fresh.optimizer.load_state_dict(trained.optimizer.state_dict())
        with torch.no_grad():
            for group, trained_group in zip(
                fresh.optimizer.param_groups, trained.optimizer.param_groups, strict=True
            ):
                for p, q in zip(group["params"], trained_group["params"], strict=True):
                    p.copy_(q)  # fmt: skip
    for metric in (0.5, 2.0, 3.0):
        cases.step(trained, metric)
        cases.step(fresh, metric)
        assert cases.lrs(fresh) == cases.lrs(trained)
    assert fresh.state_dict() == trained.state_dict()


@pytest.mark.parametrize(
    ("name", "entries"),
    [("ScheduledLR", {"last_epoch": 7}), ("GreedyLR", {"factor": 0.8, "best": 0.5}),
     ("AdafactorSchedule", {"last_epoch": 9})],
)  # fmt: skip
def test_partial_state_keeps_the_other_entries(name, entries):
    obj = cases.LOADERS[name]()
    expected = {**obj.state_dict(), **entries}
    obj.load_state_dict(entries)
    assert obj.state_dict() == expected


@pytest.mark.parametrize(
    ("value", "expected"), [(0.5, 0.5), (0, 0.0), (torch.tensor(0.25), 0.25),
                            (torch.tensor([0.125], dtype=torch.float64), 0.125)],
)  # fmt: skip
def test_lr_value_accepts_numbers_and_one_element_float_tensors(value, expected):
    assert lr_value("lr", value) == expected
    assert type(lr_value("lr", value)) is float


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [(torch.tensor(1), TypeError, "lr must be a number or a one-element float tensor"),
     (torch.ones(2), TypeError, "lr must be a number or a one-element float tensor"),
     (torch.tensor(math.nan), ValueError, "lr must be a finite number >= 0.0, got nan"),
     (None, TypeError, "lr must be a real number, got None"),
     (-1e-3, ValueError, "lr must be a finite number >= 0.0, got -0.001")],
)  # fmt: skip
def test_lr_value_rejects(value, error, message):
    with pytest.raises(error, match=re.escape(message)):
        lr_value("lr", value)
