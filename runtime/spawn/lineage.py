"""Where each task's pushed work stands: what it started from, stale, integrated.

Read from git, not from pods (which are gone after a success): the task branches and
the integration branch of the feature are fetched from the remote into the developer's
own clone, under a private ref namespace (``refs/speckit-pods/<feature>/...``; no
branch of theirs is touched), with their own git credentials.  A task's commit names
the work it started from in ``Started-from: <TID> <commit>`` trailers (written by the
pod's trusted side on the task's commit and on its start merges); it is **stale** when
its branch lacks a prerequisite's current work (the prerequisite was rerun, or its
branch rewritten), and **integrated** when the integration branch holds its branch's
tip.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from runtime.spawn import start
from runtime.spawn.developer_git import DeveloperGit
from runtime.spawn.start import Runner

TRAILER = "Started-from"


@dataclasses.dataclass(frozen=True)
class Lineage:
    """One task's pushed work, as git tells it."""

    task: str
    commit: str  # its branch's tip; "" when it has no branch
    started_from: tuple[tuple[str, str], ...] = ()  # (task, commit) from the trailers
    stale_because: tuple[str, ...] = ()  # the prerequisites whose branch moved since
    integrated: bool = False

    @property
    def stale(self) -> bool:
        """Whether a prerequisite moved after this task started from it."""
        return bool(self.stale_because)


def _ref(feature: str, name: str) -> str:
    return f"refs/speckit-pods/{feature}/{name}"


def read_lineage(
    clone: Path,
    repo_url: str,
    feature: str,
    branches: dict[str, str],
    integration: str,
    run: Runner | None = None,
) -> dict[str, Lineage]:
    """``{task: Lineage}`` for the tasks in ``branches`` (task -> its branch).

    Raises:
        RemoteError: the remote cannot be fetched from (credentials, URL).
    """
    git = DeveloperGit(clone, "the feature's branches", run or start.RUN)
    wanted = {**branches, "": integration}
    listed = git.ls_remote(repo_url, [f"refs/heads/{b}" for b in wanted.values()])
    heads = {ref.removeprefix("refs/heads/"): commit for ref, commit in listed.items()}
    present = {key: branch for key, branch in wanted.items() if branch in heads}
    if present:
        refspecs = [
            f"+refs/heads/{b}:{_ref(feature, k or 'integration')}" for k, b in present.items()
        ]
        git.fetch(repo_url, refspecs)
    tips = {task: heads.get(branch, "") for task, branch in branches.items()}
    integrated_tip = heads.get(integration, "")
    found: dict[str, Lineage] = {}
    for task, tip in tips.items():
        if not tip:
            found[task] = Lineage(task, "")
            continue
        started = _started_from(git, tip)
        # rerun (moved on) or rewritten: its branch lacks the prerequisite's work now
        moved = tuple(
            prereq
            for prereq, _commit in started
            if tips.get(prereq) and not _is_ancestor(git, tips[prereq], tip)
        )
        integrated = bool(integrated_tip) and _is_ancestor(git, tip, integrated_tip)
        found[task] = Lineage(task, tip, started, moved, integrated)
    return found


def _started_from(git: DeveloperGit, commit: str) -> tuple[tuple[str, str], ...]:
    """The ``Started-from`` trailers of ``commit`` (a task's own commit)."""
    fmt = f"--format=%(trailers:key={TRAILER},valueonly,separator=%x0a)"
    pairs = []
    for line in git.call("log", "-1", fmt, commit).stdout.splitlines():
        task, _, sha = line.strip().partition(" ")
        if task and sha:
            pairs.append((task, sha.strip()))
    return tuple(pairs)


def _is_ancestor(git: DeveloperGit, ancestor: str, descendant: str) -> bool:
    return git.call("merge-base", "--is-ancestor", ancestor, descendant).returncode == 0
