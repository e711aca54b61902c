"""The torch optimizers' fuzz strategies and cases, for ``tests/fuzz/test_torch_optimizers.py``.

* ``constructor_arguments(info)`` / ``group_options(info)``: keyword arguments drawn from the
  row's configurations, its constructor's defaults (each varied by ``variants``) and its
  ``ErrorInput`` table.
* ``trained`` / ``take_step``: a small run; a step after which parameters and state must be
  finite.
* ``corrupt(data, info, optimizer)``: a copy of the optimizer's state dict with corrupted
  options, steps, tensors, entries or structure, and the names a rejection must show.
* ``load_case`` / ``assigned_state_case``: loading corrupted state dicts, and stepping with
  state changed by hand. They can reach torch's fused kernel with out-of-shape state, which
  would crash the interpreter if a check were missing, so the fuzz suite runs them in a
  subprocess: ``python -m cases.torch_fuzz EXAMPLES DERANDOMIZE`` prints the inputs tried per
  area as JSON on its last line.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import json
import sys
from collections.abc import Callable
from typing import Any

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cases.adversarial import (
    SPECIAL_FLOATS,
    TRIED,
    anything,
    assert_finite,
    keeps_promise,
    variants,
)
from cases.torch_contract import assert_identical, describe_groups
from cases.torch_optimizers import OPTIMIZERS, OptimizerInfo

__all__ = [
    "assigned_state_case",
    "constructor_arguments",
    "corrupt",
    "group_options",
    "load_case",
    "params",
    "take_step",
    "trained",
]

SHAPES = ((), (3,), (2, 3), (2, 2, 3))  # 0-d to 3-D: unfactored and factored in Adafactor
# One bfloat16 parameter: its state has the Kahan buffer (the default for it) to corrupt too.
DTYPES = (torch.float32, torch.float32, torch.bfloat16, torch.float32)
AREAS = ("torch.optimizers.load", "torch.optimizers.step")


def _keywords(info: OptimizerInfo) -> dict[str, Any]:
    """The constructor's keyword arguments (all but ``params``) and their defaults."""
    parameters = inspect.signature(info.cls).parameters
    return {name: p.default for name, p in parameters.items() if name != "params"}


