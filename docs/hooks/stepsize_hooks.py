"""The site's build steps (mkdocs.yml ``hooks:``), run by ``mkdocs build`` and ``serve``.

* Images drawn at build time, never committed: a plot of every schedule (by ``stepsize
  plot``) and the benchmark charts (from ``benchmarks/results/*.json``).
* Directives a page writes on a line of its own, replaced by generated Markdown:

  - ``<!-- stepsize: schedule-gallery -->``: every schedule with its plot and class;
  - ``<!-- stepsize: remaining MODULE -->``: the public names of MODULE no page places;
  - ``<!-- stepsize: cli -->``: the ``--help`` of every command;
  - ``<!-- stepsize: benchmarks -->``: the benchmark tables and charts.

* The reference check: the build fails when a public name is undocumented or on no page.
"""

from __future__ import annotations

import contextlib
import logging
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import benchmark_pages
import cli_page
import public_api
import schedule_plots
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

log = logging.getLogger("mkdocs.hooks.stepsize")

_DIRECTIVE = re.compile(r"^<!-- stepsize: ([\w-]+)(?: ([\w.]+))? -->$", re.MULTILINE)


class _Build:
    """What one build collects: the public names, the plots, the results, the placed names."""

    def __init__(self, root: Path) -> None:
        self.public: dict[str, bool] = {}  # read in on_files, from mkdocstrings' objects
        self.plots = schedule_plots.registered()
        self.results = benchmark_pages.load_all(root / "benchmarks" / "results")
        self.written: set[str] = set()  # names placed by hand, read before any page builds
        self.placed: set[str] = set()  # names placed, once every page is built


_build: _Build | None = None


@contextlib.contextmanager
def _reported(where: str) -> Iterator[None]:
    """Turns the helpers' errors into a build error that names where it happened."""
    try:
        yield
    except (ValueError, RuntimeError) as error:
        raise PluginError(f"{where}: {error}") from error


def _current() -> _Build:
    if _build is None:
        raise PluginError("the stepsize hooks ran out of order")
    return _build


def on_config(config: MkDocsConfig) -> None:
    global _build
    with _reported("docs/hooks"):
        _build = _Build(Path(config.config_file_path).resolve().parent)


def on_files(files: Files, config: MkDocsConfig) -> Files:
    build = _current()
    handler = config.plugins["mkdocstrings"].get_handler("python")
    options = handler.get_options({})
    with _reported("reading the public names"):
        build.public = public_api.load_public_names(lambda path: handler.collect(path, options))
    images = {}
    with _reported("drawing the images"), tempfile.TemporaryDirectory() as directory:
        for plot in build.plots:
            images[plot.src_uri] = schedule_plots.render(plot, Path(directory))
        for result in build.results:
            images[result.chart_uri] = benchmark_pages.chart(result)
            if result.sweep:
                images[result.sweep_uri] = benchmark_pages.sweep_chart(result)
    for uri, content in images.items():
        files.append(File.generated(config, uri, content=content))
    for file in files.documentation_pages():
        build.written |= public_api.placed_names(file.content_string)
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    build = _current()

    def expand(match: re.Match[str]) -> str:
        name, argument = match.groups()
        if name == "schedule-gallery":
            return schedule_plots.gallery(build.plots, page.file.src_uri)
        if name == "remaining" and argument:
            placed = build.written | {plot.class_path for plot in build.plots}
            names = public_api.remaining(argument, build.public, placed)
            return "\n\n".join(f"::: {name}" for name in names)
        if name == "cli":
            from stepsize.cli._main import build_parser

            return cli_page.markdown(build_parser())
        if name == "benchmarks":
            return benchmark_pages.markdown(build.results, page.file.src_uri)
        raise PluginError(f"{page.file.src_uri}: unknown directive {match.group(0)}")

    with _reported(page.file.src_uri):
        markdown = _DIRECTIVE.sub(expand, markdown)
    build.placed |= public_api.placed_names(markdown)
    return markdown


def on_env(env: object, config: MkDocsConfig, files: Files) -> None:
    build = _current()
    problems = public_api.problems(build.public, build.placed)
    if problems:
        raise PluginError("the reference is incomplete:\n  " + "\n  ".join(problems))
    log.info(
        "reference: %d public names documented, %d schedule plots, %d benchmark results",
        len(build.public),
        len(build.plots),
        len(build.results),
    )
