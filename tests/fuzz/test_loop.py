"""Fuzz the objects around the optimizer: the schedulers and the accumulation helper.

Their constructors with adversarial arguments, their ``load_state_dict`` with mutated valid
states (an entry, at any depth, replaced by an adversarial value, removed, or added), GreedyLR
with adversarial metric sequences, and accumulation loops whose micro-batches fail. The
promise: TypeError/ValueError naming the argument or entry, or a valid object whose lrs stay
finite; a rejected load changes nothing; a failed micro-batch leaves no trace.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import hypothesis
import pytest
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from cases import scheduler_states as states  # noqa: E402
from cases.adversarial import anything, assert_finite, keeps_promise, variants  # noqa: E402
from cases.distributed import loss_fn, make_batches, make_model  # noqa: E402
from cases.distributed_failures import FAILURES, run_micro_batch  # noqa: E402
from stepsize import schedules  # noqa: E402
from stepsize.torch import (  # noqa: E402
    Adafactor,
    AdafactorSchedule,
    GradientAccumulation,
    GreedyLR,
    ScheduledLR,
)

# Warnings are not part of the promise: GreedyLR's about an lr at its floor, torch's about a
# scheduler stepped without its optimizer.
pytestmark = pytest.mark.filterwarnings(
    "ignore:param group .* GreedyLR never lowers it", "ignore:Detected call of `lr_scheduler"
)

LINEAR = schedules.get("linear", num_warmup_steps=2, num_training_steps=10)
COSINE = schedules.get("cosine", num_warmup_steps=1, num_training_steps=8)
GREEDY_DEFAULTS = {
    "mode": "min", "factor": 0.95, "patience": 10, "threshold": 1e-6, "threshold_mode": "abs",
    "cooldown": 0, "warmup": 0, "min_lr": 1e-3, "max_lr": 1.0, "eps": 1e-8, "verbose": False,
    "smooth": False, "window_size": 50, "reset_start": 500,
}  # fmt: skip


def examples(count: int) -> int:
    """``count`` examples in the default profile, scaled up with the long one."""
    return max(1, count * hypothesis.settings().max_examples // 100)


def _steps_finite(obj: Any, area: str, metrics: tuple[float, ...] = (1.0, 0.5, 2.0)) -> None:
    """A few more steps of the object keep the promise, and its lrs stay finite. (The
    optimizer is not stepped: SGD refuses an lr beyond float32's range, e.g. a valid 1e308.)"""
    for metric in metrics:
        step = lambda m=metric: states.step(obj, m, optimizer=False)  # noqa: E731
        keeps_promise(area, step, ["last_epoch", "epoch"])
        assert_finite(states.lrs(obj), "lrs")


# --- constructors -------------------------------------------------------------------------


@hypothesis.settings(max_examples=examples(150))
@hypothesis.given(
    schedule=st.one_of(
        st.just(LINEAR), st.lists(st.sampled_from([LINEAR, COSINE]), max_size=3), anything()
    ),
    last_epoch=variants(-1),
    lr=variants(0.1),
    resumed=st.booleans(),
)
def test_scheduled_lr_constructor(schedule, last_epoch, lr, resumed):
    opt = states.optimizer()
    opt.param_groups[0]["lr"] = lr
    if resumed:  # as a loaded optimizer state has them
        for group in opt.param_groups:
            group["initial_lr"] = group["lr"]
    scheduler = keeps_promise(
        "torch.schedulers.construct",
        lambda: ScheduledLR(opt, schedule, last_epoch),
        ["schedule", "last_epoch", "param_groups"],
    )
    if scheduler is not None:
        assert_finite(states.lrs(scheduler), "lrs")
        _steps_finite(scheduler, "torch.schedulers.construct")


@hypothesis.settings(max_examples=examples(300))
@hypothesis.given(
    kwargs=st.fixed_dictionaries(
        {}, optional={key: variants(value) for key, value in GREEDY_DEFAULTS.items()}
    ),
    lr=variants(0.1),
)
def test_greedy_constructor(kwargs, lr):
    opt = states.optimizer()
    opt.param_groups[1]["lr"] = lr
    scheduler = keeps_promise(
        "torch.schedulers.construct",
        lambda: GreedyLR(opt, **kwargs),
        [*GREEDY_DEFAULTS, "param_groups"],
    )
    if scheduler is not None:
        _steps_finite(scheduler, "torch.schedulers.construct", (1.0, 0.5, 0.25, 2.0, math.nan))


@hypothesis.settings(max_examples=examples(100))
@hypothesis.given(
    kind=st.sampled_from(["adafactor", "sgd", "other"]), initial_lr=variants(0.0), other=anything()
)
def test_adafactor_schedule_constructor(kind, initial_lr, other):
    param = torch.nn.Parameter(torch.ones(2, 2))
    makers = {"adafactor": lambda: Adafactor([param]), "other": lambda: other,
              "sgd": lambda: torch.optim.SGD([param], lr=0.1)}  # fmt: skip
    opt = makers[kind]()
    scheduler = keeps_promise(
        "torch.schedulers.construct",
        lambda: AdafactorSchedule(opt, initial_lr),
        ["optimizer", "initial_lr"],
    )
    if scheduler is not None:
        _steps_finite(scheduler, "torch.schedulers.construct")


@hypothesis.settings(max_examples=examples(150))
@hypothesis.given(
    steps=variants(2),
    max_grad_norm=st.one_of(st.none(), variants(1.0)),
    scheduler=st.sampled_from(["none", "scheduled", "plateau", "other"]),
    scaler=st.sampled_from(["none", "grad_scaler", "other"]),
    other=anything(),
)
def test_accumulation_constructor(steps, max_grad_norm, scheduler, scaler, other):
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = {
        "none": None,
        "scheduled": ScheduledLR(opt, LINEAR),
        "other": other,
        "plateau": torch.optim.lr_scheduler.ReduceLROnPlateau(opt),
    }[scheduler]
    scaler = {"none": None, "other": other,
              "grad_scaler": torch.amp.GradScaler("cpu", init_scale=2.0**8)}[scaler]  # fmt: skip
    acc = keeps_promise(
        "torch.accumulation",
        lambda: GradientAccumulation(
            model, opt, scheduler, steps=steps, scaler=scaler, max_grad_norm=max_grad_norm
        ),
        ["steps", "max_grad_norm", "scheduler", "scaler"],
    )
    if acc is not None:
        for x, y in make_batches(3):
            with acc.accumulate():
                acc.backward(loss_fn(model, x, y))
        assert acc.optimizer_steps + acc.skipped_steps <= acc.micro_steps == 3
        assert_finite([p.detach() for p in model.parameters()], "parameters")


# --- loading mutated states ---------------------------------------------------------------


def _nodes(value: Any, path: tuple = ()) -> list[tuple[tuple, Any]]:
    """Every entry of a nested state (dicts and lists), with its path."""
    found = [(path, value)] if path else []
    if isinstance(value, dict | list):
        for key, item in value.items() if isinstance(value, dict) else enumerate(value):
            found += _nodes(item, (*path, key))
    return found


def _with(state: Any, path: tuple, change: str, new: Any = None) -> Any:
    """A copy of ``state`` with the entry at ``path`` replaced by ``new`` or removed, or with
    an extra key in the dict at ``path``."""
    state = copy.deepcopy(state)
    node = state
    for key in path if change == "extra" else path[:-1]:
        node = node[key]
    if change == "extra":
        node["extra_key"] = 0.5
    elif change == "remove":
        del node[path[-1]]
    else:
        node[path[-1]] = new
    return state


@st.composite
def _mutated(draw: Any, state: dict) -> tuple[str, dict]:
    """(the top-level key to blame, ``state`` with one entry, at any depth, replaced by a value
    near it or an adversarial one, or removed, or with an unknown key added)."""
    change = draw(st.sampled_from(["replace", "replace", "replace", "remove", "extra"]))
    nodes = _nodes(state)
    if change == "extra":
        dicts = [((), state), *((p, v) for p, v in nodes if isinstance(v, dict))]
        path, _ = draw(st.sampled_from(dicts))
        return (path[0] if path else "extra_key"), _with(state, path, "extra")
    if change == "remove":
        path, _ = draw(st.sampled_from([(p, v) for p, v in nodes if isinstance(p[-1], str)]))
        return path[0], _with(state, path, "remove")
    # A schedule's own parameters are the schedules fuzz suite's; here a config is replaced,
    # loses or gains a key as a whole.
    path, value = draw(
        st.sampled_from([(p, v) for p, v in nodes if p[0] != "schedules" or len(p) < 3])
    )
    other_lengths = st.nothing()
    if isinstance(value, list) and value:
        other_lengths = st.lists(variants(value[0]), max_size=4)
    return path[0], _with(state, path, "replace", draw(st.one_of(variants(value), other_lengths)))


@pytest.mark.parametrize("name", states.LOADERS)
@hypothesis.settings(max_examples=examples(250))
@hypothesis.given(data=st.data())
def test_load_mutated_state(name, data):
    obj = states.LOADERS[name]()
    state = obj.state_dict()
    key, mutated = data.draw(_mutated(state))
    area = "torch.accumulation" if name == "GradientAccumulation" else "torch.schedulers.load"
    before = states.snapshot(obj)
    loaded = keeps_promise(area, lambda: obj.load_state_dict(mutated) or True, [key])
    if loaded is None:
        assert states.snapshot(obj) == before, f"a rejected load changed the {name}"
        return
    assert_finite(states.lrs(obj), "lrs after the load")
    _steps_finite(obj, area)
    if name == "GradientAccumulation":
        assert obj.optimizer_steps + obj.skipped_steps <= obj.micro_steps


# --- GreedyLR with adversarial metrics ----------------------------------------------------


@st.composite
def _greedy_settings(draw: Any) -> dict:
    """Valid GreedyLR settings (bounds up to the float range) and an lr within the bounds."""
    min_lr = draw(st.one_of(st.just(0.0), st.floats(1e-8, 1e-2)))
    max_lr = draw(st.one_of(st.floats(1e-2, 10.0), st.sampled_from([1e300, 1.7e308])))
    return {
        "mode": draw(st.sampled_from(["min", "max"])),
        "factor": draw(st.one_of(st.floats(1e-3, 0.999), st.sampled_from([1e-300, 1 - 2**-53]))),
        "patience": draw(st.integers(0, 3)),
        "threshold": draw(st.one_of(st.floats(0.0, 2.0), st.just(0.0))),
        "threshold_mode": draw(st.sampled_from(["rel", "abs"])),
        "cooldown": draw(st.integers(0, 2)),
        "warmup": draw(st.integers(0, 2)),
        "min_lr": min_lr,
        "max_lr": max_lr,
        "eps": draw(st.sampled_from([0.0, 1e-8, 1e-3])),
        "smooth": draw(st.booleans()),
        "window_size": draw(st.integers(1, 4)),
        "reset_start": draw(st.integers(0, 4)),
    }


@hypothesis.settings(max_examples=examples(300))
@hypothesis.given(
    settings=_greedy_settings(),
    where=st.floats(0.0, 1.0),
    actions=st.lists(st.one_of(anything(), st.floats(-10.0, 10.0), st.just("add_group")),
                     max_size=25),
)  # fmt: skip
def test_greedy_step_with_adversarial_metrics(settings, where, actions):
    low, high = settings["min_lr"], settings["max_lr"]
    lr = low + where * (min(high, 1.0) - low)
    opt = states.optimizer((lr,))
    scheduler = GreedyLR(opt, **settings)
    for action in actions:
        if action == "add_group":
            opt.add_param_group({"params": [torch.nn.Parameter(torch.ones(1))], "lr": lr})
            continue
        stepped = keeps_promise(
            "torch.schedulers.step", lambda a=action: scheduler.step(a) or True, ["metrics"]
        )
        for group in opt.param_groups:
            assert low <= group["lr"] <= high, (group["lr"], low, high)
        if stepped:
            assert scheduler.get_last_lr() == [group["lr"] for group in opt.param_groups]
        assert not math.isnan(scheduler.best)
        if scheduler._streaming_avg is not None:
            assert_finite(list(scheduler._streaming_avg.values), "the smoothing window")


# --- accumulation loops with failing micro-batches ----------------------------------------


def _run(actions: list[str], steps: int, scaler: bool) -> tuple:
    """Micro-batches ``actions[i]`` on batch i: "ok", a failure (``FAILURES``), or "skip" (not
    run at all); "step" ends the window early. The parameters, counters, scale and lr."""
    model = make_model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    grad_scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10) if scaler else None
    acc = GradientAccumulation(model, opt, ScheduledLR(opt, LINEAR), steps=steps,
                               scaler=grad_scaler, max_grad_norm=1.0)  # fmt: skip
    for action, (x, y) in zip(actions, make_batches(len(actions)), strict=True):
        if action == "step":
            acc.step()
        elif action != "skip":
            failure = None if action == "ok" else action
            run_micro_batch(acc, model, x, y, failure, math.inf if scaler else 1e3)
    params = [p.detach().clone() for p in model.parameters()]
    counters = (acc.micro_steps, acc.optimizer_steps, acc.skipped_steps, acc.pending)
    return params, counters, grad_scaler and grad_scaler.get_scale(), acc.scheduler.get_last_lr()


@hypothesis.settings(max_examples=examples(80))
@hypothesis.given(
    actions=st.lists(st.sampled_from(["ok", "ok", "step", *FAILURES]), max_size=14),
    steps=st.integers(1, 4),
    scaler=st.booleans(),
)
def test_failed_micro_batches_leave_no_trace(actions, steps, scaler):
    # a run whose failing micro-batches were never run at all
    reference = [action if action in ("ok", "step") else "skip" for action in actions]
    expected = _run(reference, steps, scaler)
    got = keeps_promise("torch.accumulation", lambda: _run(actions, steps, scaler), [])
    assert got[1:] == expected[1:]
    assert all(torch.equal(a, b) for a, b in zip(got[0], expected[0], strict=True))
