"""Schedule cases shared by the schedule and CLI tests.

* ``KNOWN_VALUES``: base lr times λ(t), from t = 0, computed by hand from the formula in each
  schedule's docstring and rounded to 4 decimals.
* ``REFERENCE_CASES``: the grid compared with transformers 4.46.3, with the steps compared.
* ``EXAMPLES``: one or more valid schedules per registered name (compositions included).
* ``kwargs_strategy(name)``: hypothesis strategies of valid parameters per name.
* ``transformers_lambda(name, kwargs)``: transformers' λ(t) for the same parameters.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from stepsize import schedules

# Every transformers SchedulerType value that is a pure function of the step.
HF_NAMES = (
    "constant",
    "constant_with_warmup",
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "inverse_sqrt",
    "cosine_with_min_lr",
    "cosine_warmup_with_min_lr",
    "warmup_stable_decay",
)
COMPOSITION_NAMES = ("join", "scale", "with_warmup")


class KnownValues(NamedTuple):
    id: str
    name: str
    kwargs: dict[str, Any]
    base_lr: float
    values: tuple[float, ...]  # base_lr · λ(t) for t = 0, 1, ..., rounded to 4 decimals

    def __str__(self) -> str:
        return self.id


KNOWN_VALUES = [
    KnownValues(
        "constant_with_warmup W=4",
        "constant_with_warmup",
        {"num_warmup_steps": 4},
        10,
        (0, 2.5, 5, 7.5, 10, 10, 10, 10, 10, 10),
    ),
    KnownValues(
        "linear W=2 T=10",
        "linear",
        {"num_warmup_steps": 2, "num_training_steps": 10},
        10,
        (0, 5, 10, 8.75, 7.5, 6.25, 5, 3.75, 2.5, 1.25),
    ),
    KnownValues(
        "cosine W=2 T=10",
        "cosine",
        {"num_warmup_steps": 2, "num_training_steps": 10},
        10,
        (0, 5, 10, 9.6194, 8.5355, 6.9134, 5, 3.0866, 1.4645, 0.3806),
    ),
    KnownValues(
        "cosine_with_restarts W=2 T=10 c=2",
        "cosine_with_restarts",
        {"num_warmup_steps": 2, "num_training_steps": 10, "num_cycles": 2},
        10,
        (0, 5, 10, 8.5355, 5, 1.4645, 10, 8.5355, 5, 1.4645),
    ),
    KnownValues(
        "polynomial W=2 T=10 power=2 lr_end=1e-7",
        "polynomial",
        # lr_init is the optimizer's base lr
        {
            "num_warmup_steps": 2,
            "num_training_steps": 10,
            "power": 2,
            "lr_end": 1e-7,
            "lr_init": 10,
        },
        10,
        (0, 5, 10, 7.6563, 5.625, 3.9063, 2.5, 1.4063, 0.625, 0.1563),
    ),
    KnownValues(
        "inverse_sqrt W=2",
        "inverse_sqrt",
        {"num_warmup_steps": 2},
        10,
        (0, 5, 10, 8.165, 7.0711, 6.3246, 5.7735, 5.3452, 5, 4.714),
    ),
    KnownValues(
        "warmup_stable_decay W=2 T=10 D=2 m=0",
        "warmup_stable_decay",
        {"num_warmup_steps": 2, "num_training_steps": 10, "num_decay_steps": 2, "min_lr_ratio": 0},
        10,
        (0, 5, 10, 10, 10, 10, 10, 10, 10, 5, 0, 0),
    ),
    KnownValues(
        "warmup_stable_decay linear/linear W=4 S=2 D=4 m=0.1",
        "warmup_stable_decay",
        {
            "num_warmup_steps": 4,
            "num_stable_steps": 2,
            "num_decay_steps": 4,
            "warmup_type": "linear",
            "decay_type": "linear",
            "min_lr_ratio": 0.1,
        },
        10,
        (1, 3.25, 5.5, 7.75, 10, 10, 10, 7.75, 5.5, 3.25, 1, 1),
    ),
    KnownValues(
        "cosine_warmup_with_min_lr W=4 T=10 r=0.1 w=0.2",
        "cosine_warmup_with_min_lr",
        {
            "num_warmup_steps": 4,
            "num_training_steps": 10,
            "min_lr_rate": 0.1,
            "warmup_lr_rate": 0.2,
        },
        1,
        # t = 10: stepsize holds the minimum (transformers: .16029); README: Deliberate
        # differences from transformers
        (0.2, 0.46667, 0.73333, 1, 0.93971, 0.775, 0.55, 0.325, 0.16029, 0.1, 0.1),
    ),
]

# Half a unit in the last place of the rounded values (4 decimals), plus rounding slack.
KNOWN_VALUES_TOLERANCE = 5.0001e-5


class ReferenceCase(NamedTuple):
    name: str
    kwargs: dict[str, Any]
    steps: range  # the steps where stepsize must equal transformers 4.46.3

    def __str__(self) -> str:
        return f"{self.name}({', '.join(f'{k}={v}' for k, v in self.kwargs.items())})"


def _reference_cases() -> list[ReferenceCase]:
    cases = [ReferenceCase("constant", {}, range(30))]
    for total in (10, 13):
        beyond = range(2 * total + 3)  # both agree after T where stepsize does not deviate
        upto = range(total + 1)
        for warmup in (0, 1, 4, total):
            steps = {"num_warmup_steps": warmup, "num_training_steps": total}
            cases.append(
                ReferenceCase("constant_with_warmup", {"num_warmup_steps": warmup}, beyond)
            )
            cases.append(ReferenceCase("linear", steps, beyond))
            for cycles in (0.5, 0.25, 1, 1.5, 2):
                cases.append(ReferenceCase("cosine", {**steps, "num_cycles": cycles}, upto))
            for cycles in (1, 2, 3, 0.5):
                cases.append(
                    ReferenceCase("cosine_with_restarts", {**steps, "num_cycles": cycles}, beyond)
                )
            for power in (1.0, 2, 0.5, 3.0):
                for lr_init, lr_end in ((1.0, 1e-7), (1.0, 0.0), (0.5, 0.1), (3e-4, 1e-6)):
                    # transformers divides by zero at t == T when W == T (README: Deliberate
                    # differences from transformers)
                    last = range(total) if warmup == total else beyond
                    params = {"lr_init": lr_init, "lr_end": lr_end, "power": power}
                    cases.append(ReferenceCase("polynomial", {**steps, **params}, last))
            for rate in (0.0, 0.1, 0.5, 1.0):
                for cycles in (0.5, 1):
                    params = {"min_lr_rate": rate, "num_cycles": cycles}
                    cases.append(ReferenceCase("cosine_with_min_lr", {**steps, **params}, upto))
    for warmup in (0, 1, 4, 16):
        for timescale in (None, 1, 3, 100, 2.5):
            params = {"num_warmup_steps": warmup, "timescale": timescale}
            cases.append(ReferenceCase("inverse_sqrt", params, range(3 * warmup + 20)))
    for warmup, stable, decay in [(0, 4, 6), (2, 6, 2), (3, 0, 7), (2, 5, 1), (1, 1, 0), (0, 0, 5)]:
        for ratio in (0.0, 0.1, 1.0):
            for cycles in (0.5, 1.0):
                params = {
                    "num_warmup_steps": warmup,
                    "num_decay_steps": decay,
                    "min_lr_ratio": ratio,
                    "num_cycles": cycles,
                }
                # transformers 4.46.3's warmup ignores min_lr_ratio; later ones scale it
                first = 0 if ratio == 0.0 else warmup
                last = warmup + stable + decay + 3
                for given in ({"num_stable_steps": stable}, {"num_training_steps": last - 3}):
                    kwargs = {**params, **given}
                    cases.append(ReferenceCase("warmup_stable_decay", kwargs, range(first, last)))
    return cases


REFERENCE_CASES = _reference_cases()


def transformers_lambda(name: str, kwargs: dict[str, Any]):
    """transformers 4.46.3's λ(t) for schedule ``name`` with stepsize's ``kwargs``.

    Built through the real ``get_*`` function and a LambdaLR on an optimizer whose lr is
    ``lr_init`` (polynomial) or 1.
    """
    import torch
    from transformers import optimization as hf

    kwargs = dict(kwargs)
    lr = kwargs.pop("lr_init", 1.0) if name == "polynomial" else 1.0
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    if name == "warmup_stable_decay":
        stable = kwargs.pop("num_stable_steps", None)
        total = kwargs.pop("num_training_steps", None)
        if stable is None:
            stable = total - kwargs["num_warmup_steps"] - kwargs["num_decay_steps"]
        scheduler = hf.get_wsd_schedule(optimizer, num_stable_steps=stable, **kwargs)
    else:
        function = {
            "constant": hf.get_constant_schedule,
            "constant_with_warmup": hf.get_constant_schedule_with_warmup,
            "linear": hf.get_linear_schedule_with_warmup,
            "cosine": hf.get_cosine_schedule_with_warmup,
            "cosine_with_restarts": hf.get_cosine_with_hard_restarts_schedule_with_warmup,
            "polynomial": hf.get_polynomial_decay_schedule_with_warmup,
            "inverse_sqrt": hf.get_inverse_sqrt_schedule,
            "cosine_with_min_lr": hf.get_cosine_with_min_lr_schedule_with_warmup,
        }[name]
        scheduler = function(optimizer, **kwargs)
    lr_lambda = scheduler.lr_lambdas[0]
    return lambda step: float(lr_lambda(step))


def close(actual: float, expected: float, tol: float = 1e-12) -> bool:
    """|actual − expected| <= tol · max(1, |expected|): the schedules' parity with transformers."""
    return abs(actual - expected) <= tol * max(1.0, abs(expected))


