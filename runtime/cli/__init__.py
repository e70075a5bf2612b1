"""Command line: ``python -m runtime <command>`` (also installed as ``speckit-pods``).

Each sub-command lives in its own module exposing ``configure(parser)``, which adds
its arguments, description and epilog to the parser :func:`build_parser` made for
it, and sets ``func`` to a callable ``(args) -> int``.  Only the module of the
sub-command being run is imported, so ``tasks`` and the ``--help`` of ``logs`` and
``status`` need no third-party package (the cluster side is imported when run); the
others list themselves from :data:`COMMANDS`.  A package that is not installed is
reported in one line (``ExitCode.MISSING_DEPENDENCY``), not a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import platform
import re
import sys
from collections.abc import Sequence
from typing import NoReturn

from runtime import __version__
from runtime.cli.helptext import HelpFormatter, ScriptHelpFormatter, add_verbose
from runtime.contract.exit_codes import ExitCode
from runtime.errors import SpeckitPodsError

log = logging.getLogger(__name__)
# command -> (module in runtime.cli, one-line help); the pod runs ``python3 -m
# runtime.agent`` and never imports these
COMMANDS: dict[str, tuple[str, str]] = {
    "tasks": ("tasks_cmd", "list, show or check off tasks.md tasks"),
    "spawn": ("spawn_cmd", "start an agent pod for one task"),
    "logs": ("logs_cmd", "follow agent pods: stream logs, report the result, clean up"),
    "status": ("status_cmd", "list agent pods and how they ended"),
    "session": ("session_cmd", "show a finished task's stored opencode session as markdown"),
    "dispatch": ("dispatch_cmd", "run every ready [ASYNC] task as a pod, in dependency order"),
}
# set by scripts/lib/common.sh: the script's name, shown as the sub-command's prog
PROG_ENV = "SPECKIT_PODS_PROG"
# import names whose pip distribution is named otherwise
_DISTRIBUTIONS = {"yaml": "PyYAML"}
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


def invoked_command(argv: Sequence[str]) -> str | None:
    """The sub-command ARGV runs: its first non-option token (the root has only flags)."""
    first = next((arg for arg in argv if not arg.startswith("-")), None)
    return first if first in COMMANDS else None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """Build the top-level parser.

    Args:
        argv: the arguments to be parsed: only the sub-command they name is
            configured (its module imported), the others are listed by name and
            help.  ``None`` configures every sub-command.
    """
    parser = OneLineErrorParser(
        prog="speckit-pods",
        description="Run spec-kit [ASYNC] tasks as OpenCode agents in Kubernetes pods.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = list(COMMANDS) if argv is None else [invoked_command(argv)]
    # the script's name is the prog of the one sub-command it runs
    script = os.environ.get(PROG_ENV, "") if argv is not None else ""
    for name, (module, help_text) in COMMANDS.items():
        if name not in chosen:  # listed in the root's help, never parsed
            sub.add_parser(name, help=help_text, add_help=False)
            continue
        command = sub.add_parser(
            name, help=help_text, formatter_class=ScriptHelpFormatter if script else HelpFormatter
        )
        if script:
            command.prog = script
        add_verbose(command)
        importlib.import_module(f"runtime.cli.{module}").configure(command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return the process exit code."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    try:
        return _run(arguments)
    except ModuleNotFoundError as err:
        if not err.name or err.name.split(".")[0] == "runtime":
            raise  # one of our modules is missing: a bug, keep the traceback
        return _missing_dependency(err.name.split(".")[0])


def _missing_dependency(module: str) -> int:
    package = _DISTRIBUTIONS.get(module, module)
    print(
        f"ERROR: speckit-pods needs the Python package {package!r}, which is not installed",
        file=sys.stderr,
    )
    print("Hint: pip install speckit-pods (or, from this checkout, pip install .)", file=sys.stderr)
    return ExitCode.MISSING_DEPENDENCY


def _run(argv: list[str]) -> int:
    parser = build_parser(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    log.debug(
        "speckit-pods %s, Python %s (%s), code in %s",
        __version__,
        platform.python_version(),
        sys.executable,
        os.path.dirname(os.path.dirname(__file__)),
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
