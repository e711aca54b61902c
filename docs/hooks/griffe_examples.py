"""A griffe extension (mkdocs.yml): ``Example:`` sections render as doctest code.

stepsize's docstrings title their doctests ``Example:``. griffe's Google-style parser knows only
the plural as an examples section and turns the singular into an admonition, whose ``>>>``
lines would render as nested quotes; this renames the section before the docstrings are parsed.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

__all__ = ["ExampleSections"]

_SINGULAR = re.compile(r"^([ \t]*)Example:[ \t]*$", re.MULTILINE)


class ExampleSections(griffe.Extension):
    """Renames every docstring's ``Example:`` section to ``Examples:``."""

    def on_object(self, *, obj: griffe.Object, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _SINGULAR.sub(r"\1Examples:", obj.docstring.value)
