"""A finished task's stored session, for ``logs --task`` (no pod left) and ``session``.

Where to read it: the feature (``--feature``, else the tasks.md found like spec-kit),
the repository (``--repo``, else the clone's ``origin``) and the developer's clone;
then ``runtime.spawn.session`` fetches ``refs/speckit-pods/session/<feature>/<TID>``
with the developer's git.  Everything printed from it is made terminal-safe.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from runtime.contract.outcome import Result, Status
from runtime.contract.redact import redact_url
from runtime.contract.session import session_ref
from runtime.errors import InvalidInputError, PodNotFoundError
from runtime.kube.logs import Printer
from runtime.spawn.session import StoredSession, read_session

NO_SESSION_HINT = (
    "spawn one with scripts/spawn-pod.sh; a pod keeps its session in git when it ends "
    "(a pod of speckit-pods before 0.2 kept none)"
)


def _where(args: argparse.Namespace) -> tuple[Path, str, str]:
    """The developer's clone, the repository URL and the feature."""
    from runtime.spawn import repo
    from runtime.tasks.feature import feature_name, find_tasks_file

    clone, feature = Path.cwd(), args.feature or ""
    tasks = getattr(args, "tasks", None)
    if not feature or not args.repo:
        tasks_file = find_tasks_file(Path(tasks) if tasks else None)
        clone, feature = tasks_file.parent, feature or feature_name(tasks_file)
    url = args.repo or repo.origin_url(clone)
    if not url:
        raise InvalidInputError(
            f"no --repo given and no `origin` remote in {clone}",
            hint="pass --repo https://host/org/repo.git",
        )
    return clone, url, feature  # read with the developer's git, as they gave it


def fetch(args: argparse.Namespace, task: str) -> StoredSession:
    """The task's newest stored run.

    Raises:
        PodNotFoundError: no pod (the caller's concern) and no stored session either.
    """
    clone, url, feature = _where(args)
    stored = read_session(clone, url, feature, task)
    if stored is None:
        ref = session_ref(feature, task) or f"(no valid ref for {feature!r}/{task!r})"
        raise PodNotFoundError(
            f"no agent pod for task {task} and no stored session {ref} in {redact_url(url)}",
            hint=NO_SESSION_HINT,
        )
    return stored


def describe(stored: StoredSession) -> str:
    """``the stored log of a finished run (session commit …, <date>; run N kept)``."""
    return (
        f"a finished run, stored in git: {stored.ref} at {stored.commit[:12]} "
        f"({stored.date}; {stored.runs} run(s) kept)"
    )


def print_log(args: argparse.Namespace, printer: Printer) -> int:
    """``logs --task T012`` without a pod: the stored log, then its RESULT line."""
    from runtime.follow.classify import Outcome
    from runtime.follow.finish import summary_line

    task = args.task
    stored = fetch(args, task)
    printer.note("INFO", task, 0, f"no agent pod: printing the stored log of {describe(stored)}")
    if args.mark_done or args.verify_remote:
        printer.note("INFO", task, 0, "--mark-done and --verify-remote apply to a pod only")
    result = stored.result
    for line in stored.log.splitlines():  # as live: the result line too, then RESULT
        printer.line(task, 0, line)
        result = result or Result.from_line(line)
    if result is None:
        printer.note("WARNING", task, 0, "the stored run has no result")
        return Status.UNKNOWN.exit_code
    outcome = Outcome(result.status, result.reason, result)
    printer.line(task, 0, summary_line(outcome, {}, "-"))
    return result.status.exit_code
