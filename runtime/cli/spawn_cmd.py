"""``speckit-pods spawn``: start one agent pod for one tasks.md task.

Accepts the agentic-sdlc fork's form (``--task-id T012 --branch B --repo URL
--context-dir DIR``) and the positional form (``T012 B URL [DIR]``).  stdout gets
only the pod name (or the YAML with ``--dry-run``); status goes to stderr.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runtime.cli.helptext import epilog, paragraph
from runtime.cli.pod_options import add_pod_options, spawn_options
from runtime.contract.exit_codes import ExitCode
from runtime.errors import UsageError

if TYPE_CHECKING:
    from runtime.spawn.create import SpawnOptions


CODES = (
    ExitCode.SUCCEEDED,
    ExitCode.USAGE,
    ExitCode.TASKS_FILE_NOT_FOUND,
    ExitCode.TASKS_MALFORMED,
    ExitCode.DUPLICATE_TASK,
    ExitCode.UNKNOWN_TASK,
    ExitCode.CONTEXT_TOO_LARGE,
    ExitCode.QUOTA_EXCEEDED,
    ExitCode.GIT_AUTH_FAILED,
    ExitCode.REPO_NOT_FOUND,
    ExitCode.NO_KUBECONFIG,
    ExitCode.CLUSTER_UNREACHABLE,
    ExitCode.ALREADY_RUNNING,
    ExitCode.API_REFUSED,
    ExitCode.POD_STUCK,
    ExitCode.INVALID_INPUT,
    ExitCode.MISSING_DEPENDENCY,
    ExitCode.INTERRUPTED,
)
USAGE = """\
%(prog)s --task-id TID [--branch B] [--repo URL] [--context-dir DIR] [OPTIONS]
       %(prog)s TID [BRANCH [REPO_URL [CONTEXT_DIR]]] [OPTIONS]"""
DESCRIPTION = paragraph(
    "Start a pod that clones REPO_URL at --base, runs OpenCode on task TID of the feature's "
    "tasks.md, commits and pushes to BRANCH. A task that depends on done [ASYNC] tasks "
    "starts from their pushed work (their branches' commits, read with git ls-remote, are "
    "merged onto the base in the pod before the agent starts; --start-from-base does not). "
    "Prints the pod name; follow it with tail-logs.sh (speckit-pods logs)."
)
EXAMPLES = """\
# the agentic-sdlc implement flow
%(prog)s --task-id T012 --branch specs/001-photo-albums/T012-async \\
  --repo https://github.com/acme/photos.git --context-dir specs/001-photo-albums

# everything from the current checkout and feature
%(prog)s T012

# look before you leap
%(prog)s T012 --dry-run | less

# start over after editing the task
%(prog)s T012 --replace --timeout 90m --model anthropic/claude-sonnet-4-5
"""


def _add_inputs(parser: argparse.ArgumentParser) -> None:
    pos = parser.add_argument_group("positional form (same as the flags below)")
    pos.add_argument("pos_task_id", nargs="?", metavar="TASK_ID")
    pos.add_argument("pos_branch", nargs="?", metavar="BRANCH")
    pos.add_argument("pos_repo", nargs="?", metavar="REPO_URL")
    pos.add_argument("pos_context_dir", nargs="?", metavar="CONTEXT_DIR", type=Path)
    what = parser.add_argument_group("what to run")
    what.add_argument("--task-id", metavar="TID", help="task ID in tasks.md (e.g. T012)")
    what.add_argument(
        "--branch", metavar="B", help="branch to push (default specs/<feature>/<TID>-async)"
    )
    what.add_argument(
        "--context-dir",
        type=Path,
        metavar="DIR",
        help="feature dir whose spec.md, plan.md, tasks.md, contracts/ ... go to the agent "
        "(default: the dir holding tasks.md)",
    )
    what.add_argument(
        "--tasks", type=Path, metavar="FILE", help="tasks.md to read (default: found like spec-kit)"
    )


def _add_pod(parser: argparse.ArgumentParser) -> None:
    add_pod_options(parser, "the pod")
    spawn_only = parser.add_argument_group("spawn")
    spawn_only.add_argument(
        "--replace", action="store_true", help="delete a pending/running pod of the same task first"
    )
    spawn_only.add_argument(
        "--dry-run", action="store_true", help="print the Pod and ConfigMap YAML; needs no cluster"
    )


def configure(parser: argparse.ArgumentParser) -> None:
    """Make PARSER the ``spawn`` sub-command."""
    parser.usage = USAGE
    parser.description = DESCRIPTION
    parser.epilog = epilog(CODES, examples=EXAMPLES)
    parser.allow_abbrev = False
    _add_inputs(parser)
    _add_pod(parser)
    parser.set_defaults(func=run)


def _pick(flag: Any, positional: Any, name: str) -> Any:
    if flag is not None and positional is not None and flag != positional:
        raise UsageError(f"{name} given twice: {positional!r} and --{name} {flag!r}")
    return flag if flag is not None else positional


def options(args: argparse.Namespace) -> SpawnOptions:
    """Turn parsed arguments into ``SpawnOptions``."""
    task_id = _pick(args.task_id, args.pos_task_id, "task-id")
    if not task_id:
        raise UsageError("a task ID is required (e.g. `spawn T012` or `--task-id T012`)")
    return spawn_options(
        args,
        task_id=task_id,
        tasks_file=args.tasks,
        branch=_pick(args.branch, args.pos_branch, "branch"),
        repo=_pick(args.repo, args.pos_repo, "repo"),
        context_dir=_pick(args.context_dir, args.pos_context_dir, "context-dir"),
        replace=args.replace,
        dry_run=args.dry_run,
    )


def run(args: argparse.Namespace) -> int:
    """Run ``spawn``; see ``runtime.spawn.create.run``."""
    from runtime.spawn import create as spawn

    return spawn.run(options(args))
