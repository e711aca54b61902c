"""The release check (scripts/release_check.py): sdist and wheel, smoke-tested in a clean venv."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cases.docs_site import ROOT


def test_the_wheel_works_in_a_clean_venv(capsys: pytest.CaptureFixture) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "release_check.py")],
        capture_output=True,
        text=True,
        timeout=540,  # within pytest's 600 s per test
    )
    assert result.returncode == 0, result.stdout + result.stderr
    checks = [line.strip() for line in result.stdout.splitlines() if line.startswith("  ok: ")]
    assert len(checks) >= 20
    with capsys.disabled():
        print("\n" + result.stdout.strip().splitlines()[-1])
