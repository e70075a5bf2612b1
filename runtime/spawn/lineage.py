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
import os
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from runtime.spawn import start
from runtime.spawn.start import RemoteError, first_fatal

FETCH_TIMEOUT_S = 300
TRAILER = "Started-from"
Runner = Callable[..., "subprocess.CompletedProcess[str]"]


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
    git = _Git(clone, run or start.RUN)
    wanted = {**branches, "": integration}
    heads = git.ls_remote(repo_url, list(wanted.values()))
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
        started = git.started_from(tip)
        # rerun (moved on) or rewritten: its branch lacks the prerequisite's work now
        moved = tuple(
            prereq
            for prereq, _commit in started
            if tips.get(prereq) and not git.is_ancestor(tips[prereq], tip)
        )
        integrated = bool(integrated_tip) and git.is_ancestor(tip, integrated_tip)
        found[task] = Lineage(task, tip, started, moved, integrated)
    return found


@dataclasses.dataclass(frozen=True)
class _Git:
    clone: Path
    run: Runner

    def _call(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
        return self.run(
            ["git", "-C", str(self.clone), *args],
            capture_output=True, text=True, timeout=timeout, env=env, check=False,
        )  # fmt: skip

    def _remote(self, *args: str, timeout: float) -> str:
        hint = "check your git credentials for the repository (git fetch must work)"
        try:
            done = self._call(*args, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise RemoteError(f"cannot read the feature's branches: {err}", hint=hint) from err
        if done.returncode != 0:
            raise RemoteError(
                f"cannot read the feature's branches: {first_fatal(done.stderr)}", hint=hint
            )
        return done.stdout

    def ls_remote(self, url: str, branches: Sequence[str]) -> dict[str, str]:
        out = self._remote(
            "ls-remote", "--", url, *(f"refs/heads/{b}" for b in branches), timeout=60
        )
        found: dict[str, str] = {}
        for line in out.splitlines():
            commit, _, ref = line.partition("\t")
            if ref.startswith("refs/heads/"):
                found[ref.removeprefix("refs/heads/")] = commit.strip()
        return found

    def fetch(self, url: str, refspecs: Sequence[str]) -> None:
        self._remote("fetch", "--quiet", "--no-tags", "--", url, *refspecs, timeout=FETCH_TIMEOUT_S)

    def started_from(self, commit: str) -> tuple[tuple[str, str], ...]:
        """The ``Started-from`` trailers of ``commit`` (a task's own commit)."""
        fmt = f"--format=%(trailers:key={TRAILER},valueonly,separator=%x0a)"
        done = self._call("log", "-1", fmt, commit)
        pairs = []
        for line in done.stdout.splitlines():
            task, _, sha = line.strip().partition(" ")
            if task and sha:
                pairs.append((task, sha.strip()))
        return tuple(pairs)

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        return self._call("merge-base", "--is-ancestor", ancestor, descendant).returncode == 0
