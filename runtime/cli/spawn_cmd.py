"""``speckit-pods spawn``: start one agent pod for one tasks.md task.

Accepts the agentic-sdlc fork's form (``--task-id T012 --branch B --repo URL
--context-dir DIR``) and the positional form (``T012 B URL [DIR]``).  stdout gets
only the pod name (or the YAML with ``--dry-run``); status goes to stderr.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runtime.errors import InvalidInputError, UsageError
from runtime.kube.client import DEFAULT_NAMESPACE
from runtime.spawn import manifests

if TYPE_CHECKING:
    from runtime.spawn.create import SpawnOptions

_DURATION_RE = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text: str) -> int:
    """Parse ``3600``, ``90m``, ``2h``, ``1h30m``, ``45s`` or ``1d`` into seconds."""
    value = text.strip()
    if value.isdigit():
        return int(value)
    match = _DURATION_RE.match(value)
    if not value or not match:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r} (use e.g. 90m, 2h, 3600)")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def _add_inputs(parser: argparse.ArgumentParser) -> None:
    pos = parser.add_argument_group("positional form (same as the flags below)")
    pos.add_argument("pos_task_id", nargs="?", metavar="TASK_ID")
    pos.add_argument("pos_branch", nargs="?", metavar="BRANCH")
    pos.add_argument("pos_repo", nargs="?", metavar="REPO_URL")
    pos.add_argument("pos_context_dir", nargs="?", metavar="CONTEXT_DIR", type=Path)
    what = parser.add_argument_group("what to run")
    what.add_argument("--task-id", help="task ID in tasks.md, e.g. T012")
    what.add_argument("--branch", help="branch to push (default specs/<feature>/<TID>-async)")
    what.add_argument("--repo", help="repository URL without credentials (default: origin)")
    what.add_argument("--context-dir", type=Path, help="feature dir (default: tasks.md's dir)")
    what.add_argument("--tasks", type=Path, help="tasks.md path (default: found like spec-kit)")
    what.add_argument("--base", help="branch to clone (default: current branch, else main)")
    what.add_argument("--model", default="", help="provider/model for opencode run -m")
    what.add_argument("--requested-by", help='"Name <email>" (default: git config user.*)')


def add_pod_options(parser: argparse.ArgumentParser, title: str = "pod") -> None:
    """Add the per-pod options shared by ``spawn`` and ``dispatch``."""
    pod = parser.add_argument_group(title)
    default_ns = os.environ.get("SPECKIT_PODS_NAMESPACE") or DEFAULT_NAMESPACE
    pod.add_argument("--namespace", default=default_ns, help=f"default {default_ns}")
    pod.add_argument("--context", dest="kube_context", help="kubeconfig context")
    pod.add_argument("--image", default=manifests.DEFAULT_IMAGE, help="agent image")
    pod.add_argument("--timeout", type=parse_duration, default="2h", help="run deadline (2h)")
    pod.add_argument("--stall-timeout", type=parse_duration, default="10m", help="no-output limit")
    pod.add_argument("--cleanup", choices=("always", "on-success", "never"), default="on-success")
    pod.add_argument("--keep-for", type=parse_duration, default="24h", help="TTL of kept pods")
    pod.add_argument("--git-secret", default="speckit-pods-git")
    pod.add_argument("--llm-secret", default="speckit-pods-llm")
    pod.add_argument("--cpu", help="CPU limit (default 2)")
    pod.add_argument("--memory", help="memory limit (default 2Gi)")


def _add_pod(parser: argparse.ArgumentParser) -> None:
    add_pod_options(parser)
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


def _check_text(value: str, what: str) -> str:
    if any(ord(c) < 0x20 for c in value):
        raise InvalidInputError(f"{what} contains control characters: {value!r}")
    return value


def options(args: argparse.Namespace) -> SpawnOptions:
    """Turn parsed arguments into ``SpawnOptions``."""
    from runtime.spawn.create import SpawnOptions

    task_id = _pick(args.task_id, args.pos_task_id, "task-id")
    if not task_id:
        raise UsageError("a task ID is required (e.g. `spawn T012` or `--task-id T012`)")
    if args.model and "/" not in args.model:
        raise InvalidInputError(
            f"invalid --model {args.model!r}: expected provider/model",
            hint="e.g. --model anthropic/claude-sonnet-4-5 (see `opencode models`)",
        )
    return SpawnOptions(
        task_id=task_id,
        branch=_pick(args.branch, args.pos_branch, "branch"),
        repo=_pick(args.repo, args.pos_repo, "repo"),
        context_dir=_pick(args.context_dir, args.pos_context_dir, "context-dir"),
        tasks_file=args.tasks,
        base=args.base,
        namespace=args.namespace,
        kube_context=args.kube_context,
        image=_check_text(args.image, "--image"),
        model=args.model,
        timeout_s=args.timeout,
        stall_s=args.stall_timeout,
        cleanup=args.cleanup,
        keep_for_s=args.keep_for,
        git_secret=args.git_secret,
        llm_secret=args.llm_secret,
        requested_by=_check_text(args.requested_by, "--requested-by")
        if args.requested_by
        else None,
        replace=args.replace,
        dry_run=args.dry_run,
        cpu=args.cpu,
        memory=args.memory,
    )


def run(args: argparse.Namespace) -> int:
    """Run ``spawn``; see ``runtime.spawn.create.run``."""
    from runtime.spawn import create as spawn

    return spawn.run(options(args))
