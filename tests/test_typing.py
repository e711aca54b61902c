"""The package marks itself typed (PEP 561), so type checkers read its hints."""

from __future__ import annotations

import importlib.resources


def test_py_typed_marker_is_installed_with_the_package():
    assert importlib.resources.files("stepsize").joinpath("py.typed").is_file()
