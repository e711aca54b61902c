"""One plot per registered schedule, drawn at build time by the ``stepsize plot`` command.

Every name of ``stepsize.schedules.names()`` gets a plot, from the parameters it takes: the
step counts below, a value for each other parameter it requires (``REQUIRED``, by parameter
name, so a new schedule needs nothing here unless it requires a new parameter), and
``SHOWCASE`` settings where the defaults hide the schedule's shape.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import posixpath
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["REQUIRED", "SHOWCASE", "Plot", "gallery", "registered", "render"]

WARMUP_STEPS = 100
TRAINING_STEPS = 1000

# A value for each required parameter other than the step counts, by parameter name.
REQUIRED: dict[str, Any] = {
    "min_lr_rate": 0.1,
    "num_decay_steps": 300,
    "schedule": {"name": "cosine", "num_warmup_steps": 0, "num_training_steps": 900},
    "schedules": [
        {"name": "constant"},
        {"name": "linear", "num_warmup_steps": 0, "num_training_steps": 600},
    ],
    "boundaries": [400],
    "value": 0.5,
}

# Settings that show the schedule's shape better than its defaults, by schedule name.
SHOWCASE: dict[str, dict[str, Any]] = {
    "cosine_with_restarts": {"num_cycles": 3},
    "polynomial": {"lr_end": 0.1, "power": 2.0},
}


@dataclass(frozen=True)
class Plot:
    """A schedule's plot: its name, its public class and the ``stepsize`` arguments."""

    name: str
    class_path: str
    argv: tuple[str, ...]

    @property
    def src_uri(self) -> str:
        """Where the PNG lies in the site (beside the reference pages)."""
        return f"reference/plots/{self.name}.png"

    @property
    def command(self) -> str:
        """The shell command that draws the same plot."""
        return shlex.join(["stepsize", *self.argv])


def registered() -> list[Plot]:
    """A plot for every registered schedule, in ``names()`` order.

    Raises:
        ValueError: for a registered schedule without a public class, or a stale
            ``SHOWCASE`` entry.
    """
    from stepsize import schedules

    classes = {}
    for attribute in schedules.__all__:
        obj = getattr(schedules, attribute)
        if isinstance(obj, type) and issubclass(obj, schedules.Schedule) and obj.name:
            classes[obj.name] = (f"stepsize.schedules.{attribute}", obj)
    names = list(schedules.names())
    orphans = sorted(set(names) - set(classes))
    if orphans:
        raise ValueError(f"schedules without a class in stepsize.schedules.__all__: {orphans}")
    stale = sorted(set(SHOWCASE) - set(names))
    if stale:
        raise ValueError(f"SHOWCASE names schedules that do not exist: {stale}")
    return [Plot(name, classes[name][0], _argv(name, classes[name][1])) for name in names]


def _argv(name: str, cls: type) -> tuple[str, ...]:
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    argv = ["plot", name]
    if "num_warmup_steps" in fields:
        argv += ["--warmup-steps", str(WARMUP_STEPS)]
    if "num_training_steps" in fields:
        argv += ["--training-steps", str(TRAINING_STEPS)]
    required = [
        key
        for key, field in fields.items()
        if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
    ]
    settings = {key: REQUIRED[key] for key in required if key in REQUIRED}
    settings.update(SHOWCASE.get(name, {}))
    for key, value in settings.items():
        argv += ["--set", f"{key}={json.dumps(value, separators=(',', ':'))}"]
    return tuple(argv)


def render(plot: Plot, directory: Path) -> bytes:
    """Runs ``stepsize plot`` for ``plot`` into ``directory``; returns the PNG's bytes.

    Raises:
        RuntimeError: when the command fails (with its error message).
    """
    from stepsize.cli import main

    path = directory / f"{plot.name}.png"
    errors = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(errors):
        code = main([*plot.argv, "--output", str(path)])
    if code != 0:
        raise RuntimeError(
            f"`{plot.command}` failed ({code}): {errors.getvalue().strip()} (a new required "
            f"parameter needs a value in REQUIRED, {__file__})"
        )
    return path.read_bytes()


def gallery(plots: list[Plot], page_uri: str) -> str:
    """Markdown for the page at ``page_uri``: per schedule, its name, plot, command and class."""
    parts = []
    for plot in plots:
        image = posixpath.relpath(plot.src_uri, posixpath.dirname(page_uri))
        parts += [
            f"### `{plot.name}` {{#{plot.name}}}",
            "",
            f"![The {plot.name} schedule]({image})",
            "",
            f"Drawn by `{plot.command}`.",
            "",
            f"::: {plot.class_path}",
            "    options:",
            "      heading_level: 4",
            "",
        ]
    return "\n".join(parts)
