"""Keep the run's session in git after the pod: one commit on the task's session ref.

The trusted ``git`` side records every line it prints (:class:`Transcript`: its own
``[git]`` lines, the agent's relayed lines, already cleaned and redacted) and, once
the task branch is pushed, pushes one commit to
``refs/speckit-pods/session/<feature>/<TID>`` (:func:`runtime.contract.session.session_ref`,
from the pod's environment only).  Its tree: ``log.txt`` (that transcript, the result
line last, the tail of at most 5 MiB), ``result.json`` and, when the agent side left
one, ``session.json`` (``opencode export``: untrusted data, only size-capped and
checked to parse as a JSON object, never interpreted).

Built with plumbing in the git side's own git dir (``hash-object -w --stdin``,
``mktree``, ``commit-tree``): the blobs are never checked out and nothing in them
runs.  The parent is the ref's tip on the remote (fetched first, one commit), so a
rerun appends and nothing is forced; if the ref moved meanwhile the commit is rebuilt
once on the new tip.  Keeping the session is best effort: any failure is one
``[git] WARNING:`` line and the run's result is unchanged.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from runtime.agent import handoff
from runtime.agent.config import AgentConfig
from runtime.agent.gitops import Git, GitError, Repo
from runtime.contract.outcome import RESULT_PREFIX, Result, Status
from runtime.contract.pod import Handoff
from runtime.contract.redact import MASK, scrub
from runtime.contract.session import (
    LOG_FILE,
    MAX_LOG_BYTES,
    MAX_SESSION_BYTES,
    RESULT_FILE,
    SESSION_FILE,
    session_ref,
)

Emit = Callable[[str], None]
STEP_TIMEOUT_S = 30.0
MIN_TIME_LEFT_S = 3.0
ATTEMPTS = 2  # the ref moved meanwhile: rebuilt once on its new tip
RESULT_ROOM = 64 * 1024  # of MAX_LOG_BYTES, kept for the result line
PARENT_REF = "refs/speckit-pods/session-parent"  # in the pod's own clone only; never pushed


class Transcript:
    """Every line the git side prints, as printed; the tail of :data:`MAX_LOG_BYTES`."""

    def __init__(self, redact: tuple[str, ...] = (), limit: int = MAX_LOG_BYTES) -> None:
        self.redact, self.limit = redact, limit - RESULT_ROOM
        self._lines: collections.deque[bytes] = collections.deque()
        self._size = 0
        self.cut = 0  # lines dropped from the head

    def tee(self, emit: Emit) -> Emit:
        """``emit`` (the printer), recording each line as the printer cleans it."""

        def both(line: str) -> None:
            emit(line)
            self.record(handoff.clean_line(scrub(line, self.redact)))

        return both

    def record(self, line: str) -> None:
        """Keep one printed line, dropping the oldest beyond the limit."""
        data = line.encode("utf-8", "replace") + b"\n"
        self._lines.append(data)
        self._size += len(data)
        while self._size > self.limit and self._lines:
            self._size -= len(self._lines.popleft())
            self.cut += 1

    def text(self, result: Result) -> bytes:
        """``log.txt``: a note if the head was cut, the lines, the result line last."""
        head = b""
        if self.cut:
            head = f"[git] ({self.cut} earlier line(s) cut: log.txt keeps the tail)\n".encode()
        return head + b"".join(self._lines) + result.to_line().encode("utf-8") + b"\n"


def keep(
    cfg: AgentConfig,
    git: Git,
    repo: Repo,
    result: Result,
    transcript: Transcript,
    deadline: float,
    emit: Emit,
) -> str:
    """Push this run's session commit to its session ref; the commit, or ``""``.

    ``deadline`` (monotonic) bounds every step; nothing here changes ``result``.
    """
    ref = session_ref(cfg.feature, cfg.task_id)
    if not ref:
        emit("[git] the session is not kept in git: the pod's environment names no FEATURE")
        return ""
    if deadline - time.monotonic() < MIN_TIME_LEFT_S:
        emit(f"[git] WARNING: no time left to keep the session in {ref}")
        return ""
    store = _Store(git, repo, cfg.repo_url, ref, deadline)
    session = read_session(cfg.handoff_dir, emit, git.redact)
    try:
        tree = store.tree(transcript.text(result), result, session)
        commit = store.push(tree, message(result))
    except (GitError, OSError) as err:
        why = err.message if isinstance(err, GitError) else str(err)
        emit(f"[git] WARNING: the session was not kept in {ref}: {why}")
        return ""
    kept = ", ".join([LOG_FILE, RESULT_FILE, *([SESSION_FILE] if session else [])])
    emit(f"[git] session kept in {ref} ({commit[:12]}: {kept})")
    return commit


def message(result: Result) -> str:
    """The session commit's message: the task, how it ended, its commit."""
    reason = handoff.clean_text(result.reason, 200)
    lines = [f"Session of {result.task}: {result.status.value}", ""]
    lines += [reason, ""] if reason else []
    lines += [f"Task: {result.task}", f"Status: {result.status.value}"]
    lines += [f"Task-commit: {result.commit}"] if result.commit else []
    return "\n".join(lines) + "\n"


