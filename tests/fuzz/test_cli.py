"""Fuzz the ``stepsize`` command: ``list``, ``show`` and ``plot`` with adversarial argv.

Options get numbers of every kind as text (huge, NaN, negative, 400 digits, not numbers),
``--set`` gets every parameter name with adversarial JSON (NaN, Infinity, deep nesting,
nested schedule configs) and ``plot`` gets output paths that cannot be written. The promise:
exit status 0 or 2; on 2, exactly one line on stderr and no traceback; on 0, at most a one-line
note on stderr, and JSON output that is valid JSON (no ``NaN`` or ``Infinity``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import itertools
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from cases.adversarial import TRIED, numbers
from stepsize import schedules
from stepsize.cli import main
from stepsize.schedules import MAX_DEPTH
from stepsize.schedules._base import schedule_class

pytest.importorskip("matplotlib")

PARAMETERS = sorted(
    {f.name for name in schedules.names() for f in dataclasses.fields(schedule_class(name))}
    | {"min_lr", "name", "", "foo"}
)
NAMES = st.sampled_from(schedules.names()) | st.sampled_from(
    ["", "cosin", "warmup", "x" * 1000, "a\nb", "--lr", "-", "Linear"]
)


def examples(count: int) -> int:
    """``count`` examples in the default profile, scaled up with the long one."""
    return max(1, count * hypothesis.settings().max_examples // 100)


def settings(count: int) -> hypothesis.settings:
    return hypothesis.settings(
        max_examples=examples(count), suppress_health_check=[HealthCheck.too_slow]
    )


def _deep(levels: int) -> str:
    return (
        '{"name": "scale", "value": 1, "schedule": ' * levels
        + '{"name": "constant"}'
        + ("}" * levels)
    )


NUMBER_TEXT = st.one_of(
    st.integers(0, 50).map(str),
    numbers().map(str),
    numbers().map(lambda n: json.dumps(n)),
    st.sampled_from(["9" * 400, "-" + "9" * 400, "9" * 5000, "1e400", "nan", "-inf", "0x10",
                     "1_000", " 7 ", "", "many", "2.5", "-1", "0", str(2**63), str(2**63 + 1)]),
    st.integers(0, 2**64).map(str),
)  # fmt: skip
SET_VALUE = st.one_of(
    NUMBER_TEXT,
    st.sampled_from(
        [
            "NaN",
            "Infinity",
            "-Infinity",
            "null",
            "true",
            "[]",
            "{}",
            '"2"',
            "[" * 100_000 + "]" * 100_000,
            '{"a":' * 50_000 + "1" + "}" * 50_000,
            _deep(MAX_DEPTH),
            _deep(MAX_DEPTH + 5),
            _deep(3000),
            '{"name": "linear"}',
            '{"name": "constant", "1": 2}',
            "[1, 2]",
            '[{"name": "constant"}]',
            "linear",
            "cosine",
            "1-sqrt",
        ]
    ),
    st.text(max_size=20),
)
OPTIONS = st.one_of(
    st.tuples(
        st.sampled_from(
            ["--warmup-steps", "--training-steps", "--steps", "--lr", "--points", "--every"]
        ),
        NUMBER_TEXT,
    ),
    st.tuples(st.just("--set"), st.tuples(st.sampled_from(PARAMETERS), SET_VALUE).map("=".join)),
    st.tuples(st.just("--format"), st.sampled_from(["table", "csv", "json", "xml"])),
    st.tuples(st.just("--set"), st.sampled_from(["novalue", "=3", "k=v=w"])),
)
_LINEAR = '{"name": "linear", "num_warmup_steps": 0, "num_training_steps": 5}'
_STEPS = ["--warmup-steps", "2", "--training-steps", "10"]
# A valid call of each schedule, which the adversarial options then change.
VALID_OPTIONS = {name: _STEPS for name in schedules.names()} | {
    "cosine_with_min_lr": [*_STEPS, "--set", "min_lr_rate=0.1"],
    "cosine_warmup_with_min_lr": [*_STEPS, "--set", "min_lr=0.1"],
    "warmup_stable_decay": [*_STEPS, "--set", "num_decay_steps=3"],
    "with_warmup": [*_STEPS, "--set", f"schedule={_LINEAR}"],
    "scale": ["--set", f"schedule={_LINEAR}", "--set", "value=2"],
    "join": ["--set", f"schedules=[{_LINEAR}, {_LINEAR}]", "--set", "boundaries=[3]"],
}


@st.composite
def _argv(draw: Any, command: str) -> list[str]:
    if command == "list":
        return ["list", *draw(st.lists(st.sampled_from(["extra", "--help", "-x"]), max_size=1))]
    count = 1 if command == "show" else draw(st.integers(1, 3))
    names = draw(st.lists(NAMES, min_size=count, max_size=count))
    valid = VALID_OPTIONS.get(names[0], []) if draw(st.integers(0, 3)) else []
    options = draw(st.lists(OPTIONS, max_size=3))
    return [command, *names, *valid, *(part for pair in options for part in pair)]


OUTPUTS = ["out.png", "sub/dir/out.png", "folder.png", "file/out.png", "out.pdf", "/proc/x.png",
           "/proc/new/x.png", "nul\0.png", "x" * 300 + ".png"]  # fmt: skip


@contextlib.contextmanager
def _inside(folder: str) -> Iterator[None]:
    previous = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


def _run(argv: list[str]) -> tuple[int, str, str]:
    TRIED["cli"] += 1
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def _keeps_the_promise(argv: list[str], code: int, out: str, err: str) -> None:
    hypothesis.event(f"exit status {code}")
    assert code in (0, 2), (argv, code, err)
    assert "Traceback" not in err
    if code == 2:
        assert err.count("\n") == 1 and err.endswith("\n"), (argv, err)
        assert err.startswith("stepsize"), err
    else:
        assert err.count("\n") <= 1, (argv, err)
        formats = [value for option, value in itertools.pairwise(argv) if option == "--format"]
        if argv[0] == "show" and formats[-1:] == ["json"] and "--help" not in argv:
            json.loads(out, parse_constant=lambda name: pytest.fail(f"{name} in {argv}"))


@settings(300)
@given(argv=st.sampled_from(["list", "show"]).flatmap(_argv))
def test_list_and_show(argv):
    code, out, err = _run(argv)
    _keeps_the_promise(argv, code, out, err)


@settings(25)
@given(argv=_argv("plot"), output=st.sampled_from([None, *OUTPUTS]))
def test_plot(argv, output):
    with tempfile.TemporaryDirectory() as folder, _inside(folder):
        Path("folder.png").mkdir()
        Path("file").write_text("")
        full = argv if output is None else [*argv, "-o", output]
        code, out, err = _run(full)
        _keeps_the_promise(full, code, out, err)
        if code == 0:
            written = Path(out.strip().removeprefix("wrote "))
            assert written.read_bytes().startswith(b"\x89PNG")
        leftovers = [p.name for p in Path(folder).rglob("*.tmp")]
        assert leftovers == []
