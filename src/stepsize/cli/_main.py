"""Entry point of the ``stepsize`` command: one argparse subcommand per module.

Each subcommand module exposes ``add_parser(subparsers)`` (adds and returns its parser)
and ``run(args) -> int``; ``COMMANDS`` lists them, so a new command is one more name.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any, NoReturn

from stepsize.cli._options import UsageError

__all__ = ["COMMANDS", "ArgumentParser", "build_parser", "main"]

# Module names under stepsize.cli (without the leading underscore), in help order.
COMMANDS = ("list", "show", "plot", "demo", "bench")


class ArgumentParser(argparse.ArgumentParser):
    """An ``argparse.ArgumentParser`` that reports usage errors on one line (exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _command_modules() -> list[ModuleType]:
    return [importlib.import_module(f"stepsize.cli._{name}") for name in COMMANDS]


def build_parser() -> ArgumentParser:
    """The ``stepsize`` parser with every subcommand of ``COMMANDS``."""
    parser = ArgumentParser(
        prog="stepsize",
        description=(
            "Learning-rate schedules (list, show, plot), the training demo and the benchmarks."
        ),
    )
    subparsers = parser.add_subparsers(
        dest="command",
        metavar="COMMAND",
        required=True,
        parser_class=ArgumentParser,
    )
    for module in _command_modules():
        module.add_parser(subparsers).set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the ``stepsize`` command with ``argv`` (default: ``sys.argv[1:]``).

    Returns:
        The exit code: 0 on success, 2 for bad arguments, names or parameters (reported on
        one line of stderr, without a traceback).
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, or a usage error already reported
        return _exit_code(exit_.code)
    try:
        return int(args.run(args))
    except UsageError as exc:
        message = " ".join(str(exc).split())
        print(f"stepsize {args.command}: error: {message}", file=sys.stderr)
        return 2


def _exit_code(code: Any) -> int:
    if code is None:
        return 0
    return code if isinstance(code, int) else 1