def read_session(directory: Path, emit: Emit, redact: tuple[str, ...] = ()) -> bytes | None:
    """The agent's ``session.json`` if it is a regular file, small enough and a JSON object.

    Anything else is left out with a note (which goes into ``log.txt``).
    """
    path = directory / Handoff.SESSION
    try:
        fd = handoff.open_untrusted(path)
    except FileNotFoundError:
        emit("[git] session: the agent left no opencode session export; log.txt only")
        return None
    except handoff.UntrustedFileError as err:
        emit(f"[git] session: not kept: {err}")
        return None
    try:
        data = _read_capped(fd, MAX_SESSION_BYTES)
    finally:
        os.close(fd)
    if len(data) > MAX_SESSION_BYTES:
        emit(f"[git] session: not kept: over {MAX_SESSION_BYTES // (1024 * 1024)} MiB")
        return None
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):
        emit("[git] session: not kept: session.json is not valid JSON")
        return None
    if not isinstance(parsed, dict):
        emit("[git] session: not kept: session.json is not a JSON object")
        return None
    for secret in redact:
        if len(secret) >= 8:
            data = data.replace(secret.encode("utf-8"), MASK.encode())
    return data


def _read_capped(fd: int, limit: int) -> bytes:
    chunks, size = [], 0
    while size <= limit:
        chunk = os.read(fd, min(handoff.READ_CHUNK * 16, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


class _Store:
    """Plumbing in the git side's git dir; the remote by its URL, never a remote name."""

    def __init__(self, git: Git, repo: Repo, url: str, ref: str, deadline: float) -> None:
        self.git, self.repo, self.url, self.ref, self.deadline = git, repo, url, ref, deadline

    def run(self, args: list[str], data: bytes | None = None) -> str:
        """``git args`` on the git dir alone (no work tree): stdout, else :class:`GitError`."""
        left = self.deadline - time.monotonic()
        if left < 1:
            raise GitError(Status.FAILED, "out of time")
        own = {k: v for k, v in self.git.env.items() if k != "GIT_WORK_TREE"}
        git = dataclasses.replace(self.git, env={**own, "GIT_DIR": str(self.repo.git_dir)})
        timeout = min(STEP_TIMEOUT_S, left)
        out = git.run_bytes(args, self.repo.git_dir, data=data or b"", timeout=timeout)
        return out.decode("utf-8", "replace").strip()

    def blob(self, data: bytes) -> str:
        """Write ``data`` as a blob (never a file path: nothing is followed or filtered)."""
        return self.run(["hash-object", "-w", "--no-filters", "--stdin"], data)

    def tree(self, log: bytes, result: Result, session: bytes | None) -> str:
        """The session tree: log.txt, result.json and session.json when there is one."""
        payload = result.to_line()[len(RESULT_PREFIX) :] + "\n"
        entries = {LOG_FILE: log, RESULT_FILE: payload.encode("utf-8")}
        if session is not None:
            entries[SESSION_FILE] = session
        listing = "".join(
            f"100644 blob {self.blob(data)}\t{name}\n" for name, data in sorted(entries.items())
        )
        return self.run(["mktree"], listing.encode())

    def tip(self) -> str:
        """The session ref's commit on the remote, fetched (one commit), or ``""``."""
        listed = self.run(["ls-remote", "--", self.url, self.ref])
        if not listed:
            return ""
        refspec = f"+{self.ref}:{PARENT_REF}"
        self.run(["fetch", "--quiet", "--no-tags", "--depth", "1", "--", self.url, refspec])
        return self.run(["rev-parse", "--verify", f"{PARENT_REF}^{{commit}}"])

    def push(self, tree: str, text: str) -> str:
        """Commit ``tree`` on the remote tip and push it to the ref, fast-forward only."""
        for attempt in range(1, ATTEMPTS + 1):
            parent = self.tip()
            argv = ["commit-tree", tree, *(["-p", parent] if parent else []), "-F", "-"]
            commit = self.run(argv, text.encode("utf-8"))
            try:
                self.run(["push", "--quiet", "--no-verify", "--", self.url, f"{commit}:{self.ref}"])
                return commit
            except GitError as err:
                if attempt == ATTEMPTS or err.status is Status.GIT_AUTH_FAILED:
                    raise
        raise AssertionError("unreachable")
