"""The benchmarks page: tables and charts built from the benchmarks' JSON output.

Each ``benchmarks/results/*.json`` is the document ``stepsize bench torch|tf --json FILE``
writes. ``load`` is the one place that reads that format: adapt it when the format changes;
everything else works on ``Result``.
"""

from __future__ import annotations

import io
import json
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Result", "Row", "chart", "load", "load_all", "markdown", "sweep_chart"]

# The benchmarks' titles, in page order; others follow by name.
TITLES = {"torch": "PyTorch", "tf": "TensorFlow / Keras 3"}


@dataclass(frozen=True)
class Row:
    """One contestant: its times (ms), its ratio to each reference, its state size."""

    name: str
    dtype: str
    median_ms: float | None
    min_ms: float | None
    ratios: dict[str, float | None]
    state_bytes_per_param: float | None
    skipped: str | None


@dataclass(frozen=True)
class Result:
    """One benchmark run: where it ran, what it measured and the rows."""

    stem: str
    benchmark: str  # "torch", "tf", ...
    dtype: str  # of the parameters
    environment: str
    workload: str
    references: list[str]
    rows: list[Row]
    sweep: list[dict[str, Any]] = field(default_factory=list)
    sample: str | None = None

    @property
    def title(self) -> str:
        """The section title: the framework, and the dtype unless it is float32."""
        title = TITLES.get(self.benchmark, self.benchmark)
        return title if self.dtype == "float32" else f"{title}, {self.dtype} parameters"

    @property
    def chart_uri(self) -> str:
        """Where the ratio chart lies in the site."""
        return f"charts/benchmark-{self.stem}.png"

    @property
    def sweep_uri(self) -> str:
        """Where the sweep chart lies in the site."""
        return f"charts/benchmark-{self.stem}-sweep.png"


def load(path: Path) -> Result:
    """Reads one benchmark's JSON document.

    Raises:
        ValueError: for a document without a field this reads (naming the file and field).
    """
    try:
        return _read(path.stem, json.loads(path.read_text()))
    except KeyError as missing:
        raise ValueError(f"{path}: no field {missing} (see load() in {__file__})") from None


def _read(stem: str, document: dict[str, Any]) -> Result:
    versions = [f"{k} {v}" for k, v in document.get("versions", {}).items() if v]
    environment = " · ".join(
        [
            document["platform"],
            *versions,
            f"{document['cpus']} CPUs, {document['threads']} threads",
            document["device"],
        ]
    )
    work = document["workload"]
    workload = (
        f"{work['name']} workload: {work['tensors']} tensors, {work['parameters']:,} "
        f"{work['dtype']} parameters; median of {work['steps']} timed steps after "
        f"{work['warmup']} untimed ones ({work['clock']} clock)"
    )
    rows = [
        Row(
            name=row["name"],
            dtype=row.get("dtype", work["dtype"]),
            median_ms=row.get("median_ms"),
            min_ms=row.get("min_ms"),
            ratios=row.get("ratios", {}),
            state_bytes_per_param=row.get("state_bytes_per_param"),
            skipped=row.get("skipped"),
        )
        for row in document["contestants"]
    ]
    return Result(
        stem=stem,
        benchmark=document["benchmark"],
        dtype=work["dtype"],
        environment=environment,
        workload=workload,
        references=list(document["references"]),
        rows=rows,
        sweep=document.get("sweep", []),
        sample=document.get("sample"),
    )


def load_all(directory: Path) -> list[Result]:
    """Every ``*.json`` result in ``directory``: PyTorch first, float32 before other dtypes."""
    results = [load(path) for path in sorted(directory.glob("*.json"))]
    order = list(TITLES)

    def place(result: Result) -> tuple[int, bool]:
        known = result.benchmark in order
        return (order.index(result.benchmark) if known else len(order), result.dtype != "float32")

    return sorted(results, key=place)


