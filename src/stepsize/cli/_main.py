"""Entry point of the ``stepsize`` command: one argparse subcommand per module.

Each subcommand module exposes ``add_parser(subparsers)`` (adds and returns its parser)
and ``run(args) -> int``; ``COMMANDS`` lists them, so a new command is one more name.

No input makes the command print a traceback. Its exit status:

* 0: done;
* 2: a bad argument, name, parameter or output path, or no stdout at all: one line on
  stderr, ``stepsize COMMAND: error: ...``;
* 1: a failure that is not the input's fault: one line on stderr, ``... internal error: ...``;
* 141 (128 + SIGPIPE, what a shell reports for a Unix tool killed by a closed pipe): stdout was
  closed before the output was written, as in ``stepsize list | head -1``; nothing is printed;
* 130 (128 + SIGINT): interrupted with Ctrl-C; nothing is printed.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any, NoReturn

from stepsize.cli._options import UsageError

__all__ = [
    "COMMANDS",
    "EXIT_BROKEN_PIPE",
    "EXIT_INTERRUPTED",
    "ArgumentParser",
    "build_parser",
    "main",
]

# Module names under stepsize.cli (without the leading underscore), in help order.
COMMANDS = ("list", "show", "plot", "demo", "bench")
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE
EXIT_INTERRUPTED = 130  # 128 + SIGINT


class ArgumentParser(argparse.ArgumentParser):
    """An ``argparse.ArgumentParser`` that reports usage errors on one line (exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {_one_line(message)} (see {self.prog} --help)\n")


def _command_modules() -> list[ModuleType]:
    return [importlib.import_module(f"stepsize.cli._{name}") for name in COMMANDS]


def build_parser() -> ArgumentParser:
    """The ``stepsize`` parser with every subcommand of ``COMMANDS``."""
    parser = ArgumentParser(
        prog="stepsize",
        description=(
            "Learning-rate schedules (list, show, plot), the training demo and the benchmarks."
        ),
        epilog="exit status: 0 done, 2 bad input (one line on stderr), 1 internal error, "
        "141 stdout closed (e.g. piped into head), 130 interrupted",
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
        The exit code: 0 on success, 2 for bad arguments, names, parameters or output paths,
        1 for an internal error (each reported on one line of stderr, without a traceback),
        141 when stdout is closed early (silently), 130 when interrupted.
    """
    if sys.stdout is None:  # started with stdout closed (`stepsize list >&-`)
        print("stepsize: error: standard output is closed", file=sys.stderr)
        return 2
    try:
        code = _run(argv)
        sys.stdout.flush()  # a closed pipe shows here, inside the try, not at exit
        return code
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, or a usage error already reported
        return _exit_code(exit_.code)
    try:
        return int(args.run(args))
    except BrokenPipeError:  # an OSError, but not one to report
        raise
    except (UsageError, OSError) as exc:  # OSError: a file that cannot be read or written
        _report(args.command, f"error: {exc}")
        return 2
    except Exception as exc:  # a bug: still one line, and a status of its own
        _report(args.command, f"internal error: {type(exc).__name__}: {exc} (please report it)")
        return 1


def _one_line(message: str) -> str:
    return " ".join(message.split())


def _report(command: str, message: str) -> None:
    print(f"stepsize {command}: {_one_line(message)}", file=sys.stderr)


def _silence_stdout() -> None:
    """Points stdout at /dev/null, so the flush at exit cannot raise BrokenPipeError again
    (the Python documentation's recipe for SIGPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # a stdout with no file descriptor
        pass


def _exit_code(code: Any) -> int:
    if code is None:
        return 0
    return code if isinstance(code, int) else 1
