"""The fuzz suite of the torch optimizers (every row of ``cases.torch_optimizers.OPTIMIZERS``).

Constructors (every keyword), ``add_param_group``, ``load_state_dict`` with corrupted state
dicts and steps with state changed by hand keep the promise of ``cases.adversarial``: a
TypeError / ValueError naming the argument or location, and then an unchanged optimizer; or a
valid result whose steps give finite parameters. Loading and stepping with altered state can
reach torch's fused kernel, so they run in a subprocess (``cases.torch_fuzz``): a missing check
would abort it, not pytest. Arguments are drawn from each row's configurations, constructor
defaults and ``ErrorInput`` table. Derandomized by default; ``STEPSIZE_HYPOTHESIS=long`` runs
200 times as many examples.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies

from cases import torch_fuzz  # noqa: E402
from cases.adversarial import TRIED, keeps_promise  # noqa: E402
from cases.torch_contract import assert_identical, describe_groups, each_optimizer  # noqa: E402

SUBPROCESS_TIMEOUT_S = 3000


def examples(count: int) -> int:
    """``count`` examples in the default profile (100 examples a test), scaled with it."""
    return max(1, count * hypothesis.settings().max_examples // 100)


@each_optimizer()
@hypothesis.settings(max_examples=examples(200))
@hypothesis.given(data=st.data())
def test_constructor_keeps_promise(info, data):
    kwargs = data.draw(torch_fuzz.constructor_arguments(info), label="kwargs")
    params = torch_fuzz.params(seed=0)
    optimizer = keeps_promise(
        "torch.optimizers.construct", lambda: info.make(params, **kwargs), [*kwargs, "params"]
    )
    if optimizer is not None:
        torch_fuzz.take_step(optimizer, params, seed=0)


@each_optimizer()
@hypothesis.settings(max_examples=examples(100))
@hypothesis.given(data=st.data())
def test_add_param_group_keeps_promise(info, data):
    config = info.configs[info.resume_configs[0]]
    params, optimizer = torch_fuzz.trained(info, config, "auto", seed=0)
    options = data.draw(torch_fuzz.group_options(info), label="options")
    added = torch_fuzz.params(seed=1)
    groups, before = describe_groups(optimizer), copy.deepcopy((params, optimizer.state))
    result = keeps_promise(
        "torch.optimizers.construct",
        lambda: optimizer.add_param_group({"params": added, **options}) or "added",
        [*options, "params"],
    )
    if result is None:
        assert describe_groups(optimizer) == groups
        assert_identical((params, optimizer.state), before)
    else:
        torch_fuzz.take_step(optimizer, [*params, *added], seed=1)


def test_load_and_altered_state_keep_promise_in_a_subprocess():
    tests = Path(torch_fuzz.__file__).parents[1]
    path = os.pathsep.join(filter(None, [str(tests), os.environ.get("PYTHONPATH")]))
    derandomize = "1" if hypothesis.settings().derandomize else "0"
    command = [sys.executable, "-m", "cases.torch_fuzz", str(examples(100)), derandomize]
    done = subprocess.run(
        command,
        env={**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, (
        f"the fuzz subprocess failed ({done.returncode}):\n{output[-8000:]}"
    )
    TRIED.update(json.loads(done.stdout.strip().splitlines()[-1]))
