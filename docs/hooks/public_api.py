"""The public names the reference must document, and the check that it does.

The public names are those in the ``__all__`` of ``MODULES``. They are read from the objects
mkdocstrings renders (griffe's, static analysis unless mkdocs.yml asks for inspection), so a
name counts as documented exactly when the reference shows a docstring for it. A name is
placed when a reference page renders it with ``::: stepsize.module.Name`` (written by hand or
by a ``<!-- stepsize: ... -->`` directive).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import griffe

__all__ = [
    "MODULES",
    "load_public_names",
    "placed_names",
    "problems",
    "remaining",
    "static_collector",
]

MODULES = ("stepsize.torch", "stepsize.tf", "stepsize.schedules")

_RENDERED = re.compile(r"^::: *([\w.]+)", re.MULTILINE)


def static_collector(src: Path) -> Callable[[str], griffe.Object]:
    """Looks objects up by path in ``stepsize`` as griffe's static analysis of ``src`` sees it."""
    package = griffe.load("stepsize", search_paths=[str(src)], docstring_parser="google")
    return lambda path: package[path.removeprefix("stepsize.")]


def load_public_names(collect: Callable[[str], griffe.Object]) -> dict[str, bool]:
    """Every public name (``"stepsize.torch.AdamW"``) -> whether it has a docstring.

    Args:
        collect: returns the griffe object of a module path (mkdocstrings' handler in a build).
    """
    public = {}
    for module_path in MODULES:
        module = collect(module_path)
        if module.exports is None:
            raise ValueError(f"{module_path} defines no __all__")
        for name in module.exports:
            target = module[str(name)]
            if target.is_alias:
                target = target.final_target
            docstring = target.docstring.value.strip() if target.docstring else ""
            public[f"{module_path}.{name}"] = bool(docstring)
    return public


def placed_names(markdown: str) -> set[str]:
    """The objects a page renders (its ``::: path`` lines)."""
    return set(_RENDERED.findall(markdown))


def remaining(module: str, public: Iterable[str], placed: set[str]) -> list[str]:
    """The public names of ``module`` that no page places, in ``__all__`` order."""
    return [name for name in public if name.rpartition(".")[0] == module and name not in placed]


def problems(public: Mapping[str, bool], placed: set[str]) -> list[str]:
    """Why the reference is incomplete: one line per undocumented, missing or stale name.

    Args:
        public: every public name -> whether it has a docstring.
        placed: the names the reference pages render.
    """
    found = []
    for name, documented in public.items():
        if name not in placed:
            found.append(
                f"{name} is public but on no reference page: add `::: {name}` to the page "
                "of its section in docs/reference/"
            )
        if not documented:
            found.append(f"{name} has no docstring")
    for name in sorted(placed - set(public)):
        if name.rpartition(".")[0] in MODULES:
            found.append(f"{name} is on a reference page but not in its module's __all__")
    return found
