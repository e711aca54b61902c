"""A griffe extension (mkdocs.yml): public functions built at run time are documented too.

Static analysis reads ``get_x = _FUNCTIONS["get_x"]`` as an attribute without a docstring.
For each name a public module exports (its ``__all__``) that static analysis sees as such an
attribute while the imported module holds a function or a class there, this swaps in griffe's
inspection of that object: its signature and docstring as ``help()`` shows them. Only the
modules that define such names are imported (where their framework is installed); everything
else stays static.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import griffe

__all__ = ["RuntimeObjects"]


class RuntimeObjects(griffe.Extension):
    """Replaces undocumented attributes that are functions or classes at run time."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        inspected: dict[str, griffe.Module] = {}  # each module inspected once
        for module in _modules(pkg):
            for name in module.exports or ():
                member = module.members.get(str(name))
                path = member.target_path if member is not None and member.is_alias else None
                target = _lookup(pkg, path) if path else member
                if target is not None and target.is_attribute and target.docstring is None:
                    _inspect_in_place(target, loader, inspected)


def _modules(module: griffe.Module) -> list[griffe.Module]:
    """``module`` and its public submodules (private ones start with ``_``)."""
    found = [module]
    for name, member in module.members.items():
        if not member.is_alias and member.is_module and not name.startswith("_"):
            found += _modules(member)
    return found


def _lookup(pkg: griffe.Module, path: str) -> griffe.Object | None:
    if not path.startswith(pkg.path + "."):
        return None
    try:
        found = pkg[path.removeprefix(pkg.path + ".")]
    except KeyError:
        return None
    return None if found.is_alias else found


def _inspect_in_place(
    attribute: griffe.Object, loader: griffe.GriffeLoader, inspected: dict[str, griffe.Module]
) -> None:
    parent = attribute.parent
    try:
        runtime = getattr(importlib.import_module(parent.path), attribute.name, None)
    except ImportError:  # its framework is not installed: static analysis is all there is
        return
    if not (inspect.isfunction(runtime) or inspect.isclass(runtime)):
        return
    if parent.path not in inspected:
        inspected[parent.path] = griffe.inspect(
            parent.path,
            docstring_parser=loader.docstring_parser,
            docstring_options=loader.docstring_options,
        )
    parent.set_member(attribute.name, inspected[parent.path][attribute.name])
