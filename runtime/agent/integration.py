"""The git side of an integration pod: a feature's task branches merged into one.

An integration pod (``INTEGRATE=1``) is an agent pod whose ``TASK_BRANCH`` is the
feature's integration branch and whose start points are the feature's succeeded
tasks, in dependency order.  The trusted ``git`` side merges each into the branch
(:func:`runtime.agent.gitops.integrate`: one merge commit per task, naming it; the
first conflict stops it, keeping the clean merges), hands the result to the ``agent``
container, which runs the feature's test command on it (or nothing), and pushes the
merges -- never anything of the work tree, which the test command may have changed.

The outcome is reported like a task's: ``conflict`` (which task, which files),
``failed`` (the test command failed), or ``succeeded``; the result's
``started_from`` lists the tasks the branch holds after the run (those it held already
and those merged, in merge order; after a conflict, not the task that stopped it nor
the rest), ``start_commit`` is the branch before the run.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

from runtime.agent import gitops
from runtime.agent.config import AgentConfig
from runtime.agent.gitops import Checkout, Git, GitError, Integration, Repo
from runtime.agent.handoff import Verdict
from runtime.contract.outcome import NO_VERDICT, Result, Status
from runtime.contract.start import describe, from_json

STATE_FILE = ".speckit-pods/integration.json"

Emit = Callable[[str], None]
MakeResult = Callable[..., Result]


def clone(cfg: AgentConfig, git: Git, repo: Repo, emit: Emit) -> Checkout:
    """Clone the integration branch (or the base) and merge the tasks in; save what."""
    emit(f"[git] integrating {describe(cfg.start_points)} into {cfg.task_branch}")
    checkout, done = gitops.integrate(
        git, cfg.repo_url, cfg.base_branch, cfg.task_branch, repo, cfg.start_points
    )
    if done.already:
        emit(f"[git] already integrated: {describe(done.already)}")
    emit(f"[git] merged {describe(done.merged) if done.merged else 'nothing new'}")
    if done.conflict:
        emit(f"[git] CONFLICT: {done.conflict}")
    save(cfg.home / STATE_FILE, done)
    return checkout


def save(path: Path, done: Integration) -> None:
    """Keep what was merged across a restart of the git container."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = {
        "before": done.before,
        "merged": [p.to_json() for p in done.merged],
        "already": [p.to_json() for p in done.already],
        "conflict": done.conflict,
        "conflict_files": list(done.conflict_files),
    }
    path.write_text(json.dumps(data), encoding="utf-8")


def load(path: Path) -> Integration | None:
    """What :func:`save` kept, or ``None``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Integration(
            before=str(data["before"]),
            merged=from_json(data["merged"]),
            already=from_json(data["already"]),
            conflict=str(data.get("conflict", "")),
            conflict_files=tuple(str(f) for f in data.get("conflict_files", [])),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def outcome(done: Integration, verdict: Verdict | None) -> tuple[Status, str]:
    """How the integration ended: a conflict first, then the test command's verdict."""
    integrated = describe([*done.already, *done.merged]) if done.already or done.merged else ""
    on_it = f"{integrated} on the branch" if integrated else "nothing integrated"
    if done.conflict:
        return Status.CONFLICT, f"{done.conflict}; {on_it}"
    if verdict is None:
        return Status.FAILED, f"{NO_VERDICT}; {on_it}"
    if not verdict.status.ok:
        return verdict.status, f"{verdict.reason}; {on_it}"
    tested = f"; {verdict.reason}" if verdict.reason else ""
    return Status.SUCCEEDED, f"{on_it}{tested}"


def finish(
    cfg: AgentConfig,
    git: Git,
    checkout: Checkout,
    verdict: Verdict | None,
    result: MakeResult,
    deadline: Callable[[], float],
    emit: Emit,
) -> Result:
    """Push the merges (fast-forward only) and report the outcome."""
    done = load(cfg.home / STATE_FILE)
    if done is None:
        return result(Status.FAILED, "the integration's record is gone (restarted?)")
    on_branch = (*done.already, *done.merged)
    status, reason = outcome(done, verdict)
    commit = done.before
    if checkout.start != done.before:  # merges were made: push them
        commit = checkout.start
        emit(f"[git] pushing {commit[:12]} to {cfg.task_branch}")
        try:
            gitops.push(git, checkout.repo, cfg.repo_url, cfg.task_branch, deadline, head=commit)
        except GitError as err:  # nothing new on the branch
            failed = result(err.status, f"{err.message}; {reason}", commit, (), done.before)
            return dataclasses.replace(failed, started_from=done.already)
    files = gitops.changed_files(git, checkout.repo, done.before, commit) if commit else ()
    return dataclasses.replace(
        result(status, reason, commit, files, done.before), started_from=on_branch
    )