# One or more valid schedules per registered name, compositions included.
EXAMPLES: list[schedules.Schedule] = [schedules.get(row.name, **row.kwargs) for row in KNOWN_VALUES]
EXAMPLES += [
    schedules.get("constant"),
    schedules.get("cosine", num_warmup_steps=3, num_training_steps=9, num_cycles=1.5),
    schedules.get("cosine_with_min_lr", num_warmup_steps=1, num_training_steps=7, min_lr_rate=0.2),
    schedules.get(
        "cosine_warmup_with_min_lr", num_warmup_steps=2, num_training_steps=6, min_lr_rate=0
    ),
    schedules.get("inverse_sqrt", num_warmup_steps=0, timescale=3),
    schedules.get(
        "warmup_stable_decay",
        num_warmup_steps=3,
        num_decay_steps=4,
        num_stable_steps=2,
        warmup_type="1-sqrt",
        decay_type="1-sqrt",
        min_lr_ratio=0.05,
    ),
    schedules.get(
        "warmup_stable_decay",
        num_warmup_steps=3,
        num_decay_steps=4,
        num_training_steps=12,
        warmup_type="cosine",
        decay_type="linear",
    ),
    schedules.Join(
        (
            schedules.get("constant_with_warmup", num_warmup_steps=2),
            schedules.get("cosine", num_warmup_steps=0, num_training_steps=5),
            schedules.get("constant"),
        ),
        (3, 8),
    ),
    schedules.Scale(schedules.get("linear", num_warmup_steps=2, num_training_steps=8), 3e-4),
    schedules.WithWarmup(schedules.get("inverse_sqrt", num_warmup_steps=0, timescale=4), 3, 0.1),
    schedules.WithWarmup(
        schedules.get("linear", num_warmup_steps=0, num_training_steps=0), 3, peak_value=1.0
    ),
    schedules.WithWarmup(
        schedules.Join(
            (
                schedules.get("constant"),
                schedules.get("polynomial", num_warmup_steps=0, num_training_steps=4),
            ),
            (2,),
        ),
        4,
    ),
]


