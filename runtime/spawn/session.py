"""A finished run's stored session, read back from git with the developer's own git.

The pod's trusted side pushes each run's session to
``refs/speckit-pods/session/<feature>/<TID>`` (``runtime.contract.session``).  This
side fetches that one ref from the remote into the developer's clone under the same
name (no branch of theirs is touched), with their own credentials, the way
``runtime.spawn.lineage`` reads the task branches, and reads its files with
``git cat-file`` -- nothing is checked out.  ``log.txt`` and ``session.json`` are the
agent's words (relayed or exported): the caller prints them through
``runtime.contract.redact.printable``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from runtime.contract.outcome import RESULT_PREFIX, Result
from runtime.contract.session import LOG_FILE, RESULT_FILE, SESSION_FILE, session_ref
from runtime.spawn import start
from runtime.spawn.developer_git import DeveloperGit
from runtime.spawn.start import Runner


@dataclasses.dataclass(frozen=True)
class StoredSession:
    """The newest stored run of one task."""

    task: str
    ref: str
    commit: str  # the session commit
    date: str  # its committer date (ISO 8601)
    runs: int  # session commits on the ref: one per run
    log: str  # log.txt, the result line last
    result: Result | None  # result.json
    session: dict[str, Any] | None  # session.json (opencode's export), if the run left one


def read_session(
    clone: Path, repo_url: str, feature: str, task: str, run: Runner | None = None
) -> StoredSession | None:
    """Fetch and read the task's session ref; ``None`` when the remote has none.

    Raises:
        RemoteError: the remote cannot be read (credentials, URL).
    """
    ref = session_ref(feature, task)
    git = DeveloperGit(clone, "the stored session", run or start.RUN)
    commit = _fetched(git, repo_url, ref)
    if commit is None:
        return None
    date, count = git.out("log", "-1", "--format=%cI", commit), git.out("rev-list", "--count", ref)
    return StoredSession(
        task=task,
        ref=ref,
        commit=commit,
        date=date.strip(),
        runs=int(count.strip() or 0),
        log=git.blob(commit, LOG_FILE) or "",
        result=_result(git.blob(commit, RESULT_FILE)),
        session=_object(git.blob(commit, SESSION_FILE)),
    )


def read_log(
    clone: Path, repo_url: str, feature: str, task: str, run: Runner | None = None
) -> str | None:
    """The newest stored run's ``log.txt`` alone (its result line last); ``None``: none kept.

    For the task's pull request (``runtime.dispatch.pull_requests``): one ls-remote and one
    fetch, as :func:`read_session`, without reading the session export.

    Raises:
        RemoteError: the remote cannot be read (credentials, URL).
    """
    git = DeveloperGit(clone, "the stored session", run or start.RUN)
    commit = _fetched(git, repo_url, session_ref(feature, task))
    return None if commit is None else git.blob(commit, LOG_FILE)


def _fetched(git: DeveloperGit, repo_url: str, ref: str) -> str | None:
    """Fetch ``ref`` into the clone under its own name: its commit; ``None``: not on the remote."""
    if not ref or not git.ls_remote(repo_url, [ref]):
        return None
    git.fetch(repo_url, [f"+{ref}:{ref}"])
    return git.out("rev-parse", "--verify", f"{ref}^{{commit}}").strip()


def _result(text: str | None) -> Result | None:
    return Result.from_line(RESULT_PREFIX + text.strip()) if text else None


def _object(text: str | None) -> dict[str, Any] | None:
    try:
        value = json.loads(text) if text else None
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def read_results(
    clone: Path, repo_url: str, feature: str, tasks: list[str], run: Runner | None = None
) -> dict[str, Result]:
    """``{task: result}`` of the tasks whose last run is stored: one ls-remote, one fetch.

    Raises:
        RemoteError: the remote cannot be read (credentials, URL).
    """
    refs = {task: ref for task in tasks if (ref := session_ref(feature, task))}
    if not refs:
        return {}
    git = DeveloperGit(clone, "the stored session", run or start.RUN)
    present = git.ls_remote(repo_url, list(refs.values()))
    found = {task: ref for task, ref in refs.items() if ref in present}
    if not found:
        return {}
    git.fetch(repo_url, [f"+{r}:{r}" for r in found.values()])
    results = {task: _result(git.blob(ref, RESULT_FILE)) for task, ref in found.items()}
    return {task: result for task, result in results.items() if result is not None}
