"""What every sub-command's ``--help`` shares: the formatter, ``-v``, examples, exit codes.

The exit codes of an epilog are rendered from :mod:`runtime.contract.exit_codes`
(never written by hand), the examples use ``%(prog)s`` so they name what the user
typed: ``spawn-pod.sh`` through the script (which sets ``SPECKIT_PODS_PROG``),
``speckit-pods spawn`` otherwise.
"""

from __future__ import annotations

import argparse
import shutil
import textwrap
from collections.abc import Iterable
from typing import Any

from runtime.contract.exit_codes import ExitCode, summary


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keep the description's and epilog's line breaks (examples, lists)."""


class ScriptHelpFormatter(HelpFormatter):
    """The help of a ``scripts/*.sh`` script: ``Usage:`` as the scripts write it."""

    def add_usage(
        self,
        usage: str | None,
        actions: Iterable[argparse.Action],
        groups: Iterable[Any],
        prefix: str | None = None,
    ) -> None:
        """Add the usage with the prefix ``Usage:`` unless one is given."""
        super().add_usage(usage, actions, groups, "Usage: " if prefix is None else prefix)


def add_verbose(parser: argparse.ArgumentParser) -> None:
    """``-v/--verbose`` after the sub-command too; unset unless given (the root's wins)."""
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="debug logging on stderr",
    )


def width() -> int:
    """The width argparse wraps the options' help to (the terminal's, less 2)."""
    return max(shutil.get_terminal_size().columns - 2, 40)


def _fill(words: Iterable[str]) -> str:
    lines: list[str] = []
    for word in words:
        if lines and len(lines[-1]) + 1 + len(word) <= width():
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "\n".join(lines)


def paragraph(text: str) -> str:
    """One paragraph of prose, wrapped like the options' help."""
    return _fill(text.split())


def exit_codes(codes: Iterable[ExitCode], note: str = "") -> str:
    """``exit codes: 0 succeeded, 2 usage, ...`` from the enum, then NOTE, wrapped.

    A code and its name stay on one line.
    """
    items = summary(codes).split(", ")
    words = ["exit", "codes:", *[f"{item}," for item in items[:-1]], f"{items[-1]}."]
    return _fill(words + note.split())


def epilog(codes: Iterable[ExitCode], *, examples: str = "", note: str = "") -> str:
    """The examples (indented as written, ``%(prog)s`` for the command), then the codes."""
    parts = []
    if examples:
        body = textwrap.indent(textwrap.dedent(examples).strip("\n"), "  ")
        parts.append(f"examples:\n{body}")
    parts.append(exit_codes(codes, note))
    return "\n\n".join(parts)
