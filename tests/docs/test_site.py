"""The built site: every public name, schedule, command and benchmark result is on it."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

from cases.docs_site import ROOT
from stepsize import schedules
from stepsize.cli._main import COMMANDS

MODULES = ("stepsize.torch", "stepsize.tf", "stepsize.schedules")


def _html(site: Path, page: str) -> str:
    return (site / page / "index.html").read_text(encoding="utf-8")


def test_every_public_name_has_its_entry_in_the_reference(site: Path) -> None:
    reference = "".join(p.read_text(encoding="utf-8") for p in (site / "reference").rglob("*.html"))
    ids = set(re.findall(r'id="([^"]+)"', reference))
    public = {f"{m}.{name}" for m in MODULES for name in importlib.import_module(m).__all__}
    assert public - ids == set()


def test_every_schedule_is_plotted_on_the_schedules_page(site: Path) -> None:
    page = _html(site, "reference/schedules")
    for name in schedules.names():
        assert f'id="{name}"' in page
        assert f'src="../plots/{name}.png"' in page
        assert (site / "reference" / "plots" / f"{name}.png").stat().st_size > 10_000
        assert f"Drawn by <code>stepsize plot {name}" in page


def test_every_command_has_its_section(site: Path) -> None:
    page = _html(site, "reference/cli")
    for name in COMMANDS:
        assert f'id="stepsize-{name}"' in page


def test_benchmarks_page_shows_every_result(site: Path) -> None:
    page = _html(site, "benchmarks")
    for path in sorted((ROOT / "benchmarks" / "results").glob("*.json")):
        document = json.loads(path.read_text())
        for row in document["contestants"]:
            assert f"<td>{row['name']}</td>" in page
        assert f'src="../charts/benchmark-{path.stem}.png"' in page
        if document.get("sample"):
            assert "Sample data" in page


def test_changelog_page_is_the_changelog(site: Path) -> None:
    assert '<h2 id="unreleased">Unreleased' in _html(site, "changelog")
