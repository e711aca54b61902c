"""The generated parts of the site: schedule plots, the CLI reference, the benchmark pages."""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from pathlib import Path

import pytest

from cases.docs_site import load_hook_module
from stepsize import schedules
from stepsize.cli._main import COMMANDS, build_parser

schedule_plots = load_hook_module("schedule_plots")
cli_page = load_hook_module("cli_page")
benchmark_pages = load_hook_module("benchmark_pages")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_every_schedule_has_a_plot_command_that_draws_it(tmp_path: Path) -> None:
    plots = schedule_plots.registered()
    assert [plot.name for plot in plots] == list(schedules.names())
    cosine = next(plot for plot in plots if plot.name == "cosine_with_restarts")
    assert shlex.split(cosine.command) == [
        "stepsize", "plot", "cosine_with_restarts", "--warmup-steps", "100",
        "--training-steps", "1000", "--set", "num_cycles=3",
    ]  # fmt: skip
    image = schedule_plots.render(cosine, tmp_path)
    assert image.startswith(PNG_SIGNATURE) and len(image) > 10_000


def test_a_failing_plot_command_is_an_error(tmp_path: Path) -> None:
    broken = schedule_plots.Plot("linear", "stepsize.schedules.Linear", ("plot", "linear"))
    with pytest.raises(RuntimeError, match="needs --warmup-steps"):
        schedule_plots.render(broken, tmp_path)


def test_the_cli_reference_has_every_command() -> None:
    assert list(cli_page.commands(build_parser())) == list(COMMANDS)
    text = cli_page.markdown(build_parser())
    for name in COMMANDS:
        assert f"## stepsize {name}\n" in text
        assert f"$ stepsize {name} --help\nusage: stepsize {name}" in text
    blocks = re.findall(r"^```text\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)
    assert len(blocks) == len(COMMANDS) + 1
    assert max(len(line) for block in blocks for line in block.splitlines()) <= cli_page.WIDTH


def test_a_command_without_description_fails_the_cli_reference() -> None:
    parser = argparse.ArgumentParser(prog="tool")
    parser.add_subparsers().add_parser("bare")
    with pytest.raises(ValueError, match="`tool bare` has no description"):
        cli_page.markdown(parser)


def _document(**changes: object) -> dict:
    # A fixed document in the format `stepsize bench torch --json` writes; the committed results
    # change with every benchmark run.
    document = json.loads((Path(__file__).parent / "benchmark_result.json").read_text())
    return {**document, **changes}


def test_benchmark_results_become_tables_and_charts(tmp_path: Path) -> None:
    document = _document()
    document["contestants"].append(
        {"name": "torch AdamW (cuda)", "dtype": "float32", "skipped": "CUDA is not available"}
    )
    path = tmp_path / "torch.json"
    path.write_text(json.dumps(document))
    result = benchmark_pages.load(path)
    text = benchmark_pages.markdown([result], "benchmarks.md")
    assert "Sample data" not in text
    assert "| optimizer | median ms | min ms | ÷ torch AdamW (fused) | state bytes/param |" in text
    assert "| stepsize AdamW (fused) | 39.7 | – | 1.01 | 8.00 |" in text
    assert "| torch AdamW (cuda) | skipped: CUDA is not available |" in text
    assert (
        "![PyTorch: step time relative to torch AdamW (fused)](charts/benchmark-torch.png)" in text
    )
    assert "| median ms per step | 1.0M | 3.0M | 10.0M | 30.0M | 102.0M |" in text
    for image in (benchmark_pages.chart(result), benchmark_pages.sweep_chart(result)):
        assert image.startswith(PNG_SIGNATURE)


def test_results_in_other_dtypes_get_their_own_title_after_float32(tmp_path: Path) -> None:
    bfloat16 = _document()
    bfloat16["workload"] = {**bfloat16["workload"], "dtype": "bfloat16"}
    for name, document in (("torch-bfloat16", bfloat16), ("torch", _document())):
        (tmp_path / f"{name}.json").write_text(json.dumps(document))
    (tmp_path / "tf.json").write_text(json.dumps(_document(benchmark="tf")))
    titles = [result.title for result in benchmark_pages.load_all(tmp_path)]
    assert titles == ["PyTorch", "PyTorch, bfloat16 parameters", "TensorFlow / Keras 3"]


def test_a_result_without_a_field_names_it(tmp_path: Path) -> None:
    document = _document()
    del document["workload"]
    path = tmp_path / "torch.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match=r"torch\.json: no field 'workload'"):
        benchmark_pages.load(path)


def test_sample_results_say_so(tmp_path: Path) -> None:
    path = tmp_path / "torch.json"
    path.write_text(json.dumps(_document(sample="Typed in by hand.")))
    text = benchmark_pages.markdown([benchmark_pages.load(path)], "benchmarks.md")
    assert '!!! warning "Sample data"\n\n    Typed in by hand.' in text


def test_functions_built_at_run_time_are_inspected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import griffe  # installed with mkdocstrings (requirements-docs.txt)

    griffe_runtime = load_hook_module("griffe_runtime")
    package = tmp_path / "built_at_run_time"
    (package / "_table").mkdir(parents=True)
    (package / "_table" / "__init__.py").write_text(
        "def _make(name):\n"
        "    def function(x: int, scale: float = 2.0) -> float:\n"
        "        return x * scale\n"
        "    function.__name__ = name\n"
        "    function.__doc__ = 'Scales x.\\n\\nArgs:\\n    x: the value.'\n"
        "    return function\n"
        "\n"
        "TABLE = {'a': 1}\n"
        "scaled = _make('scaled')\n"
    )
    (package / "__init__.py").write_text(
        "from built_at_run_time._table import TABLE, scaled\n\n__all__ = ['TABLE', 'scaled']\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    extensions = griffe.load_extensions(griffe_runtime.RuntimeObjects)
    try:
        loaded = griffe.load(package.name, search_paths=[str(tmp_path)], extensions=extensions)
    finally:
        for name in [m for m in sys.modules if m.startswith(package.name)]:
            del sys.modules[name]
    scaled = loaded["scaled"].final_target
    assert scaled.is_function
    assert scaled.docstring.value.startswith("Scales x.")
    assert [p.name for p in scaled.parameters] == ["x", "scale"]
    assert loaded["TABLE"].final_target.is_attribute  # data stays as static analysis saw it
