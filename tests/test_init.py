"""``import stepsize``: framework-free and light."""

import re
import subprocess
import sys
from pathlib import Path

import stepsize

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("numpy", "torch", "tensorflow", "keras", "matplotlib", "transformers")


def _python(code: str, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *flags, "-c", code], capture_output=True, text=True, check=True
    )


def test_import_loads_no_framework_and_no_numpy():
    code = (
        "import sys, stepsize\n"
        "from stepsize import schedules\n"
        "s = schedules.get('cosine', num_warmup_steps=2, num_training_steps=10)\n"
        "print(s(5), s.get_config()['name'])\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))\n"
    )
    lines = _python(code).stdout.splitlines()
    assert lines[0].endswith(" cosine")
    assert lines[1] == "[]"


def test_import_time_report_names_only_light_modules():
    # -X importtime lists every module imported; timing itself is measured in benchmarks/.
    report = _python("import stepsize", "-X", "importtime").stderr
    modules = {line.rsplit("|", 1)[-1].strip() for line in report.splitlines() if "|" in line}
    assert "stepsize.schedules" in modules
    assert not {m for m in modules if m.split(".")[0] in HEAVY}


def test_public_names():
    assert sorted(stepsize.__all__) == ["Schedule", "__version__", "schedules"]
    assert stepsize.schedules.Schedule is stepsize.Schedule
    for name in stepsize.__all__:
        assert hasattr(stepsize, name)


def test_version_is_defined_once():
    # pyproject.toml reads the version from stepsize.__version__ (the release check verifies
    # that the wheel carries it).
    text = (ROOT / "pyproject.toml").read_text()
    assert not re.search(r'^version = "', text, re.MULTILINE)
    assert '\ndynamic = ["version"]\n' in text
    assert '\nversion = { attr = "stepsize.__version__" }\n' in text
    assert re.fullmatch(r"\d+\.\d+\.\d+", stepsize.__version__)
