"""The git side of a run: clone, task branch, context files, commit, push.

A rerun continues the work in progress: when the remote already has
``TASK_BRANCH`` (e.g. a WIP commit pushed after a timeout) the clone starts from
that branch instead of ``BASE_BRANCH``.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from runtime.contract.outcome import Status
from runtime.contract.redact import scrub

CONTEXT_DIR = ".speckit-pods/context"
EXCLUDES = ("/.speckit-pods/", "/.opencode/")
AUTH_PATTERNS = (
    "authentication failed",
    "could not read username",
    "could not read password",
    "terminal prompts disabled",
    "permission denied (publickey",
    "returned error: 401",
    "returned error: 403",
    "access denied",
    "invalid username or password",
    "host key verification failed",
)
NOT_FOUND_PATTERNS = (
    "repository not found",
    "does not appear to be a git repository",
    "returned error: 404",
    "could not find remote branch",
    "couldn't find remote ref",
    "not found in upstream",
    "no such device or address",
)
NOT_FOUND_RE = re.compile(r"repository '.*' not found|remote branch .* not found")


class GitError(Exception):
    """A git step failed; ``status`` says how to report it."""

    def __init__(self, status: Status, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def classify(stderr: str) -> Status:
    """Map git's stderr to the status a failed clone/fetch/push reports."""
    text = stderr.lower()
    if any(p in text for p in AUTH_PATTERNS):
        return Status.GIT_AUTH_FAILED
    if any(p in text for p in NOT_FOUND_PATTERNS) or NOT_FOUND_RE.search(text):
        return Status.REPO_NOT_FOUND
    return Status.FAILED


def last_line(text: str) -> str:
    """The last non-empty line of git's output (the ``fatal:`` line, usually)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def reason_line(text: str) -> str:
    """One line saying why git failed.

    For a refused push that is the ``[remote rejected]`` / ``[rejected]`` line plus the
    server's own message (``remote: ...``), not git's generic last line
    ``error: failed to push some refs``.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    rejected = next((line for line in lines if "rejected]" in line), "")
    if not rejected:
        return last_line(text)
    said = [line[len("remote:") :].strip() for line in lines if line.startswith("remote:")]
    message = next((m for m in said if m), "")
    return f"{rejected}: {message}" if message else rejected


