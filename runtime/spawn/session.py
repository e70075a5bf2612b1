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
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runtime.contract.outcome import RESULT_PREFIX, Result
from runtime.contract.session import LOG_FILE, RESULT_FILE, SESSION_FILE, session_ref
from runtime.spawn import start
from runtime.spawn.start import RemoteError, first_fatal

FETCH_TIMEOUT_S = 300
HINT = "check your git credentials for the repository (git fetch must work)"
Runner = Callable[..., "subprocess.CompletedProcess[str]"]


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
    if not ref:
        return None
    git = _Git(clone, run or start.RUN)
    if not git.remote("ls-remote", "--", repo_url, ref, timeout=60).strip():
        return None
    git.remote("fetch", "--quiet", "--no-tags", "--", repo_url, f"+{ref}:{ref}")
    commit = git.out("rev-parse", "--verify", f"{ref}^{{commit}}").strip()
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


def _result(text: str | None) -> Result | None:
    return Result.from_line(RESULT_PREFIX + text.strip()) if text else None


def _object(text: str | None) -> dict[str, Any] | None:
    try:
        value = json.loads(text) if text else None
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


@dataclasses.dataclass(frozen=True)
class _Git:
    clone: Path
    run: Runner

    def _call(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
        return self.run(
            ["git", "-C", str(self.clone), *args],
            capture_output=True, text=True, errors="replace", timeout=timeout, env=env,
            check=False,
        )  # fmt: skip

    def remote(self, *args: str, timeout: float = FETCH_TIMEOUT_S) -> str:
        try:
            done = self._call(*args, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise RemoteError(f"cannot read the stored session: {err}", hint=HINT) from err
        if done.returncode != 0:
            why = first_fatal(done.stderr)
            raise RemoteError(f"cannot read the stored session: {why}", hint=HINT)
        return done.stdout

    def out(self, *args: str) -> str:
        done = self._call(*args)
        if done.returncode != 0:
            raise RemoteError(f"cannot read the stored session: {first_fatal(done.stderr)}")
        return done.stdout

    def blob(self, commit: str, path: str) -> str | None:
        done = self._call("cat-file", "blob", f"{commit}:{path}", timeout=120)
        return done.stdout if done.returncode == 0 else None


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
    git = _Git(clone, run or start.RUN)
    listed = git.remote("ls-remote", "--", repo_url, *refs.values(), timeout=60)
    present = {line.partition("\t")[2].strip() for line in listed.splitlines()}
    found = {task: ref for task, ref in refs.items() if ref in present}
    if not found:
        return {}
    git.remote(
        "fetch", "--quiet", "--no-tags", "--", repo_url, *(f"+{r}:{r}" for r in found.values())
    )
    results = {task: _result(git.blob(ref, RESULT_FILE)) for task, ref in found.items()}
    return {task: result for task, result in results.items() if result is not None}
