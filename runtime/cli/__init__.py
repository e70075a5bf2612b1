"""Command line: ``python -m runtime <command>`` (also installed as ``speckit-pods``).

Each sub-command lives in its own module exposing ``register(subparsers)``, which
adds its parser and sets ``func`` to a callable ``(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import re
import sys
from collections.abc import Sequence
from typing import NoReturn

from runtime import __version__
from runtime.contract.exit_codes import ExitCode
from runtime.errors import SpeckitPodsError

# sub-command modules; the pod runs ``python3 -m runtime.agent`` and never imports these
COMMANDS = ("tasks_cmd", "spawn_cmd", "logs_cmd", "status_cmd", "dispatch_cmd")
# line breaks inside a reported value (a path, an argument) are escaped: one line per report
_BREAKS = {ord(c): repr(c)[1:-1] for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"}


class OneLineErrorParser(argparse.ArgumentParser):
    """Report usage errors as one ``ERROR:`` line (exit 2), as the scripts promise."""

    def error(self, message: str) -> NoReturn:
        """Print ``ERROR: <message>. Use --help.`` to stderr and exit 2."""
        self.exit(
            ExitCode.USAGE, f"ERROR: {_house_message(message).translate(_BREAKS)}. Use --help.\n"
        )


def _house_message(message: str) -> str:
    """Say argparse's two most common complaints the way the scripts document them."""
    unknown = re.fullmatch(r"unrecognized arguments: (\S+).*", message, re.DOTALL)
    if unknown:
        token = unknown.group(1)
        if token.startswith("-"):
            return f"Unknown option '{token.split('=', 1)[0]}'"
        return f"unexpected argument {token!r}"
    missing = re.fullmatch(r"argument (\S+?)(?:/\S+)?: expected one argument", message)
    if missing:
        return f"option '{missing.group(1)}' needs a value"
    return message


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every available sub-command."""
    parser = OneLineErrorParser(
        prog="speckit-pods",
        description="Run spec-kit [ASYNC] tasks as OpenCode agents in Kubernetes pods.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"runtime.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return the process exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.func(args))
    except SpeckitPodsError as err:
        print(f"ERROR: {err.message.translate(_BREAKS)}", file=sys.stderr)
        if err.hint:
            print(f"Hint: {err.hint.translate(_BREAKS)}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return ExitCode.INTERRUPTED
