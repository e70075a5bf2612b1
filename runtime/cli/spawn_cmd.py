"""``speckit-pods spawn``: start one agent pod for one tasks.md task.

Accepts the agentic-sdlc fork's form (``--task-id T012 --branch B --repo URL
--context-dir DIR``) and the positional form (``T012 B URL [DIR]``).  stdout gets
only the pod name (or the YAML with ``--dry-run``); status goes to stderr.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runtime.cli.pod_options import add_pod_options, spawn_options
from runtime.errors import UsageError

if TYPE_CHECKING:
    from runtime.spawn.create import SpawnOptions


def _add_inputs(parser: argparse.ArgumentParser) -> None:
    pos = parser.add_argument_group("positional form (same as the flags below)")
    pos.add_argument("pos_task_id", nargs="?", metavar="TASK_ID")
    pos.add_argument("pos_branch", nargs="?", metavar="BRANCH")
    pos.add_argument("pos_repo", nargs="?", metavar="REPO_URL")
    pos.add_argument("pos_context_dir", nargs="?", metavar="CONTEXT_DIR", type=Path)
    what = parser.add_argument_group("what to run")
    what.add_argument("--task-id", help="task ID in tasks.md, e.g. T012")
    what.add_argument("--branch", help="branch to push (default specs/<feature>/<TID>-async)")
    what.add_argument("--context-dir", type=Path, help="feature dir (default: tasks.md's dir)")
    what.add_argument("--tasks", type=Path, help="tasks.md path (default: found like spec-kit)")


def _add_pod(parser: argparse.ArgumentParser) -> None:
    add_pod_options(parser, "the pod")
    spawn_only = parser.add_argument_group("spawn")
    spawn_only.add_argument(
        "--replace", action="store_true", help="delete a running pod of the task"
    )
    spawn_only.add_argument(
        "--dry-run", action="store_true", help="print the manifests, touch nothing"
    )


def register(subparsers: Any) -> None:
    """Add the ``spawn`` sub-command."""
    parser = subparsers.add_parser(
        "spawn",
        help="start an agent pod for one task",
        description="Start an agent pod for one [ASYNC] task; print the pod name.",
        allow_abbrev=False,
    )
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
