"""``stepsize.torch`` and ``stepsize.tf`` without their framework: one line naming the extra."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# Runs ``import MODULE`` with the named modules (and their submodules) made unimportable.
_WITHOUT = """
import sys

class Hide:
    def find_spec(self, name, path=None, target=None):
        if any(name == h or name.startswith(h + ".") for h in {hidden!r}):
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)

sys.meta_path.insert(0, Hide())
try:
    import {module}
except ModuleNotFoundError as error:
    print(error.name)
    raise
"""


def _import_without(module: str, hidden: set[str]) -> subprocess.CompletedProcess:
    code = _WITHOUT.format(module=module, hidden=hidden)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )


@pytest.mark.parametrize(
    ("module", "hidden", "missing", "line"),
    [
        (
            "stepsize.torch",
            {"torch"},
            "torch",
            "stepsize.torch needs PyTorch: pip install 'stepsize[torch]'",
        ),
        (
            "stepsize.tf",
            {"tensorflow", "keras"},
            "keras",
            "stepsize.tf needs TensorFlow and Keras 3: pip install 'stepsize[tf]'",
        ),
        (
            "stepsize.tf",
            {"tensorflow"},
            "tensorflow",
            "stepsize.tf needs TensorFlow and Keras 3: pip install 'stepsize[tf]'",
        ),
    ],
)
def test_a_missing_framework_is_one_line_naming_the_extra(
    module: str, hidden: set[str], missing: str, line: str
) -> None:
    result = _import_without(module, hidden)
    assert result.returncode == 1
    assert result.stdout.strip() == missing  # the error names the missing module
    assert result.stderr.strip().splitlines()[-1] == f"ModuleNotFoundError: {line}"
    assert "During handling" not in result.stderr  # no chained traceback


def test_a_broken_framework_is_not_reported_as_missing() -> None:
    # torch present but one of its own dependencies missing: that error passes through.
    result = _import_without("stepsize.torch", {"torch._C"})
    assert result.returncode == 1
    assert "pip install 'stepsize[torch]'" not in result.stderr
    assert "torch._C" in result.stderr
