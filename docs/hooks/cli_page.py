"""The command-line reference: the ``--help`` of ``stepsize`` and of each subcommand.

Written at build time from the parser itself, so it lists every command there is; a command
without a description fails the build.
"""

from __future__ import annotations

import argparse
import os

__all__ = ["commands", "markdown"]

# Help text is wrapped to this many columns, whatever the terminal that builds the site.
WIDTH = 88


def commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subcommands of ``parser``: name -> parser, in help order."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise ValueError(f"{parser.prog} has no subcommands")


def _help(parser: argparse.ArgumentParser) -> str:
    # argparse reads the width from $COLUMNS when it formats.
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(WIDTH + 2)
    try:
        return parser.format_help().rstrip()
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved


def markdown(parser: argparse.ArgumentParser) -> str:
    """The reference of ``parser``: its help, then one section per command.

    Raises:
        ValueError: for a command without a description.
    """
    parts = ["```text", f"$ {parser.prog} --help", _help(parser), "```", ""]
    for name, command in commands(parser).items():
        description = (command.description or "").strip()
        if not description:
            raise ValueError(f"`{parser.prog} {name}` has no description")
        parts += [
            f"## {command.prog}",
            "",
            description,
            "",
            "```text",
            f"$ {command.prog} --help",
            _help(command),
            "```",
            "",
        ]
    return "\n".join(parts)
