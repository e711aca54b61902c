"""The reference check (docs/hooks/public_api.py): what it reads and what it reports."""

from __future__ import annotations

import importlib

import pytest

from cases.docs_site import ROOT, load_hook_module

public_api = load_hook_module("public_api")


def test_public_names_are_the_runtime_all_lists() -> None:
    # Read statically (no framework import) and at run time: the same names.
    runtime = {
        f"{module}.{name}"
        for module in public_api.MODULES
        for name in importlib.import_module(module).__all__
    }
    public = public_api.load_public_names(public_api.static_collector(ROOT / "src"))
    assert set(public) == runtime
    # Names built at run time (the get_* functions made from a table) have no docstring in the
    # source; the docs build documents what Python sees, so they need one at run time.
    for name in (name for name, documented in public.items() if not documented):
        module, _, attribute = name.rpartition(".")
        assert getattr(importlib.import_module(module), attribute).__doc__, name


def test_a_complete_reference_has_no_problems() -> None:
    public = {"stepsize.torch.AdamW": True, "stepsize.tf.WarmUp": True}
    assert public_api.problems(public, set(public)) == []


@pytest.mark.parametrize(
    ("public", "placed", "expected"),
    [
        (
            {"stepsize.torch.AdamW": True},
            set(),
            "stepsize.torch.AdamW is public but on no reference page",
        ),
        (
            {"stepsize.torch.AdamW": False},
            {"stepsize.torch.AdamW"},
            "stepsize.torch.AdamW has no docstring",
        ),
        (
            {},
            {"stepsize.torch._adamw.AdamW", "stepsize.schedules.Private"},
            "stepsize.schedules.Private is on a reference page but not in its module's __all__",
        ),
    ],
)
def test_each_problem_is_reported(public: dict[str, bool], placed: set[str], expected: str) -> None:
    found = public_api.problems(public, placed)
    assert len(found) == 1 and found[0].startswith(expected), found


def test_placed_names_and_remaining() -> None:
    page = "# Title\n\n::: stepsize.schedules.get\n    options:\n      x: 1\n\ntext ::: no\n"
    assert public_api.placed_names(page) == {"stepsize.schedules.get"}
    public = ["stepsize.schedules.get", "stepsize.schedules.names", "stepsize.torch.AdamW"]
    assert public_api.remaining("stepsize.schedules", public, {"stepsize.schedules.get"}) == [
        "stepsize.schedules.names"
    ]