def kwargs_strategy(name: str):
    """A hypothesis strategy of valid keyword arguments for ``schedules.get(name, ...)``."""
    from hypothesis import strategies as st

    steps = st.integers(0, 60)
    cycles = st.sampled_from([0.25, 0.5, 1, 1.5, 2, 3])
    rate = st.floats(0.0, 1.0)
    both = {"num_warmup_steps": steps, "num_training_steps": steps}
    if name == "constant":
        return st.just({})
    if name == "constant_with_warmup":
        return st.fixed_dictionaries({"num_warmup_steps": steps})
    if name == "linear":
        return st.fixed_dictionaries(both)
    if name in ("cosine", "cosine_with_restarts"):
        return st.fixed_dictionaries(both, optional={"num_cycles": cycles})
    if name == "polynomial":
        return st.builds(
            lambda kw, lr_init, end_fraction, power: {
                **kw,
                "lr_init": lr_init,
                "lr_end": lr_init * end_fraction * 0.999,
                "power": power,
            },
            st.fixed_dictionaries(both),
            st.floats(1e-6, 10.0),
            st.floats(0.0, 1.0),
            st.floats(0.0, 5.0),
        )
    if name == "inverse_sqrt":
        timescale = st.one_of(st.none(), st.integers(1, 100), st.floats(0.5, 50.0))
        return st.fixed_dictionaries({"num_warmup_steps": steps, "timescale": timescale})
    if name == "cosine_with_min_lr":
        return st.fixed_dictionaries({**both, "min_lr_rate": rate}, optional={"num_cycles": cycles})
    if name == "cosine_warmup_with_min_lr":
        return st.fixed_dictionaries(
            {**both, "min_lr_rate": rate},
            optional={"num_cycles": cycles, "warmup_lr_rate": st.one_of(st.none(), rate)},
        )
    if name == "warmup_stable_decay":
        kinds = st.sampled_from(["linear", "cosine", "1-sqrt"])
        return st.fixed_dictionaries(
            {"num_warmup_steps": steps, "num_decay_steps": steps, "num_stable_steps": steps},
            optional={
                "warmup_type": kinds,
                "decay_type": kinds,
                "min_lr_ratio": rate,
                "num_cycles": cycles,
            },
        )
    raise KeyError(name)


