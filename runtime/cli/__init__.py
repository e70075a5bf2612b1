"""Command line: ``python -m runtime <command>`` (also installed as ``speckit-pods``).

Each sub-command lives in its own module exposing ``register(subparsers)``, which
adds its parser and sets ``func`` to a callable ``(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from runtime import __version__
from runtime.errors import SpeckitPodsError

# sub-command modules; the pod runs ``python3 -m runtime.agent`` and never imports these
COMMANDS = ("tasks_cmd", "spawn_cmd", "logs_cmd", "status_cmd", "dispatch_cmd")


class OneLineErrorParser(argparse.ArgumentParser):
    """Report usage errors as one ``ERROR:`` line (exit 2), as the scripts promise."""

    def error(self, message: str) -> NoReturn:
        """Print ``ERROR: <message>. Use --help.`` to stderr and exit 2."""
        self.exit(2, f"ERROR: {message}. Use --help.\n")


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
        try:
            module = importlib.import_module(f"runtime.cli.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"runtime.cli.{name}":
                continue  # command not built yet
            raise
        module.register(sub)
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
        print(f"ERROR: {err.message}", file=sys.stderr)
        if err.hint:
            print(f"Hint: {err.hint}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