def _cell(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _table(result: Result) -> str:
    ratio_heads = [f"÷ {reference}" for reference in result.references]
    head = ["optimizer", "median ms", "min ms", *ratio_heads, "state bytes/param"]
    lines = ["| " + " | ".join(head) + " |", "|---" + "|--:" * (len(head) - 1) + "|"]
    for row in result.rows:
        if row.skipped is not None:
            lines.append(f"| {row.name} | skipped: {row.skipped} |" + " |" * (len(head) - 2))
            continue
        cells = [
            row.name,
            _cell(row.median_ms, 1),
            _cell(row.min_ms, 1),
            *(_cell(row.ratios.get(reference), 2) for reference in result.references),
            _cell(row.state_bytes_per_param, 2),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _sweep_table(result: Result) -> str:
    sizes = [f"{point['parameters'] / 1e6:.1f}M" for point in result.sweep]
    lines = ["| median ms per step | " + " | ".join(sizes) + " |"]
    lines.append("|---" + "|--:" * len(sizes) + "|")
    for name in result.sweep[0]["median_ms"]:
        cells = [_cell(point["median_ms"].get(name), 1) for point in result.sweep]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def chart(result: Result) -> bytes:
    """A PNG: each measured row's time as a multiple of the first reference's."""
    from matplotlib.figure import Figure

    reference = result.references[0]
    rows = [row for row in result.rows if row.ratios.get(reference) is not None]
    figure = Figure(figsize=(8, 0.8 + 0.32 * len(rows)), layout="constrained")
    axes = figure.add_subplot()
    ratios = [row.ratios[reference] for row in rows]
    colors = ["tab:blue" if row.name.startswith("stepsize") else "tab:gray" for row in rows]
    axes.barh(range(len(rows)), ratios, color=colors)
    axes.set_yticks(range(len(rows)), [row.name for row in rows], fontsize=8)
    axes.invert_yaxis()
    axes.axvline(1.0, color="black", linewidth=0.8)
    axes.set_xlabel(f"step time ÷ {reference} (lower is faster)")
    axes.set_title(f"{result.title}: step time relative to {reference}", fontsize=10)
    axes.grid(axis="x", alpha=0.3)
    return _png(figure)


def sweep_chart(result: Result) -> bytes:
    """A PNG: median step time against the parameter count (log-log), one line per row."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 4.5), layout="constrained")
    axes = figure.add_subplot()
    sizes = [point["parameters"] for point in result.sweep]
    for name in result.sweep[0]["median_ms"]:
        times = [point["median_ms"].get(name) for point in result.sweep]
        points = [(s, t) for s, t in zip(sizes, times, strict=True) if t is not None]
        axes.plot(*zip(*points, strict=True), marker="o", label=name)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("parameters")
    axes.set_ylabel("median ms per step")
    axes.set_title(f"{result.title}: step time as the model grows", fontsize=10)
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3, which="both")
    return _png(figure)


def markdown(results: list[Result], page_uri: str) -> str:
    """The page's measured part: per result, a notice for sample data, the table and charts."""
    if not results:
        raise ValueError("no benchmark results to show")
    here = posixpath.dirname(page_uri)
    parts = []
    for result in results:
        parts += [f"## {result.title} {{#{result.stem}}}", ""]
        if result.sample:
            parts += ['!!! warning "Sample data"', "", f"    {result.sample}", ""]
        parts += [
            f"{result.environment}.",
            "",
            f"{result.workload}.",
            "",
            _table(result),
            "",
            f"![{result.title}: step time relative to {result.references[0]}]"
            f"({posixpath.relpath(result.chart_uri, here)})",
            "",
        ]
        if result.sweep:
            parts += [
                f"### {result.title}: scaling {{#{result.stem}-sweep}}",
                "",
                _sweep_table(result),
                "",
                f"![{result.title}: step time as the model grows]"
                f"({posixpath.relpath(result.sweep_uri, here)})",
                "",
            ]
    return "\n".join(parts)
