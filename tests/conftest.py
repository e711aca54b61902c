"""Settings shared by the whole test suite: CUDA selection and hypothesis profiles.

* Tests marked ``cuda`` need a CUDA GPU. Where there is none they are deselected (not
  skipped), so a CPU run reports no skips; ``pytest -m cuda`` runs just them on a GPU.
* Property and fuzz tests run derandomized by default, so a CI run is reproducible; set
  ``STEPSIZE_HYPOTHESIS=long`` for a longer, randomized search.
* The optimizers' compiled low-precision kernels are off (``STEPSIZE_COMPILE=0``, inherited by
  the distributed workers): most tests exercise the eager paths without paying a compile each;
  the tests of the compiled path turn them on (``tests/torch/test_compiled_paths.py``).
"""

from __future__ import annotations

import os

import hypothesis
import pytest

hypothesis.settings.register_profile("default", derandomize=True, deadline=None)
hypothesis.settings.register_profile(
    "long", derandomize=False, deadline=None, max_examples=20_000, print_blob=True
)
hypothesis.settings.load_profile(os.environ.get("STEPSIZE_HYPOTHESIS", "default"))
os.environ["STEPSIZE_COMPILE"] = "0"


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    marked = [item for item in items if item.get_closest_marker("cuda") is not None]
    if not marked or _cuda_available():
        return
    config.hook.pytest_deselected(items=marked)
    items[:] = [item for item in items if item.get_closest_marker("cuda") is None]
