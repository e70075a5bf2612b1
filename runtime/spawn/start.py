"""Pin the work a task starts from: its done [ASYNC] prerequisites' pushed commits.

The prerequisites come from the plan (:func:`runtime.tasks.plan.start_tasks`); each
one's branch is the default task branch (``specs/<feature>/<TID>-async``), and its
commit is read here, at spawn time, with ``git ls-remote`` and the developer's own git
credentials -- the same way ``tail-logs.sh --verify-remote`` checks a push.  The pod gets
the commits pinned (``runtime.contract.start``), so it starts from exactly the work the
developer saw done, even if a prerequisite is rerun meanwhile, and records it.

A done prerequisite without a branch on the remote was done some other way (by hand,
on the base branch), or its branch was merged and deleted: it is skipped with a warning
saying so (a branch deleted unmerged: rerun that task first).  A pending one is skipped with a
warning: the task starts without its work.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Callable, Sequence
from typing import Any

from runtime.contract.exit_codes import ExitCode
from runtime.contract.start import StartPoint
from runtime.errors import SpeckitPodsError
from runtime.tasks.parse import Task, TaskList
from runtime.tasks.plan import start_tasks

log = logging.getLogger(__name__)

LS_REMOTE_TIMEOUT_S = 60
Runner = Callable[..., "subprocess.CompletedProcess[str]"]
Branch = Callable[[str], str]  # task ID -> its task branch
RUN: Runner = subprocess.run  # how ``git ls-remote`` runs when no runner is given
_AUTH_HINTS = ("authentication", "could not read username", "permission denied", "403", "401")


class RemoteError(SpeckitPodsError):
    """The prerequisites' branches could not be read from the remote."""

    exit_code = ExitCode.REPO_NOT_FOUND


def first_fatal(stderr: str) -> str:
    """The first ``fatal:``/``error:`` line of git (the later ones are advice)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return next((line for line in lines if line.startswith(("fatal:", "error:"))), "") or (
        lines[-1] if lines else "no output"
    )


def remote_commits(
    repo_url: str, branches: Sequence[str], run: Runner | None = None
) -> dict[str, str]:
    """``{branch: commit}`` for those of ``branches`` the remote has (one ``ls-remote``)."""
    if not branches:
        return {}
    env: dict[str, Any] = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    command = ["git", "ls-remote", "--", repo_url, *(f"refs/heads/{b}" for b in branches)]
    hint = "check your git credentials for it (git ls-remote must work), or --start-from-base"
    try:
        done = (run or RUN)(
            command, capture_output=True, text=True, timeout=LS_REMOTE_TIMEOUT_S, env=env
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise RemoteError(f"cannot read the prerequisites' branches: {err}", hint=hint) from err
    if done.returncode != 0:
        detail = first_fatal(done.stderr)
        error = RemoteError(f"cannot read the prerequisites' branches: {detail}", hint=hint)
        if any(word in detail.lower() for word in _AUTH_HINTS):
            error.exit_code = ExitCode.GIT_AUTH_FAILED
        raise error
    found: dict[str, str] = {}
    for line in done.stdout.splitlines():
        commit, _, ref = line.partition("\t")
        if ref.startswith("refs/heads/"):
            found[ref.removeprefix("refs/heads/")] = commit.strip()
    return found


def start_points(
    task_list: TaskList,
    task: Task,
    repo_url: str,
    branch_of: Branch,
    *,
    written_only: bool = False,
    run: Runner | None = None,
) -> tuple[StartPoint, ...]:
    """The pinned start points of ``task``; ``()`` when it starts from the base."""
    found = start_tasks(task_list, task.id, written_only=written_only)
    for pending in found.pending:
        log.warning(
            "%s waits for %s, which is not done: starting without its work", task.id, pending.id
        )
    points = pinned(found.done, repo_url, branch_of, run)
    if points:
        shown = ", ".join(p.short for p in points)
        log.info("%s starts from the work of %s", task.id, shown)
    return points


def pinned(
    tasks: Sequence[Task], repo_url: str, branch_of: Branch, run: Runner | None = None
) -> tuple[StartPoint, ...]:
    """The done ``tasks``' branches and their commits now, in order (one ``ls-remote``).

    A task without a branch on the remote is left out with a note.
    """
    branches = {t.id: branch_of(t.id) for t in tasks}
    commits = remote_commits(repo_url, list(branches.values()), run or RUN)
    points: list[StartPoint] = []
    for tid, branch in branches.items():
        commit = commits.get(branch)
        if commit is None:
            log.warning(
                "%s is done but its branch %s is not on the remote: starting without it, "
                "taken to be merged into the base (if it was deleted unmerged, rerun %s first)",
                tid, branch, tid,
            )  # fmt: skip
            continue
        points.append(StartPoint(tid, branch, commit))
    return tuple(points)
