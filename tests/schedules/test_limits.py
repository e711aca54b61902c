"""The nesting limits: compositions and configs nest at most MAX_DEPTH levels and hold at most
MAX_SCHEDULES schedules, checked before anything recurses (a ValueError, never RecursionError)."""

from __future__ import annotations

import json
import re
import sys

import pytest

from stepsize import schedules
from stepsize.schedules import MAX_DEPTH, MAX_SCHEDULES

CONSTANT = schedules.get("constant")


def _nested(levels: int, wrap) -> schedules.Schedule:
    s = CONSTANT
    for _ in range(levels - 1):
        s = wrap(s)
    return s


WRAPPERS = {
    "scale": lambda s: schedules.Scale(s, 1.0),
    "with_warmup": lambda s: schedules.WithWarmup(s, 1),
    "join": lambda s: schedules.Join([s, CONSTANT], [1]),
}


def test_the_limits_are_documented_constants():
    assert (MAX_DEPTH, MAX_SCHEDULES) == (32, 10_000)


@pytest.mark.parametrize("kind", WRAPPERS)
def test_a_composition_of_max_depth_levels_works_and_round_trips(kind):
    s = _nested(MAX_DEPTH, WRAPPERS[kind])
    assert s._depth == MAX_DEPTH
    assert s(5) == s.values([5])[0]
    config = json.loads(json.dumps(s.get_config()))
    assert schedules.from_config(config) == s
    assert repr(s).count("(") >= MAX_DEPTH and hash(s) == hash(schedules.from_config(config))


@pytest.mark.parametrize("kind", WRAPPERS)
def test_one_level_more_is_a_value_error_naming_the_argument(kind):
    deepest = _nested(MAX_DEPTH, WRAPPERS[kind])
    argument = "schedules" if kind == "join" else "schedule"
    with pytest.raises(ValueError) as info:
        WRAPPERS[kind](deepest)
    assert str(info.value) == (
        f"{argument} is nested too deeply: at most 32 levels (MAX_DEPTH), got 33"
    )


def test_too_many_schedules_in_all_is_a_value_error():
    many = schedules.Join([CONSTANT] * (MAX_SCHEDULES - 1), list(range(MAX_SCHEDULES - 2)))
    assert many._size == MAX_SCHEDULES and many(MAX_SCHEDULES) == 1.0
    message = "schedule holds too many schedules: at most 10000 (MAX_SCHEDULES), got 10001"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        schedules.Scale(many, 1.0)


def test_nested_warmups_evaluate_in_linear_time():
    # Each WithWarmup evaluated schedule(0) on every call: 2**31 evaluations at 32 levels.
    s = _nested(MAX_DEPTH, WRAPPERS["with_warmup"])
    assert [s(t) for t in range(40)] == s.values(range(40)).tolist()


def test_shared_pieces_count_every_time_they_are_used():
    # Each level doubles the schedules evaluated: 2**14 > MAX_SCHEDULES, after 14 levels.
    s = CONSTANT
    with pytest.raises(ValueError, match=r"^schedules holds too many schedules"):
        for _ in range(MAX_DEPTH):
            s = schedules.Join([s, s], [1])
    assert s._size < MAX_SCHEDULES and s._depth < 15


def _deep_config(levels: int) -> dict:
    config = {"name": "constant"}
    for _ in range(levels - 1):
        config = {"name": "scale", "schedule": config, "value": 1.0}
    return config


def test_from_config_of_max_depth_levels_works():
    assert schedules.from_config(_deep_config(MAX_DEPTH))._depth == MAX_DEPTH


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 10_000, sys.getrecursionlimit() * 3])
def test_a_deeply_nested_config_is_refused_before_recursing(levels):
    message = "config is nested too deeply: at most 32 levels (MAX_DEPTH)"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        schedules.from_config(_deep_config(levels))


def test_a_config_nested_through_join_lists_counts_each_schedule_level():
    config = {"name": "constant"}
    for _ in range(MAX_DEPTH):
        config = {"name": "join", "schedules": [config], "boundaries": []}
    with pytest.raises(ValueError, match=r"^config is nested too deeply"):
        schedules.from_config(config)


def test_a_config_that_contains_itself_is_refused():
    config = {"name": "scale", "value": 1.0}
    config["schedule"] = config
    with pytest.raises(ValueError, match=r"^config is nested too deeply"):
        schedules.from_config(config)
    wide = {"name": "join", "boundaries": [1]}
    wide["schedules"] = [wide, wide]
    with pytest.raises(ValueError, match=r"^config (is nested too deeply|holds too many)"):
        schedules.from_config(wide)


def test_a_config_with_too_many_schedules_is_refused_before_building_them():
    pieces = [{"name": "constant"}] * MAX_SCHEDULES
    config = {"name": "join", "schedules": pieces, "boundaries": list(range(MAX_SCHEDULES - 1))}
    message = "config holds too many schedules: at most 10000 (MAX_SCHEDULES)"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        schedules.from_config(config)
    config["schedules"], config["boundaries"] = pieces[1:], config["boundaries"][1:]
    assert len(schedules.from_config(config).schedules) == MAX_SCHEDULES - 1


def test_lists_nested_in_lists_are_values_not_configs():
    deep = []
    for _ in range(10_000):
        deep = [deep]
    config = {"name": "join", "schedules": [CONSTANT.get_config()], "boundaries": deep}
    with pytest.raises(ValueError, match=r"^boundaries must hold 0 step\(s\)"):
        schedules.from_config(config)
    config["boundaries"], config["schedules"] = [deep], [CONSTANT.get_config()] * 2
    with pytest.raises(TypeError, match=r"^boundaries\[0\] must be an integer, got \[\[\[\["):
        schedules.from_config(config)


@pytest.mark.parametrize("key", [1, None, ("a",), 2.5])
def test_config_keys_must_be_strings(key):
    nested = {"name": "scale", "value": 1, "schedule": {"name": "constant", key: 1}}
    for config in ({"name": "constant", key: 1}, nested):
        with pytest.raises(TypeError, match=r"^config keys must be strings, got "):
            schedules.from_config(config)
