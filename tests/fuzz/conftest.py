"""The fuzz suite: every public constructor, loader and command against adversarial input.

It runs derandomized in CI (a few minutes); ``STEPSIZE_HYPOTHESIS=long`` searches longer with
fresh random inputs. The number of inputs tried per area is printed at the end of the run.
"""

from __future__ import annotations

import pytest

from cases.adversarial import TRIED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TRIED:
        terminalreporter.section("fuzz: inputs tried per area")
        for area, count in sorted(TRIED.items()):
            terminalreporter.write_line(f"{area:<32} {count:>8}")