def _varied(defaults: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """One of ``defaults``' keys, or some of them, each with a value near its default or an
    adversarial one."""
    one = st.sampled_from(sorted(defaults)).flatmap(
        lambda key: variants(defaults[key]).map(lambda value: {key: value})
    )
    some = st.fixed_dictionaries({}, optional={k: variants(v) for k, v in defaults.items()})
    return st.one_of(one, some)


def constructor_arguments(info: OptimizerInfo) -> st.SearchStrategy[dict[str, Any]]:
    """A configuration of the row (or none), overridden by varied keywords or an error input."""
    configs = st.sampled_from([{}, info.example, *info.configs.values()])
    errors = st.sampled_from([error.kwargs for error in info.error_inputs])
    changes = st.one_of(_varied(_keywords(info)), errors)
    return st.tuples(configs, changes).map(lambda pair: {**pair[0], **pair[1]})


def group_options(info: OptimizerInfo) -> st.SearchStrategy[dict[str, Any]]:
    """A param group's options: the constructor's group options varied, or an error input."""
    grouped = info.make([torch.nn.Parameter(torch.zeros(1))]).defaults
    options = {k: v for k, v in _keywords(info).items() if k in grouped}
    errors = [error.kwargs for error in info.error_inputs if error.in_groups]
    return st.one_of(_varied(options), st.sampled_from(errors))


def params(seed: int) -> list[torch.nn.Parameter]:
    """Parameters of ``SHAPES`` and ``DTYPES``, standard-normal."""
    generator = torch.Generator().manual_seed(seed)
    return [
        torch.nn.Parameter(torch.randn(shape, generator=generator).to(dtype))
        for shape, dtype in zip(SHAPES, DTYPES, strict=True)
    ]


# The step-scaling hyper-parameters (lr, eps, weight_decay) up to which one step from ordinary
# values must give finite parameters. Above, a step asked to move parameters past float32's
# range may overflow them (docs/math/differences.md#optimizer-nan-ranges): not checked.
ORDINARY = 1e6


def _ordinary(optimizer: torch.optim.Optimizer) -> bool:
    for group in optimizer.param_groups:
        eps = group["eps"] if isinstance(group["eps"], tuple) else (group["eps"],)
        scales = [group["lr"] or 0.0, group["weight_decay"], *eps]
        if max(scales) > ORDINARY:
            return False
    return True


def take_step(optimizer: torch.optim.Optimizer, params: list, seed: int) -> None:
    """One step with ordinary gradients, in [-1, 1] (one parameter's zero, the last one's
    None): no error, and finite parameters and state where the hyper-parameters are
    ``ORDINARY``. (One step: with a valid but huge lr, the steps a user asks for add up past
    float32's range after a few.)"""
    generator = torch.Generator().manual_seed(seed)
    for p in params:
        p.grad = (torch.rand(p.shape, generator=generator) * 2 - 1).to(p.dtype)
    params[seed % (len(params) - 1)].grad.zero_()
    params[-1].grad = None
    keeps_promise("torch.optimizers.step", optimizer.step, ())
    if _ordinary(optimizer):
        assert_finite(list(params), "params")
        assert_finite([optimizer.state[p] for p in params if p in optimizer.state], "state")


def trained(info: OptimizerInfo, config: dict[str, Any], path: str, seed: int):
    """(params, optimizer) in two groups (``info.groups``), stepped twice."""
    tensors = params(seed)
    optimizer = info.make(info.groups(tensors, config), path, **config)
    for step in range(2):
        take_step(optimizer, tensors, seed + step)
    return tensors, optimizer


# ---- corrupted state dicts ------------------------------------------------------------------


def _where(optimizer: torch.optim.Optimizer, key: int) -> str:
    """How messages name the state saved under ``key``."""
    located = [
        (g, j)
        for g, group in enumerate(optimizer.param_groups)
        for j in range(len(group["params"]))
    ]
    g, j = located[key]
    return f"state of param_groups[{g}]['params'][{j}]"


def _replacements(value: Any, p: torch.Tensor) -> st.SearchStrategy[Any]:
    """Replacements of a state tensor: a special value at one element, other shapes, dtypes
    and layouts, the meta device, the parameter's own memory, or not a tensor."""

    def at_one(x: float) -> torch.Tensor:  # in float64, which holds any of them
        out = value.to(torch.float64, copy=True)
        if out.numel():
            out.view(-1)[0] = x
        return out

    shapes = [(*value.shape, 1), value.shape[:-1], (value.numel() + 1,), (3, 4)]
    dtypes = [torch.float16, torch.bfloat16, torch.float64, torch.int64, torch.bool, torch.cfloat]
    return st.one_of(
        st.sampled_from([*SPECIAL_FLOATS, -1.0, 0.5]).map(at_one),
        st.sampled_from(shapes).map(torch.zeros),
        st.sampled_from(dtypes).map(value.to),
        st.sampled_from(
            [
                value.to("meta"),
                value.unsqueeze(-1).expand(*value.shape, 2)[..., 0],  # strided
                _one_element(value),
                p.detach(),
            ]
        ),
        anything(),
    )


def _one_element(value: torch.Tensor) -> torch.Tensor:
    """``value``'s first element expanded to its shape: every element shares its memory."""
    return value.reshape(-1)[:1].expand(value.shape) if value.dim() else value


def _step_tensor(value: float, dtype: torch.dtype, shape: tuple[int, ...]) -> torch.Tensor:
    tensor = torch.full(shape, value, dtype=torch.float64)
    return tensor.to(dtype) if abs(value) < 2**62 else tensor  # NaN and inf stay float64


def _step_values() -> st.SearchStrategy[Any]:
    """Step counts as saved: ints, floats and tensors of every kind, and wrong types."""
    numbers = st.sampled_from([*SPECIAL_FLOATS, -5.0, 3.0, 2.5])
    dtypes = st.sampled_from([torch.float32, torch.float64, torch.int64, torch.bool])
    tensors = st.builds(_step_tensor, numbers, dtypes, st.sampled_from([(), (1,)]))
    return st.one_of(variants(3), anything(), tensors)


def _corrupt_state(data, info, optimizer, saved) -> list[str]:
    """A parameter's saved state: its step, a tensor, an entry dropped or one added."""
    stepped = [key for key, value in saved["state"].items() if value]
    if not stepped:  # emptied by a previous corruption
        return _corrupt_option(data, info, optimizer, saved)
    key = data.draw(st.sampled_from(stepped), label="parameter")
    state = saved["state"][key]
    p = [p for group in optimizer.param_groups for p in group["params"]][key]
    tensors = sorted(k for k, v in state.items() if torch.is_tensor(v) and k != "step")
    kinds = ["step", "drop entry", "extra entry", *(["tensor"] if tensors else [])]
    kind = data.draw(st.sampled_from(kinds), label="kind")
    if kind == "step":
        state["step"] = data.draw(_step_values(), label="step")
    elif kind == "tensor":
        entry = data.draw(st.sampled_from(tensors), label="entry")
        state[entry] = data.draw(_replacements(state[entry], p), label="value")
    elif kind == "drop entry":
        del state[data.draw(st.sampled_from(sorted(state)), label="entry")]
    else:
        entry = data.draw(st.sampled_from(["max_exp_avg_sq", *info.state_keys]), label="entry")
        value = st.one_of(st.just(torch.zeros(p.shape)), anything())
        state[entry] = data.draw(value, label="value")
    return [_where(optimizer, key)]


def _corrupt_option(data, info, optimizer, saved) -> list[str]:
    index = data.draw(st.integers(0, len(saved["param_groups"]) - 1), label="group")
    group = saved["param_groups"][index]
    option = data.draw(st.sampled_from(sorted(k for k in group if k != "params")), label="option")
    if data.draw(st.booleans(), label="drop"):
        del group[option]
    else:
        group[option] = data.draw(variants(group[option]), label="value")
    return [option, f"param_groups[{index}]"]


def _restructured(data, saved) -> Any:
    groups, state = saved["param_groups"], saved["state"]
    index = data.draw(st.integers(0, len(groups) - 1), label="group")
    change = data.draw(
        st.sampled_from(
            [
                "not a dict",
                "no state",
                "groups",
                "group",
                "params",
                "drop group",
                "add group",
                "drop id",
                "repeat id",
                "stray state",
            ]
        ),
        label="structure",
    )
    if change == "not a dict":
        return data.draw(anything(), label="state_dict")
    if change == "no state":
        return {"param_groups": groups}
    if change == "groups":
        return {**saved, "param_groups": data.draw(anything(), label="param_groups")}
    if change in ("group", "params"):
        groups[index] = (
            data.draw(anything(), label="group")
            if change == "group"
            else {**groups[index], "params": data.draw(anything(), label="params")}
        )
    elif change in ("drop group", "add group"):
        saved["param_groups"] = groups[1:] if change == "drop group" else [*groups, groups[index]]
    elif change == "drop id":
        groups[index]["params"].pop()
    elif change == "repeat id":
        groups[index]["params"].append(groups[index]["params"][0])
    else:  # state under an id no group lists, or a state that is not a dict
        key = data.draw(st.sampled_from([999, -1, "x", 0]), label="id")
        state[key] = data.draw(anything(), label="state")
    return saved


def corrupt(data: Any, info: OptimizerInfo, optimizer: torch.optim.Optimizer):
    """A deep copy of ``optimizer.state_dict()`` with one or two corruptions of options or
    state, or one of the structure; and the names its rejection's message may show."""
    saved = copy.deepcopy(optimizer.state_dict())
    if data.draw(st.integers(0, 3), label="structure?") == 0:
        return _restructured(data, saved), ["state_dict", "param_groups", "state"]
    names: list[str] = []
    for _ in range(data.draw(st.integers(1, 2), label="corruptions")):
        change = data.draw(st.sampled_from([_corrupt_state, _corrupt_option]), label="what")
        names += change(data, info, optimizer, saved)
    return saved, names


# ---- cases run in a subprocess --------------------------------------------------------------


def _runs(info: OptimizerInfo):
    """Strategies of (configuration, path) and seeds for two runs of ``info``."""
    return st.sampled_from(list(info.configs)), st.sampled_from(list(info.paths))


def load_case(info: OptimizerInfo, examples: int, derandomize: bool) -> Callable[[], None]:
    """Corrupted state dicts loaded into a trained optimizer: a promised error naming the
    argument or location, and then the optimizer unchanged; or a load after which steps give
    finite parameters."""
    configs, paths = _runs(info)

    @settings(max_examples=examples, derandomize=derandomize, deadline=None, database=None)
    @given(data=st.data(), config=configs, path=paths, target_path=paths)
    def case(data, config, path, target_path):
        hyper = info.configs[config]
        _, source = trained(info, hyper, path, seed=0)
        params, optimizer = trained(info, hyper, target_path, seed=1)
        saved, names = corrupt(data, info, source)
        groups, before = describe_groups(optimizer), copy.deepcopy((params, optimizer.state))
        loaded = keeps_promise(
            "torch.optimizers.load", lambda: optimizer.load_state_dict(saved) or "loaded", names
        )
        if loaded is None:
            assert describe_groups(optimizer) == groups
            assert_identical((params, optimizer.state), before)
        else:
            take_step(optimizer, params, seed=2)

    return case


def assigned_state_case(
    info: OptimizerInfo, examples: int, derandomize: bool
) -> Callable[[], None]:
    """A state tensor replaced by hand, then a step on any path (the fused kernel's included):
    another shape is a ValueError naming the entry; another dtype or layout steps or raises,
    but nothing reads or writes out of bounds (the process would die)."""
    configs, paths = _runs(info)

    @settings(max_examples=examples, derandomize=derandomize, deadline=None, database=None)
    @given(data=st.data(), config=configs, path=paths)
    def case(data, config, path):
        params, optimizer = trained(info, info.configs[config], path, seed=0)
        p = data.draw(st.sampled_from([p for p in params if p in optimizer.state]), label="param")
        state = optimizer.state[p]
        entry = data.draw(st.sampled_from(sorted(k for k in state if k != "step")), label="entry")
        shape = state[entry].shape
        shapes = st.sampled_from([(*shape, 1), shape[:-1], (max(1, shape.numel()) + 1,), (3, 4)])
        dtypes = st.sampled_from([torch.float16, torch.float64])
        state[entry] = value = data.draw(
            st.one_of(
                shapes.map(torch.ones),
                dtypes.map(lambda dtype: torch.ones(shape, dtype=dtype)),
                st.just(_one_element(torch.ones(shape))),
            ),
            label="value",
        )
        if value.shape != shape:
            keeps_promise("torch.optimizers.step", optimizer.step, [f"{entry} has shape"])
            return
        TRIED["torch.optimizers.step"] += 1
        # torch's own checks may raise: what matters is that the process is still alive
        with contextlib.suppress(TypeError, ValueError, RuntimeError):
            optimizer.step()

    return case


def main(argv: list[str]) -> None:
    examples, derandomize = int(argv[0]), argv[1] == "1"
    for info in OPTIMIZERS:
        load_case(info, examples, derandomize)()
        assigned_state_case(info, max(1, examples // 4), derandomize)()
    print(json.dumps({area: TRIED[area] for area in AREAS}))


if __name__ == "__main__":
    main(sys.argv[1:])
