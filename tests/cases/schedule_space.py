"""Every parameter a schedule accepts, extremes included: hypothesis strategies and the steps
worth checking.

``cases.schedules.kwargs_strategy`` draws the everyday parameters compared with transformers;
these draw from the whole accepted space (step counts up to 2**63, ``num_cycles`` up to the
largest float, subnormal rates, lrs near the float range) and build compositions of them.

* ``accepted_kwargs(name)``: keyword arguments ``schedules.get(name, ...)`` accepts.
* ``any_schedule()``: a schedule of any registered name, compositions nested a few deep.
* ``probe_steps(schedule)``: 0, 2**63 and both sides of every phase boundary.
"""

from __future__ import annotations

import dataclasses
import itertools
import sys
import warnings
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st

from cases.schedules import HF_NAMES
from stepsize import schedules
from stepsize._validation import MAX_STEPS

LARGEST_FLOAT = sys.float_info.max

STEPS = st.one_of(
    st.integers(0, 60),
    st.integers(0, MAX_STEPS),
    st.sampled_from([0, 1, 2**53, 2**53 + 1, 2**62, MAX_STEPS - 1, MAX_STEPS]),
)
POSITIVE = st.one_of(
    st.floats(min_value=0.0, exclude_min=True, allow_infinity=False),
    st.integers(1, 2**1000),
    st.sampled_from([5e-324, 1e-300, 0.25, 0.5, 1, 2, 3.5, 1e15, 1e300, LARGEST_FLOAT]),
)
NON_NEGATIVE = st.one_of(st.just(0), st.just(0.0), POSITIVE)
RATE = st.one_of(st.floats(0.0, 1.0), st.sampled_from([0, 1, 5e-324, 1.0 - 2**-53, 0.5]))
KINDS = st.sampled_from(["linear", "cosine", "1-sqrt"])


@st.composite
def _polynomial(draw: Any) -> dict[str, Any]:
    lr_end = draw(NON_NEGATIVE)
    lr_init = draw(POSITIVE)
    assume(lr_init > lr_end)
    return {
        "num_warmup_steps": draw(STEPS),
        "num_training_steps": draw(STEPS),
        "lr_init": lr_init,
        "lr_end": lr_end,
        "power": draw(NON_NEGATIVE),
    }


@st.composite
def _wsd(draw: Any) -> dict[str, Any]:
    warmup, decay = draw(STEPS), draw(STEPS)
    options = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "warmup_type": KINDS,
                "decay_type": KINDS,
                "min_lr_ratio": RATE,
                "num_cycles": POSITIVE,
            },
        )
    )
    if warmup + decay > MAX_STEPS or draw(st.booleans()):
        length = {"num_stable_steps": draw(STEPS)}
    else:
        total = st.one_of(st.just(warmup + decay), st.integers(warmup + decay, MAX_STEPS))
        length = {"num_training_steps": draw(total)}
    return {"num_warmup_steps": warmup, "num_decay_steps": decay, **length, **options}


def accepted_kwargs(name: str) -> st.SearchStrategy[dict[str, Any]]:
    """Keyword arguments that ``schedules.get(name, ...)`` accepts, from its whole range."""
    both = {"num_warmup_steps": STEPS, "num_training_steps": STEPS}
    min_lr = {**both, "min_lr_rate": RATE}
    strategies: dict[str, st.SearchStrategy[dict[str, Any]]] = {
        "constant": st.just({}),
        "constant_with_warmup": st.fixed_dictionaries({"num_warmup_steps": STEPS}),
        "linear": st.fixed_dictionaries(both),
        "cosine": st.fixed_dictionaries(both, optional={"num_cycles": POSITIVE}),
        "cosine_with_restarts": st.fixed_dictionaries(both, optional={"num_cycles": POSITIVE}),
        "polynomial": _polynomial(),
        "inverse_sqrt": st.fixed_dictionaries(
            {"num_warmup_steps": STEPS}, optional={"timescale": st.none() | POSITIVE}
        ),
        "cosine_with_min_lr": st.fixed_dictionaries(min_lr, optional={"num_cycles": POSITIVE}),
        "cosine_warmup_with_min_lr": st.fixed_dictionaries(
            min_lr, optional={"num_cycles": POSITIVE, "warmup_lr_rate": st.none() | RATE}
        ),
        "warmup_stable_decay": _wsd(),
    }
    return strategies[name]


@st.composite
def _plain(draw: Any) -> schedules.Schedule:
    name = draw(st.sampled_from(HF_NAMES))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # warmup_stable_decay warns when given both T and S
        return schedules.get(name, **draw(accepted_kwargs(name)))


def _composed(children: st.SearchStrategy[schedules.Schedule]) -> st.SearchStrategy[Any]:
    @st.composite
    def build(draw: Any) -> schedules.Schedule:
        kind = draw(st.sampled_from(["scale", "with_warmup", "join"]))
        if kind == "scale":
            value = draw(NON_NEGATIVE)
            child = draw(children)
            bound = child.upper_bound * value if value else 0.0
            assume(bound < float("inf"))  # the others are refused (tested on their own)
            return schedules.Scale(child, value)
        if kind == "with_warmup":
            return schedules.WithWarmup(
                draw(children), draw(STEPS), draw(NON_NEGATIVE), draw(st.none() | NON_NEGATIVE)
            )
        pieces = draw(st.lists(children, min_size=1, max_size=3))
        boundaries = sorted(draw(st.lists(STEPS, min_size=len(pieces) - 1,
                                          max_size=len(pieces) - 1)))  # fmt: skip
        return schedules.Join(pieces, boundaries)

    return build()


def any_schedule() -> st.SearchStrategy[schedules.Schedule]:
    """A schedule of any registered name with accepted parameters, compositions included."""
    return st.recursive(_plain(), _composed, max_leaves=4)


def _step_counts(schedule: schedules.Schedule) -> list[int]:
    """Every step count and boundary in ``schedule``, nested schedules' included."""
    counts = []
    for field in dataclasses.fields(schedule):
        value = getattr(schedule, field.name)
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, schedules.Schedule):
                counts += _step_counts(item)
            elif isinstance(item, int) and field.name.endswith(("_steps", "boundaries")):
                counts.append(item)
    return counts


def probe_steps(schedule: schedules.Schedule) -> list[int]:
    """0, 2**63, and t − 1, t, t + 1 for every step count t and every sum of two of them:
    both sides of each phase boundary, also where a composition shifts a nested one."""
    counts = sorted(set(_step_counts(schedule)))[:12]
    sums = {a + b for a, b in itertools.combinations_with_replacement([0, *counts], 2)}
    sums |= {sum(counts)}
    steps = {s + d for s in sums for d in (-1, 0, 1)} | {0, 1, MAX_STEPS}
    return sorted(s for s in steps if 0 <= s <= MAX_STEPS)