def continuous_boundaries(schedule: schedules.Schedule) -> list[int]:
    """Steps where the continuous extension of ``schedule``'s formula has no jump."""
    warmup = getattr(schedule, "num_warmup_steps", 0)
    total = getattr(schedule, "num_training_steps", None)
    name = schedule.name
    if name in ("linear", "cosine", "polynomial", "cosine_with_min_lr"):
        # the decay starts at 1 where the warmup ends and settles at T (cosine: held there);
        # a polynomial of power < 1/2 is continuous at T but too steep to check numerically
        points = [warmup] if 0 < warmup < total else []
        if total > warmup and (name != "polynomial" or schedule.power >= 0.5):
            points.append(total)
        return points
    if name in ("constant_with_warmup", "inverse_sqrt"):
        return [warmup] if warmup > 0 else []
    if name == "warmup_stable_decay":
        stable, decay = schedule.stable_steps, schedule.num_decay_steps
        points = []  # each phase starts at 1 where the one before ends (none: a drop to m)
        if warmup > 0 and stable + decay > 0:
            points.append(warmup)
        if stable > 0 and decay > 0:
            points.append(warmup + stable)
        if decay > 0 and (schedule.decay_type != "cosine" or schedule.num_cycles == 0.5):
            points.append(warmup + stable + decay)
        return points
    return []


def assert_known_values(row: KnownValues) -> None:
    """``row.base_lr · λ(t)`` equals the row's rounded values (to their rounding)."""
    schedule = schedules.get(row.name, **row.kwargs)
    for step, expected in enumerate(row.values):
        actual = row.base_lr * schedule(step)
        assert abs(actual - expected) <= KNOWN_VALUES_TOLERANCE, (step, actual, expected)
    vector = row.base_lr * schedule.values(range(len(row.values)))
    assert (
        max(abs(a - e) for a, e in zip(vector, row.values, strict=True)) <= KNOWN_VALUES_TOLERANCE
    )


def assert_matches_transformers(case: ReferenceCase) -> None:
    """stepsize's λ(t) equals transformers 4.46.3's to 1e-12 over ``case.steps``."""
    import pytest

    pytest.importorskip("transformers")
    reference = transformers_lambda(case.name, case.kwargs)
    schedule = schedules.get(case.name, **case.kwargs)
    vector = schedule.values(case.steps)
    for step, value in zip(case.steps, vector, strict=True):
        expected = reference(step)
        assert close(schedule(step), expected), (step, schedule(step), expected)
        assert close(float(value), expected), (step, float(value), expected)
