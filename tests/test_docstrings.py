"""Every example in the docstrings of ``stepsize`` runs and prints what it shows.

Each docstring with an example is one test, run with ``doctest`` in a copy of its module's
namespace, from an empty temporary folder so an example cannot leave files in the working
directory.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import stepsize

# Modules run as programs (``python -m``): importing one runs the command.
PROGRAMS = {"stepsize.cli.__main__"}


def _examples() -> list[doctest.DocTest]:
    names = [stepsize.__name__]
    names += [info.name for info in pkgutil.walk_packages(stepsize.__path__, "stepsize.")]
    finder = doctest.DocTestFinder(exclude_empty=True)
    tests = []
    for name in sorted(set(names) - PROGRAMS):
        module = importlib.import_module(name)
        tests += [test for test in finder.find(module, name) if test.examples]
    return sorted(tests, key=lambda test: test.name)


EXAMPLES = _examples()


def test_examples_are_found_in_every_layer():
    layers = {test.name.split(".")[1] for test in EXAMPLES if test.name.count(".") > 1}
    assert {"bench", "cli", "schedules", "tf", "torch"} <= layers
    assert len(EXAMPLES) > 60


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda test: test.name)
def test_docstring_example(example, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    report: list[str] = []
    result = runner.run(example, out=report.append)
    assert result.failed == 0, "".join(report)