@dataclasses.dataclass(frozen=True)
class Git:
    """Runs git with the credential environment; secrets in ``redact`` never leave."""

    env: Mapping[str, str]
    redact: tuple[str, ...] = ()

    def run(
        self,
        args: Sequence[str],
        cwd: Path,
        *,
        timeout: float = 120.0,
        stdin: str | None = None,
        failure: Status | None = None,
    ) -> str:
        """Run ``git args``; return stdout; raise :class:`GitError` on failure."""
        try:
            proc = subprocess.run(
                ["git", *args],
                cwd=cwd,
                env=dict(self.env),
                input=stdin,
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=None if stdin is not None else subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as err:
            raise GitError(Status.FAILED, f"git {args[0]} timed out after {timeout:.0f}s") from err
        if proc.returncode != 0:
            stderr = self.scrub(proc.stderr)
            status = failure or classify(stderr)
            why = reason_line(stderr) or proc.returncode
            raise GitError(status, f"git {args[0]} failed: {why}")
        return proc.stdout

    def scrub(self, text: str) -> str:
        """Replace every secret in ``text`` with ``***``."""
        return scrub(text, self.redact)


@dataclasses.dataclass(frozen=True)
class Checkout:
    """The clone, on the task branch, and the commit the run starts from."""

    path: Path
    start: str
    resumed: bool


def remote_heads(git: Git, url: str, cwd: Path) -> set[str]:
    """Branch names on the remote (also proves that auth and the URL work)."""
    out = git.run(["ls-remote", "--heads", url], cwd, timeout=120)
    return {line.split("refs/heads/", 1)[1] for line in out.splitlines() if "refs/heads/" in line}


def prepare(git: Git, url: str, base: str, task: str, dest: Path) -> Checkout:
    """Clone shallow, on ``task`` (continued if the remote has it, else new from ``base``)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    heads = remote_heads(git, url, dest.parent)
    if base not in heads:
        raise GitError(Status.REPO_NOT_FOUND, f"base branch {base!r} not found in {url}")
    resumed = task in heads
    start_from = task if resumed else base
    if dest.exists():
        shutil.rmtree(dest)
    clone = ["clone", "--quiet", "--depth", "1", "--single-branch", "--no-tags"]
    git.run([*clone, "--branch", start_from, url, str(dest)], dest.parent, timeout=600)
    if not resumed:
        git.run(["checkout", "--quiet", "-b", task], dest)
    start = git.run(["rev-parse", "HEAD"], dest).strip()
    return Checkout(dest, start, resumed)


def place_context(source: Path, clone: Path) -> int:
    """Copy the task's context files into the clone (git-excluded); return how many."""
    exclude = clone / ".git" / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    with exclude.open("a", encoding="utf-8") as handle:
        handle.write("\n# speckit-pods\n" + "\n".join(EXCLUDES) + "\n")
    if not source.is_dir():
        return 0
    target = clone / CONTEXT_DIR
    # ConfigMap volumes hold "..data" symlink trees; copy the resolved files only.
    shutil.copytree(source, target, ignore=_hidden_configmap_entries, dirs_exist_ok=True)
    return sum(1 for path in target.rglob("*") if path.is_file())


def _hidden_configmap_entries(directory: str, names: list[str]) -> list[str]:
    return [name for name in names if name.startswith("..")]


def commit_message(task_id: str, title: str, requested_by: str, wip: str = "") -> str:
    """``T012: title`` (``WIP T012: title`` plus why when ``wip``) with trailers."""
    subject = f"{'WIP ' if wip else ''}{task_id}: {title}".strip()
    body = [f"Stopped early: {wip}"] if wip else []
    trailers = [f"Co-authored-by: {requested_by}"] if requested_by else []
    parts = [subject, "\n".join(body), "\n".join(trailers)]
    return "\n\n".join(part for part in parts if part) + "\n"


def commit_all(git: Git, clone: Path, message: str) -> bool:
    """Stage everything not excluded and commit; False when there was nothing."""
    git.run(["add", "--all"], clone)
    if not git.run(["diff", "--cached", "--name-only"], clone).strip():
        return False
    git.run(["commit", "--quiet", "--no-verify", "--file", "-"], clone, stdin=message)
    return True


def head(git: Git, clone: Path) -> str:
    """The current commit id."""
    return git.run(["rev-parse", "HEAD"], clone).strip()


def changed_files(git: Git, clone: Path, start: str) -> tuple[str, ...]:
    """Files that differ between ``start`` and HEAD."""
    out = git.run(["diff", "--name-only", start, "HEAD"], clone)
    return tuple(line for line in out.splitlines() if line)


def push(
    git: Git,
    clone: Path,
    branch: str,
    deadline: Callable[[], float],
    *,
    attempts: int = 4,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Push HEAD to ``branch`` with retries and backoff, before ``deadline()`` (monotonic).

    ``deadline`` is asked again before every attempt, so a SIGTERM arriving during
    the push shortens the remaining budget.
    """
    delay = 2.0
    error = GitError(Status.PUSH_REJECTED, f"push to {branch!r} was not attempted")
    for attempt in range(1, attempts + 1):
        left = deadline() - time.monotonic()
        if left < 1:
            break
        try:
            refspec = f"HEAD:refs/heads/{branch}"
            git.run(["push", "--quiet", "origin", refspec], clone, timeout=min(60, left))
            return
        except GitError as err:
            error = err
            if err.status is Status.GIT_AUTH_FAILED:
                break
        if attempt < attempts and deadline() - time.monotonic() > delay + 1:
            sleep(delay)
            delay *= 2
    status = (
        Status.GIT_AUTH_FAILED if error.status is Status.GIT_AUTH_FAILED else Status.PUSH_REJECTED
    )
    raise GitError(status, f"push to branch {branch!r} failed: {error.message}")
