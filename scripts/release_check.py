"""Release check: build the sdist and the wheel, then smoke-test the wheel in a clean venv.

``make release-check`` runs it; tests/release/test_release_check.py runs it in ``make test``.
It checks the distributions' metadata (version, SPDX license and its file, project URLs,
py.typed), installs the wheel with its ``plot`` extra and PyTorch into a new virtual
environment, and runs there, away from this checkout: ``import stepsize``, ``stepsize list``,
``show``, ``plot``, ``bench --help``, one AdamW step through ``stepsize.torch``, and
``import stepsize.tf`` without TensorFlow (one line naming the extra).

Usage::

    python scripts/release_check.py [--workdir DIR]   # default: a temporary folder
"""

from __future__ import annotations

import argparse
import ast
import os
import shlex
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Exactly the CPU build on local disk: a looser requirement would pull a CUDA build of several GB.
TORCH = "torch==2.13.0"
DOCS_URL = "https://stepsize-dev.github.io/stepsize/"
TF_MISSING = (
    "ModuleNotFoundError: stepsize.tf needs TensorFlow and Keras 3: pip install 'stepsize[tf]'"
)
ADAMW_STEP = """
import torch
from stepsize.torch import AdamW
p = torch.nn.Parameter(torch.ones(1))
optimizer = AdamW([p], lr=1.0)
p.grad = torch.full((1,), 1e-6)
optimizer.step()
print(round(p.item(), 5))
"""


class CheckFailed(Exception):
    """A step of the release check went wrong."""


def version() -> str:
    """``stepsize.__version__``, read from the source (the one place the version is defined)."""
    tree = ast.parse((ROOT / "src" / "stepsize" / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "__version__":
            return ast.literal_eval(node.value)
    raise CheckFailed("src/stepsize/__init__.py defines no __version__")


def run(command: Sequence[str | Path], cwd: Path, *, ok: bool = True) -> str:
    """Runs ``command`` without this checkout on the path; returns stdout + stderr."""
    command = [str(part) for part in command]
    print("$ " + shlex.join(command), flush=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    print(f"  ({time.perf_counter() - start:.1f} s)", flush=True)
    output = result.stdout + result.stderr
    if (result.returncode == 0) != ok:
        raise CheckFailed(f"exit code {result.returncode}:\n{output}")
    return output


def expect(condition: bool, what: str) -> None:
    """Records one passed check, or fails the release check."""
    if not condition:
        raise CheckFailed(what)
    print(f"  ok: {what}", flush=True)


def build(out: Path, expected: str) -> tuple[Path, Path]:
    """Builds the sdist and, from it, the wheel; checks what they hold."""
    run([sys.executable, "-m", "build", "--outdir", out, ROOT], cwd=out)
    sdists, wheels = list(out.glob("*.tar.gz")), list(out.glob("*.whl"))
    expect(len(sdists) == 1 and len(wheels) == 1, f"one sdist and one wheel: {sdists + wheels}")
    sdist, wheel = sdists[0], wheels[0]
    expect(wheel.name == f"stepsize-{expected}-py3-none-any.whl", f"pure wheel {wheel.name}")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(f"stepsize-{expected}.dist-info/METADATA").decode()
    expect("stepsize/py.typed" in names, "the wheel ships stepsize/py.typed")
    expect(f"stepsize-{expected}.dist-info/licenses/LICENSE" in names, "the wheel has LICENSE")
    expect(all(n.startswith("stepsize") for n in names), "the wheel holds only stepsize")
    for line in (
        f"Version: {expected}",
        "License-Expression: Apache-2.0",
        "License-File: LICENSE",
        f"Project-URL: Documentation, {DOCS_URL}",
        "Project-URL: Changelog, ",
        "Provides-Extra: torch",
    ):
        expect(f"\n{line}" in metadata, f"METADATA has {line!r}")
    with tarfile.open(sdist) as archive:
        members = {name.partition("/")[2] for name in archive.getnames()}
    for name in ("LICENSE", "README.md", "pyproject.toml", "src/stepsize/py.typed"):
        expect(name in members, f"the sdist has {name}")
    return sdist, wheel


def smoke(wheel: Path, work: Path, expected: str) -> None:
    """Installs ``wheel`` into a new venv and runs stepsize there."""
    venv = work / "venv"
    # A bare venv, filled by this environment's pip (no pip of its own to install).
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=work)
    python, stepsize = venv / "bin" / "python", venv / "bin" / "stepsize"
    pip = [sys.executable, "-m", "pip", "--python", python, "install", "-q"]
    run([*pip, TORCH, f"{wheel}[plot]"], cwd=work)
    found = run(
        [python, "-c", "import stepsize; print(stepsize.__version__, stepsize.__file__)"], work
    )
    installed, path = found.split()
    expect(installed == expected, f"import stepsize: version {installed}")
    expect(Path(path).is_relative_to(venv), f"stepsize imported from the venv ({path})")
    expect("cosine_with_restarts" in run([stepsize, "list"], work), "stepsize list")
    shown = run([stepsize, "show", "linear", "--warmup-steps", "2", "--training-steps", "4",
                 "--format", "csv"], work)  # fmt: skip
    expect("\n2,1.0,1.0\n" in shown, "stepsize show linear (csv)")
    png = work / "lr.png"
    run([stepsize, "plot", "linear", "cosine", "--warmup-steps", "10", "--training-steps", "100",
         "-o", png], work)  # fmt: skip
    expect(png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 10_000, "stepsize plot")
    expect("usage: stepsize bench" in run([stepsize, "bench", "--help"], work), "bench --help")
    stepped = run([python, "-c", ADAMW_STEP], work).strip()
    expect(stepped == "0.96935", f"import stepsize.torch; one AdamW step gives {stepped}")
    missing = run([python, "-c", "import stepsize.tf"], work, ok=False).strip().splitlines()
    expect(missing[-1] == TF_MISSING, f"import stepsize.tf without TensorFlow: {missing[-1]}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, help="keep the build and the venv here")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="stepsize-release-") as scratch:
        work = (args.workdir or Path(scratch)).resolve()
        (work / "dist").mkdir(parents=True, exist_ok=True)
        expected = version()
        try:
            sdist, wheel = build(work / "dist", expected)
            smoke(wheel, work, expected)
        except CheckFailed as failure:
            print(f"release check FAILED: {failure}", file=sys.stderr)
            return 1
    print(
        f"release check passed: {sdist.name} and {wheel.name} built; the wheel works in a "
        f"clean venv ({time.perf_counter() - start:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
